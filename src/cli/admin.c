/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhctl's daemon-side commands: "--admin SOCKET stats" reads prhd's
 * counter snapshot from its admin socket and prints it (human, --json,
 * --prometheus); "audit" reads prhd's JSON-lines audit log and answers
 * "who changed the reservation on this LU, and when" (docs/audit.md).
 * JSON is read and written with json-c.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "prhctl.h"

static int64_t get_int(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *get_str(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v) : NULL;
}

static json_object *get_obj(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* The admin socket answers every connection with one JSON object and closes it. */
static int admin_fetch(const char *path, json_object **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        int fd;

        if (strlen(path) >= sizeof sa.sun_path)
                return log_error_errno(-EINVAL, "Socket path too long: %s", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(-errno, "socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return log_error_errno(r, "Cannot connect to the admin socket %s: %m", path);
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 5000) <= 0) {
                        close(fd);
                        return log_error_errno(-ETIMEDOUT, "No answer on %s", path);
                }
                if (cap - len < 4096) {
                        char *nb = realloc(buf, cap + 65536);
                        if (!nb) {
                                close(fd);
                                return log_error_errno(-ENOMEM, "Out of memory");
                        }
                        buf = nb;
                        cap += 65536;
                }
                ssize_t k = read(fd, buf + len, cap - len - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        close(fd);
                        return log_error_errno(r, "Reading %s: %m", path);
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        close(fd);
        if (!buf)
                return log_error_errno(-EBADMSG, "Empty answer from %s", path);
        buf[len] = 0;
        *ret = json_tokener_parse(buf);
        if (!*ret || !json_object_is_type(*ret, json_type_object)) {
                json_object_put(*ret);
                return log_error_errno(-EBADMSG, "Malformed answer from %s", path);
        }
        return 0;
}

static void print_human(json_object *o) {
        json_object *c = get_obj(o, "connections"), *reqs = get_obj(o, "requests"),
                    *lat = get_obj(o, "latency_buckets"), *devs = get_obj(o, "slowest_devices");
        int64_t total = 0;

        printf("Connections: %lld now, %lld total, %lld refused\n", (long long) get_int(c, "now"),
               (long long) get_int(c, "total"), (long long) get_int(c, "refused"));
        printf("Requests: %lld total, %lld denied, %lld in flight\n", (long long) get_int(o, "requests_total"),
               (long long) get_int(o, "denied"), (long long) get_int(o, "in_flight"));
        for (size_t i = 0; reqs && i < json_object_array_length(reqs); i++) {
                json_object *e = json_object_array_get_idx(reqs, i);
                printf("  %-7s %-22s %-16s %lld\n", get_str(e, "op"), get_str(e, "service_action"), get_str(e, "result"),
                       (long long) get_int(e, "count"));
        }
        for (size_t i = 0; lat && i < json_object_array_length(lat); i++)
                total += get_int(json_object_array_get_idx(lat, i), "count");
        printf("Latency (executed requests: %lld, mean %lld us):\n", (long long) total,
               (long long) (total ? get_int(o, "latency_sum_us") / total : 0));
        for (size_t i = 0; lat && i < json_object_array_length(lat); i++) {
                json_object *e = json_object_array_get_idx(lat, i);
                int64_t n = get_int(e, "count");
                json_object *le = get_obj(e, "le_us");
                if (n == 0)
                        continue;
                if (le)
                        printf("  <= %10lld us  %lld\n", (long long) json_object_get_int64(le), (long long) n);
                else
                        printf("   > %10s     %lld\n", "largest", (long long) n);
        }
        printf("Slowest devices:\n");
        for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
                json_object *e = json_object_array_get_idx(devs, i);
                printf("  %-8s %-12s slowest %lld us\n", get_str(e, "majmin"), get_str(e, "name") ?: "",
                       (long long) get_int(e, "max_us"));
        }
}

static void print_prometheus(json_object *o) {
        json_object *c = get_obj(o, "connections"), *reqs = get_obj(o, "requests"),
                    *lat = get_obj(o, "latency_buckets"), *devs = get_obj(o, "slowest_devices");
        int64_t cum = 0;

        printf("# HELP prhd_connections Connections open now.\n# TYPE prhd_connections gauge\n");
        printf("prhd_connections %lld\n", (long long) get_int(c, "now"));
        printf("# HELP prhd_connections_total Connections accepted.\n# TYPE prhd_connections_total counter\n");
        printf("prhd_connections_total %lld\n", (long long) get_int(c, "total"));
        printf("# HELP prhd_connections_refused_total Connections refused (limits).\n"
               "# TYPE prhd_connections_refused_total counter\n");
        printf("prhd_connections_refused_total %lld\n", (long long) get_int(c, "refused"));
        printf("# HELP prhd_requests_total Requests by operation, service action and result.\n"
               "# TYPE prhd_requests_total counter\n");
        for (size_t i = 0; reqs && i < json_object_array_length(reqs); i++) {
                json_object *e = json_object_array_get_idx(reqs, i);
                printf("prhd_requests_total{op=\"%s\",service_action=\"%s\",result=\"%s\"} %lld\n", get_str(e, "op"),
                       get_str(e, "service_action"), get_str(e, "result"), (long long) get_int(e, "count"));
        }
        printf("# HELP prhd_requests_denied_total Requests denied by the policy.\n"
               "# TYPE prhd_requests_denied_total counter\n");
        printf("prhd_requests_denied_total %lld\n", (long long) get_int(o, "denied"));
        printf("# HELP prhd_requests_in_flight Requests executing now.\n# TYPE prhd_requests_in_flight gauge\n");
        printf("prhd_requests_in_flight %lld\n", (long long) get_int(o, "in_flight"));
        printf("# HELP prhd_request_duration_seconds Time in the backend (SG_IO or multipath).\n"
               "# TYPE prhd_request_duration_seconds histogram\n");
        for (size_t i = 0; lat && i < json_object_array_length(lat); i++) {
                json_object *e = json_object_array_get_idx(lat, i), *le = get_obj(e, "le_us");
                cum += get_int(e, "count");
                if (le)
                        printf("prhd_request_duration_seconds_bucket{le=\"%g\"} %lld\n",
                               (double) json_object_get_int64(le) / 1e6, (long long) cum);
                else
                        printf("prhd_request_duration_seconds_bucket{le=\"+Inf\"} %lld\n", (long long) cum);
        }
        printf("prhd_request_duration_seconds_sum %g\n", (double) get_int(o, "latency_sum_us") / 1e6);
        printf("prhd_request_duration_seconds_count %lld\n", (long long) cum);
        printf("# HELP prhd_device_slowest_request_seconds The slowest request of the slowest devices.\n"
               "# TYPE prhd_device_slowest_request_seconds gauge\n");
        for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
                json_object *e = json_object_array_get_idx(devs, i);
                printf("prhd_device_slowest_request_seconds{device=\"%s\",name=\"%s\"} %g\n", get_str(e, "majmin"),
                       get_str(e, "name") ?: "", (double) get_int(e, "max_us") / 1e6);
        }
}

static void admin_help(void) {
        printf("Usage: %s --admin SOCKET stats [--json|--prometheus]\n"
               "       %s audit [--file FILE] [--device WWID|MAJ:MIN|PATH] [--since 1h] [--all] [--json]\n"
               "See prhctl(1).\n", log_program_name(), log_program_name());
}

static int run_stats(const char *sock, bool json, bool prom) {
        json_object *o = NULL;
        int r = admin_fetch(sock, &o);

        if (r < 0)
                return EXIT_UNREACHABLE;
        if (json)
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
        else if (prom)
                print_prometheus(o);
        else
                print_human(o);
        json_object_put(o);
        return EXIT_OK;
}

/* "90s", "30m", "1h", "2d" */
static int parse_age(const char *s, int64_t *ret) {
        char *end;
        long long v = strtoll(s, &end, 10);
        int64_t mul = 1;

        if (end == s || v < 0)
                return -EINVAL;
        if (*end == 'm')
                mul = 60;
        else if (*end == 'h')
                mul = 3600;
        else if (*end == 'd')
                mul = 86400;
        else if (*end != 's' && *end != 0)
                return -EINVAL;
        if (*end && end[1])
                return -EINVAL;
        *ret = (int64_t) v * mul;
        return 0;
}

/* "2026-12-01T17:58:23.592785Z" -> seconds since the epoch; -1 if malformed. */
static int64_t parse_time(const char *s) {
        struct tm tm = {};
        const char *e = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
        return e ? (int64_t) timegm(&tm) : -1;
}

static bool device_matches(json_object *dev, const char *spec) {
        const char *w = get_str(dev, "wwid"), *m = get_str(dev, "majmin"), *p = get_str(dev, "path");

        return (w && strcmp(w, spec) == 0) || (m && strcmp(m, spec) == 0) || (p && strcmp(p, spec) == 0);
}

static int run_audit(const char *file, const char *device, int64_t since, bool all, bool json) {
        FILE *f = fopen(file, "re");
        char *line = NULL;
        size_t cap = 0;
        unsigned n = 0;
        int64_t now = (int64_t) time(NULL);

        if (!f) {
                log_error_errno(-errno, "Cannot open the audit log %s: %m", file);
                return EXIT_DEVICE;
        }
        if (!json)
                printf("%-27s %-22s %-19s %-10s %-18s %-18s %s\n", "TIME", "PEER", "ACTION", "RESULT", "KEY", "SA KEY",
                       "DEVICE");
        while (getline(&line, &cap, f) > 0) {
                json_object *o = json_tokener_parse(line);
                json_object *res, *dev, *peer;
                const char *op, *outcome;

                if (!o)
                        continue;
                res = get_obj(o, "result");
                dev = get_obj(o, "device");
                peer = get_obj(o, "peer");
                op = get_str(o, "op");
                outcome = res ? get_str(res, "outcome") : NULL;
                /* Changes: PR OUT that the device accepted; --all: every record. */
                bool keep = all || (op && strcmp(op, "pr-out") == 0 && outcome && strcmp(outcome, "good") == 0);
                if (keep && device && !(dev && device_matches(dev, device)))
                        keep = false;
                if (keep && since >= 0) {
                        int64_t t = parse_time(get_str(o, "time"));
                        keep = t >= 0 && t >= now - since;
                }
                if (keep) {
                        n++;
                        if (json)
                                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                        else {
                                char who[64];
                                const char *name = get_str(peer, "exe") ?: get_str(peer, "comm") ?: "?";
                                const char *slash = strrchr(name, '/');
                                (void) snprintf(who, sizeof who, "%s[%lld] uid %lld", slash ? slash + 1 : name,
                                                (long long) get_int(peer, "pid"), (long long) get_int(peer, "uid"));
                                printf("%-27s %-22s %-19s %-10s %-18s %-18s %s\n", get_str(o, "time") ?: "?", who,
                                       get_str(o, "service_action") ?: "?", outcome ?: "?", get_str(o, "key") ?: "-",
                                       get_str(o, "sa_key") ?: "-",
                                       get_str(dev, "wwid") ?: get_str(dev, "path") ?: get_str(dev, "majmin") ?: "?");
                        }
                }
                json_object_put(o);
        }
        free(line);
        (void) fclose(f);
        if (!json && n == 0)
                printf("(no matching records)\n");
        return EXIT_OK;
}

bool prhctl_is_admin_command(int argc, char **argv) {
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--admin") == 0 || strncmp(argv[i], "--admin=", 8) == 0)
                        return true;
        return argc > 1 && strcmp(argv[1], "audit") == 0;
}

int prhctl_admin_main(int argc, char **argv) {
        enum { ARG_ADMIN = 0x100, ARG_PROM, ARG_FILE, ARG_DEVICE, ARG_SINCE, ARG_ALL };
        static const struct option options[] = {
                { "admin", required_argument, NULL, ARG_ADMIN },
                { "prometheus", no_argument, NULL, ARG_PROM },
                { "file", required_argument, NULL, ARG_FILE },
                { "device", required_argument, NULL, ARG_DEVICE },
                { "since", required_argument, NULL, ARG_SINCE },
                { "all", no_argument, NULL, ARG_ALL },
                PRHCTL_COMMON_OPTIONS,
                {}
        };
        const char *admin = NULL, *file = "/var/log/prhd/audit.jsonl", *device = NULL;
        bool json = false, prom = false, all = false;
        int64_t since = -1;
        int c;

        while ((c = getopt_long(argc, argv, PRHCTL_COMMON_SHORT, options, NULL)) != -1)
                switch (c) {
                case ARG_ADMIN:
                        admin = optarg;
                        break;
                case ARG_PROM:
                        prom = true;
                        break;
                case ARG_FILE:
                        file = optarg;
                        break;
                case ARG_DEVICE:
                        device = optarg;
                        break;
                case ARG_SINCE:
                        if (parse_age(optarg, &since) < 0) {
                                log_error("Invalid age '%s' (e.g. 90s, 30m, 1h, 2d).", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_ALL:
                        all = true;
                        break;
                default: {
                        int r = prhctl_common_option(c, &json, admin_help);
                        if (r <= 0)
                                return r == 0 ? EXIT_OK : EXIT_USAGE;
                        break;
                }
                }
        if (optind >= argc) {
                admin_help();
                return EXIT_USAGE;
        }
        if (strcmp(argv[optind], "stats") == 0 && optind + 1 == argc) {
                if (!admin) {
                        log_error("stats needs --admin SOCKET.");
                        return EXIT_USAGE;
                }
                if (json && prom) {
                        log_error("--json and --prometheus exclude each other.");
                        return EXIT_USAGE;
                }
                return run_stats(admin, json, prom);
        }
        if (strcmp(argv[optind], "audit") == 0 && optind + 1 == argc) {
                if (prom || admin) {
                        log_error("audit reads the audit log (--file), not the admin socket.");
                        return EXIT_USAGE;
                }
                return run_audit(file, device, since, all, json);
        }
        log_error("Unknown command '%s' (stats, audit).", argv[optind]);
        return EXIT_USAGE;
}
