/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhd's per-socket policy, audit records and admin socket (docs/audit.md),
 * on the host with the real daemon over real sockets.  One prhd serves two
 * sockets (-k twice) with --config, --audit-log and --admin-socket; one
 * connection is opened at the start and used for every check, and the
 * configuration is rewritten and reloaded with SIGHUP between the cases, so
 * that every reload is shown not to drop it.  Each rule is tried at its
 * edge (the name or id listed and its neighbour; a glob that matches and
 * one a character short).  A denied request must be answered with CHECK
 * CONDITION, ILLEGAL REQUEST, ACCESS DENIED - NO ACCESS RIGHTS (05/20/02),
 * leave the connection open and be recorded.  Devices are /dev/null and the
 * FUSE "device" (test/fuse-sgio.c, whose "good" file answers GOOD), hence
 * --unsafe-any-fd.  Also: start-up errors of the configuration, socket
 * activation with two named fds (LISTEN_FDNAMES), the journal's native
 * protocol, the counters through prhctl --admin (human, --json,
 * --prometheus) and "prhctl audit".
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534

static Helper H;
static char sock_b[400], config[400], auditlog[400], admin[400];
static const char *prhctl;
static int null_fd = -1;
static unsigned reloads;
static unsigned n_denied;       /* denials so far: the admin counter must agree */
static unsigned n_out_sent;     /* PR OUT sent to the main daemon: one record each */
static unsigned n_preempt_denied;
static unsigned n_in_denied;    /* PR IN denied (and recorded) */

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        CHECK(f != NULL);
        if (!f)
                return;
        fputs(text, f);
        fclose(f);
}

/* Install a configuration with SIGHUP and wait until prhd says it took it. */
static bool reload(const char *json) {
        char want[64];

        write_file(config, json);
        reloads++;
        helper_stderr_mark(&H);
        CHECK(kill(H.pid, SIGHUP) == 0);
        if (helper_stderr_wait(&H, "Reloaded configuration", 3000))
                return true;
        snprintf(want, sizeof want, "reload %u not logged", reloads);
        CHECK_MSG(false, "%s", want);
        return false;
}

static int pr_in(int s, uint8_t sa, int fd, Reply *rep) {
        uint8_t cdb[PRH_CDB_SIZE];

        cdb_pr_in(cdb, sa, 64);
        return client_roundtrip(s, cdb, NULL, fd, rep);
}

static int pr_out(int s, uint8_t sa, uint64_t key, uint64_t sakey, int fd, Reply *rep) {
        uint8_t cdb[PRH_CDB_SIZE], data[24] = {};

        for (int i = 0; i < 8; i++) {
                data[i] = (uint8_t) (key >> (56 - 8 * i));
                data[8 + i] = (uint8_t) (sakey >> (56 - 8 * i));
        }
        cdb_pr_out(cdb, sa, 0x01, sizeof data);
        return client_roundtrip(s, cdb, data, fd, rep);
}

static bool denied(const Reply *r) {
        return reply_is_check(r, 0x05, 0x20, 0x02);
}

/* Allowed on /dev/null: the ioctl ran and failed with ENOTTY (0B/00/06), exactly as without a policy. */
static bool ran(const Reply *r) {
        return memcmp(r->header, REPLY_ENOTTY, PRH_REPLY_HEADER_SIZE) == 0;
}

#define EXPECT_IN(s, sa, want_denied)                                                                   \
        do {                                                                                            \
                Reply _r;                                                                               \
                CHECK_MSG(pr_in((s), (sa), null_fd, &_r) == 0, "PR IN 0x%02x: no reply", (sa));        \
                CHECK_MSG((want_denied) ? denied(&_r) : ran(&_r), "PR IN 0x%02x: %s expected, got status %d %02x/%02x/%02x", \
                          (sa), (want_denied) ? "denial" : "execution", _r.res.status, _r.res.sense[2] & 0xf, \
                          _r.res.sense[12], _r.res.sense[13]);                                          \
                n_denied += (want_denied) ? 1 : 0;                                                      \
                n_in_denied += (want_denied) ? 1 : 0;                                                   \
        } while (0)

#define EXPECT_OUT(s, sa, want_denied)                                                                  \
        do {                                                                                            \
                Reply _r;                                                                               \
                CHECK_MSG(pr_out((s), (sa), 0xabcdef0123456789ull, 0x42, null_fd, &_r) == 0, "PR OUT 0x%02x: no reply", (sa)); \
                CHECK_MSG((want_denied) ? denied(&_r) : ran(&_r), "PR OUT 0x%02x: %s expected, got status %d %02x/%02x/%02x", \
                          (sa), (want_denied) ? "denial" : "execution", _r.res.status, _r.res.sense[2] & 0xf, \
                          _r.res.sense[12], _r.res.sense[13]);                                          \
                n_denied += (want_denied) ? 1 : 0;                                                      \
                n_out_sent++;                                                                           \
                n_preempt_denied += (want_denied) && (sa) == 0x04 ? 1 : 0;                              \
        } while (0)

/* Run f in a child as uid/gid NOBODY; its exit status is 0 when the request was denied, 1 when it ran. */
static int as_nobody(const char *sock, bool out) {
        pid_t pid = fork();
        int st;

        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                        _exit(3);
                int fd = open("/dev/null", O_RDWR | O_CLOEXEC), s = client_open(sock);
                Reply r;
                if (fd < 0 || s < 0)
                        _exit(4);
                if ((out ? pr_out(s, 0, 1, 2, fd, &r) : pr_in(s, 0, fd, &r)) != 0)
                        _exit(5);
                _exit(denied(&r) ? 0 : ran(&r) ? 1 : 6);
        }
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
                return -1;
        return WEXITSTATUS(st);
}

static void test_actions(int s) {
        test_begin("actions: read-keys and register only");
        reload("{\"sockets\": {\"default\": {\"actions\": [\"read-keys\", \"register\"]}}}");
        EXPECT_IN(s, 0x00, false);
        EXPECT_IN(s, 0x01, true);
        EXPECT_IN(s, 0x1f, true);
        EXPECT_OUT(s, 0x00, false);
        EXPECT_OUT(s, 0x01, true);
        EXPECT_OUT(s, 0x04, true);      /* PREEMPT */
        EXPECT_OUT(s, 0x08, true);
        CHECK_MSG(helper_stderr_wait(&H, "Denied PR OUT preempt on /dev/null by the policy of socket", 2000) &&
                  helper_stderr_wait(&H, "(rule service-action) [connection", 10),
                  "no log line for the denied PREEMPT naming the rule and the peer");

        test_begin("actions: the groups pr-in and pr-out");
        reload("{\"sockets\": {\"default\": {\"actions\": [\"pr-in\"]}}}");
        EXPECT_IN(s, 0x1f, false);      /* a service action without a name: only a group allows it */
        EXPECT_OUT(s, 0x00, true);
        reload("{\"sockets\": {\"default\": {\"actions\": [\"pr-out\"]}}}");
        EXPECT_IN(s, 0x00, true);
        EXPECT_OUT(s, 0x1f, false);
        reload("{\"sockets\": {\"default\": {\"actions\": []}}}");
        EXPECT_IN(s, 0x00, true);
        EXPECT_OUT(s, 0x00, true);
}

static void test_peers(int s) {
        test_begin("peers: uids and gids");
        reload("{\"sockets\": {\"default\": {\"uids\": [1]}}}");
        EXPECT_IN(s, 0x00, true);
        CHECK_MSG(helper_stderr_wait(&H, "(rule peer)", 2000), "the peer rule is not named");
        reload("{\"sockets\": {\"default\": {\"uids\": [1], \"gids\": [0]}}}");
        EXPECT_IN(s, 0x00, false);
        reload("{\"sockets\": {\"default\": {\"uids\": [0]}}}");
        EXPECT_IN(s, 0x00, false);
        CHECK(chmod(H.sock, 0666) == 0);
        CHECK_MSG(as_nobody(H.sock, false) == 0, "uid %d not denied by uids [0]", NOBODY);
        n_denied++;
        n_in_denied++;
        reload("{\"sockets\": {\"default\": {\"uids\": [65534]}}}");
        CHECK_MSG(as_nobody(H.sock, false) == 1, "uid %d denied by uids [65534]", NOBODY);
        EXPECT_IN(s, 0x00, true);
        reload("{\"sockets\": {\"default\": {\"uids\": [65533], \"gids\": [65533]}}}");
        CHECK_MSG(as_nobody(H.sock, false) == 0, "uid %d not denied by uids/gids [65533]", NOBODY);
        n_denied++;
        n_in_denied++;
        reload("{\"sockets\": {\"default\": {\"gids\": [65534]}}}");
        CHECK_MSG(as_nobody(H.sock, false) == 1, "gid %d denied by gids [65534]", NOBODY);
}

static void test_devices(int s) {
        test_begin("devices: path globs and WWIDs");
        reload("{\"sockets\": {\"default\": {\"devices\": [\"/dev/null\"]}}}");
        EXPECT_IN(s, 0x00, false);
        reload("{\"sockets\": {\"default\": {\"devices\": [\"/dev/nul\"]}}}");
        EXPECT_IN(s, 0x00, true);
        CHECK_MSG(helper_stderr_wait(&H, "(rule device)", 2000), "the device rule is not named");
        reload("{\"sockets\": {\"default\": {\"devices\": [\"/dev/nu?l\"]}}}");
        EXPECT_IN(s, 0x00, false);
        /* /dev/null has no WWID: a WWID glob, even "*", never matches it */
        reload("{\"sockets\": {\"default\": {\"devices\": [\"wwid:*\"]}}}");
        EXPECT_IN(s, 0x00, true);
        reload("{\"sockets\": {\"default\": {\"devices\": [\"wwid:*\", \"/dev/n*\"]}}}");
        EXPECT_IN(s, 0x00, false);
        reload("{\"sockets\": {\"default\": {\"devices\": []}}}");
        EXPECT_IN(s, 0x00, true);
}

static void test_sockets(int s) {
        int b;

        test_begin("two sockets, each with its policy");
        char json[1200];
        snprintf(json, sizeof json,
                 "{\"sockets\": {\"%s\": {\"actions\": [\"pr-in\"]}, \"%s\": {\"actions\": [\"pr-in\", \"pr-out\"]}}}",
                 H.sock, sock_b);
        reload(json);
        b = client_open(sock_b);
        CHECK(b >= 0);
        EXPECT_OUT(s, 0x04, true);
        EXPECT_OUT(b, 0x04, false);
        EXPECT_IN(s, 0x00, false);
        EXPECT_IN(b, 0x00, false);
        if (b >= 0)
                close(b);

        test_begin("a configuration that does not load leaves the old one in force");
        write_file(config, "{\"sockets\": {\"default\": {\"actions\": [\"pr-in\", \"pr-out\", \"typo\"]}}}");
        helper_stderr_mark(&H);
        CHECK(kill(H.pid, SIGHUP) == 0);
        CHECK_MSG(helper_stderr_wait(&H, "Keeping the previous configuration", 3000), "no refusal of the bad file logged");
        CHECK_MSG(helper_stderr_wait(&H, "unknown service action \"typo\"", 10), "the error is not named");
        EXPECT_OUT(s, 0x04, true);
        write_file(config, "{\"sockets\": {\"" "default\": {\"actions\": [\"pr-in\", \"pr-out\"]}, \"extra\": 1}}");
        CHECK(kill(H.pid, SIGHUP) == 0);
        CHECK(helper_stderr_wait(&H, "\"extra\": must be an object", 3000));
        EXPECT_OUT(s, 0x04, true);
}

/* The audit log so far, one record per line. */
static json_object **read_records(size_t *n) {
        _cleanup_free_ char *text = read_file_str(auditlog);
        json_object **v = NULL;

        *n = 0;
        for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
                json_object *o = json_tokener_parse(l);
                CHECK_MSG(o != NULL, "audit line is not JSON: %s", l);
                if (!o)
                        continue;
                v = realloc(v, (*n + 1) * sizeof *v);
                v[(*n)++] = o;
        }
        return v;
}

static const char *jstr(json_object *o, const char *path) {
        char buf[128], *save = NULL;

        snprintf(buf, sizeof buf, "%s", path);
        for (char *k = strtok_r(buf, ".", &save); o && k; k = strtok_r(NULL, ".", &save))
                if (!json_object_object_get_ex(o, k, &o))
                        return NULL;
        return o ? json_object_get_string(o) : NULL;
}

static void test_audit_records(void) {
        size_t n, n_out = 0, n_in = 0, n_preempt = 0;
        json_object **v;

        test_begin("audit records: one per PR OUT, none for PR IN without --audit-pr-in");
        v = read_records(&n);
        for (size_t i = 0; i < n; i++) {
                const char *op = jstr(v[i], "op");
                if (op && strcmp(op, "pr-in") == 0) {
                        /* denials are always recorded */
                        CHECK_MSG(strcmp(jstr(v[i], "result.outcome") ?: "", "denied") == 0, "a record for an allowed PR IN");
                        n_in++;
                        json_object_put(v[i]);
                        continue;
                }
                CHECK_MSG(op && strcmp(op, "pr-out") == 0, "a record for %s", op ? op : "(none)");
                n_out++;
                if (strcmp(jstr(v[i], "service_action") ?: "", "preempt") == 0 &&
                    strcmp(jstr(v[i], "result.outcome") ?: "", "denied") == 0) {
                        n_preempt++;
                        CHECK(strcmp(jstr(v[i], "result.denied_by") ?: "", "service-action") == 0);
                        CHECK(strcmp(jstr(v[i], "key") ?: "", "0xabcdef0123456789") == 0);
                        CHECK(strcmp(jstr(v[i], "sa_key") ?: "", "0x0000000000000042") == 0);
                        CHECK(strcmp(jstr(v[i], "result.sense_key") ?: "", "5") == 0);
                        CHECK(strcmp(jstr(v[i], "result.asc") ?: "", "32") == 0);
                        CHECK(strcmp(jstr(v[i], "result.ascq") ?: "", "2") == 0);
                        CHECK(strcmp(jstr(v[i], "device.path") ?: "", "/dev/null") == 0);
                        CHECK(strcmp(jstr(v[i], "device.majmin") ?: "", "1:3") == 0);
                        CHECK(strcmp(jstr(v[i], "peer.uid") ?: "", "0") == 0);
                        CHECK(jstr(v[i], "peer.pid") && atoi(jstr(v[i], "peer.pid")) == (int) getpid());
                        CHECK(jstr(v[i], "time") && strlen(jstr(v[i], "time")) == 27);
                }
                json_object_put(v[i]);
        }
        free(v);
        /* PR OUT sent in this test (EXPECT_OUT and as_nobody never send one from here) */
        CHECK_MSG(n_out == n_out_sent, "%zu PR OUT records, want %u", n_out, n_out_sent);
        CHECK_MSG(n_in == n_in_denied, "%zu PR IN records, want %u (the denials)", n_in, n_in_denied);
        CHECK_MSG(n_preempt == n_preempt_denied, "%zu denied PREEMPT records, want %u", n_preempt, n_preempt_denied);
}

static char *run_prhctl(const char *const *args, int *ret_status) {
        char *argv[16] = { (char *) (uintptr_t) prhctl };
        size_t n = 1;
        int p[2];
        pid_t pid;
        char *out = NULL;
        size_t len = 0;

        for (size_t i = 0; args[i] && n < 15; i++)
                argv[n++] = (char *) (uintptr_t) args[i];
        argv[n] = NULL;
        if (pipe2(p, O_CLOEXEC) < 0)
                return NULL;
        pid = fork();
        if (pid == 0) {
                dup2(p[1], 1);
                execv(prhctl, argv);
                _exit(127);
        }
        close(p[1]);
        for (;;) {
                char buf[4096];
                ssize_t k = read(p[0], buf, sizeof buf);
                if (k <= 0)
                        break;
                out = realloc(out, len + (size_t) k + 1);
                memcpy(out + len, buf, (size_t) k);
                len += (size_t) k;
                out[len] = 0;
        }
        close(p[0]);
        int st = 0;
        (void) waitpid(pid, &st, 0);
        *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return out ? out : strdup("");
}

/* connections.total from the admin socket (the harness's start-up probes connect too) */
static int stats_total(void) {
        int status;
        _cleanup_free_ char *js = run_prhctl((const char *const[]) { "--admin", admin, "stats", "--json", NULL }, &status);
        json_object *o = json_tokener_parse(js);
        int n = o ? atoi(jstr(o, "connections.total") ?: "-1") : -1;

        json_object_put(o);
        return n;
}

static void test_admin(unsigned conns_opened) {
        struct stat st;
        int status;

        test_begin("admin socket: root only (0600)");
        CHECK(stat(admin, &st) == 0);
        CHECK_MSG((st.st_mode & 0777) == 0600 && st.st_uid == 0, "mode %o uid %u", st.st_mode & 0777, st.st_uid);
        pid_t pid = fork();
        if (pid == 0) {
                if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                        _exit(3);
                _exit(client_connect(admin) == -EACCES ? 0 : 1);
        }
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        test_begin("prhctl --admin stats --json: the counters");
        _cleanup_free_ char *js = run_prhctl((const char *const[]) { "--admin", admin, "stats", "--json", NULL }, &status);
        CHECK(status == 0);
        json_object *o = json_tokener_parse(js);
        CHECK_MSG(o != NULL, "not JSON: %s", js);
        if (o) {
                CHECK_MSG(atoi(jstr(o, "denied") ?: "-1") == (int) n_denied, "denied %s, want %u", jstr(o, "denied"),
                          n_denied);
                CHECK_MSG(atoi(jstr(o, "connections.total") ?: "-1") == (int) conns_opened,
                          "connections.total %s, want %u", jstr(o, "connections.total"), conns_opened);
                CHECK_MSG(atoi(jstr(o, "connections.now") ?: "-1") == 1, "connections.now %s, want 1",
                          jstr(o, "connections.now"));
                CHECK(strcmp(jstr(o, "in_flight") ?: "", "0") == 0);
                json_object *reqs, *lat;
                unsigned preempt_denied = 0;
                long long executed = 0;
                CHECK(json_object_object_get_ex(o, "requests", &reqs));
                for (size_t i = 0; reqs && i < json_object_array_length(reqs); i++) {
                        json_object *e = json_object_array_get_idx(reqs, i);
                        if (strcmp(jstr(e, "service_action"), "preempt") == 0 && strcmp(jstr(e, "result"), "denied") == 0)
                                preempt_denied = (unsigned) atoi(jstr(e, "count"));
                }
                CHECK_MSG(preempt_denied == n_preempt_denied, "preempt/denied %u, want %u", preempt_denied,
                          n_preempt_denied);
                CHECK(json_object_object_get_ex(o, "latency_buckets", &lat));
                for (size_t i = 0; lat && i < json_object_array_length(lat); i++)
                        executed += atoll(jstr(json_object_array_get_idx(lat, i), "count") ?: "0");
                CHECK_MSG(executed == atoll(jstr(o, "requests_total") ?: "0") - n_denied,
                          "histogram holds %lld requests, want requests_total - denied", executed);
                CHECK_MSG(strstr(js, "\"majmin\": \"1:3\"") != NULL, "/dev/null not among the slowest devices: %s", js);
                json_object_put(o);
        }

        test_begin("prhctl --admin stats (human) and --prometheus");
        _cleanup_free_ char *human = run_prhctl((const char *const[]) { "--admin", admin, "stats", NULL }, &status);
        CHECK(status == 0 && strstr(human, "Connections: 1 now"));
        char want[64];
        snprintf(want, sizeof want, "%u denied", n_denied);
        CHECK_MSG(strstr(human, want), "'%s' not in: %s", want, human);
        _cleanup_free_ char *prom = run_prhctl((const char *const[]) { "--admin", admin, "stats", "--prometheus", NULL },
                                               &status);
        snprintf(want, sizeof want, "prhd_requests_denied_total %u\n", n_denied);
        CHECK_MSG(status == 0 && strstr(prom, want), "'%s' not in: %s", want, prom);
        snprintf(want, sizeof want, "service_action=\"preempt\",result=\"denied\"} %u\n", n_preempt_denied);
        CHECK_MSG(strstr(prom, want), "'%s' not in: %s", want, prom);
        CHECK(strstr(prom, "prhd_request_duration_seconds_bucket{le=\"+Inf\"}"));
}

/* FUSE "good": GOOD replies, so that prhctl audit has changes to show. */
static void test_audit_query(int s) {
        FuseDev f;
        Reply r;
        int status, fd;

        test_begin("prhctl audit: who changed the reservation");
        if (fuse_dev_start(&f, 1) < 0) {
                test_skip_part("no FUSE device for GOOD replies");
                return;
        }
        fd = fuse_dev_open(&f, "good", O_RDWR);
        CHECK(fd >= 0);
        reload("{\"sockets\": {\"default\": {}}}");
        CHECK(pr_out(s, 0x00, 0, 0x1111, fd, &r) == 0 && r.res.status == 0);   /* REGISTER */
        CHECK(pr_out(s, 0x04, 0x1111, 0x2222, fd, &r) == 0 && r.res.status == 0);      /* PREEMPT */
        char path[400];
        snprintf(path, sizeof path, "%s/good", f.mnt);
        _cleanup_free_ char *out = run_prhctl((const char *const[]) { "audit", "--file", auditlog, "--device", path,
                                                                      "--since", "1h", NULL }, &status);
        CHECK(status == 0);
        CHECK_MSG(strstr(out, "register ") && strstr(out, "preempt ") && strstr(out, "0x0000000000001111") &&
                  strstr(out, "0x0000000000002222"), "prhctl audit output: %s", out);
        /* the denied PREEMPTs on /dev/null are not changes */
        _cleanup_free_ char *none = run_prhctl((const char *const[]) { "audit", "--file", auditlog, "--device",
                                                                       "/dev/null", "--since", "1h", NULL }, &status);
        CHECK_MSG(strstr(none, "(no matching records)"), "denied requests listed as changes: %s", none);
        _cleanup_free_ char *all = run_prhctl((const char *const[]) { "audit", "--file", auditlog, "--device",
                                                                      "/dev/null", "--all", NULL }, &status);
        CHECK_MSG(strstr(all, "preempt") && strstr(all, "denied"), "--all lacks the denials: %s", all);
        close(fd);
        fuse_dev_stop(&f);
}

/* A client that sends denied requests as fast as it can cannot flood the log. */
static void test_denial_log_flood(int s) {
        test_begin("denial warnings: a burst, then one a second");
        reload("{\"sockets\": {\"default\": {\"actions\": []}}}");
        helper_stderr_mark(&H);
        for (int i = 0; i < 300; i++)
                EXPECT_IN(s, 0x00, true);
        (void) helper_stderr_wait(&H, "\x01never", 300);       /* let the reader catch up */
        _cleanup_free_ char *burst = helper_stderr_since_mark(&H);
        unsigned lines = 0;
        for (const char *p = burst; p && (p = strstr(p, "Denied PR IN")); p++)
                lines++;
        CHECK_MSG(lines >= 1 && lines <= 51, "%u warnings for 300 denials (want 1..51)", lines);
        sleep_ms(1100);
        helper_stderr_mark(&H);
        EXPECT_IN(s, 0x00, true);
        CHECK_MSG(helper_stderr_wait(&H, "earlier denials not logged: see the audit records", 2000),
                  "the next warning does not count the ones not logged");
        reload("{\"sockets\": {\"default\": {}}}");
}

static void test_startup_errors(const char *path) {
        static const struct {
                const char *what, *json, *needle;
        } cases[] = {
                { "unknown key", "{\"sockets\": {\"default\": {\"action\": []}}}", "unknown key \"action\"" },
                { "no policy for the socket", "{\"sockets\": {\"other\": {}}}", "no policy for socket" },
                { "not JSON", "{\"sockets\": {", "Failed to read configuration" },
                { "uid not a number", "{\"sockets\": {\"default\": {\"uids\": [\"root\"]}}}", "numeric ids" },
                { "device neither path nor wwid", "{\"sockets\": {\"default\": {\"devices\": [\"sda\"]}}}",
                  "neither \"wwid:GLOB\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Helper h;
                char cfg[400];
                int st;

                test_begin(cases[i].what);
                CHECK(helper_init(&h, path) == 0);
                snprintf(cfg, sizeof cfg, "%s/c.json", h.dir);
                write_file(cfg, cases[i].json);
                const char *args[] = { "-k", h.sock, "--config", cfg, NULL };
                HelperSpawn sp = { .args = args };
                st = helper_run(&h, &sp, 5000);
                CHECK_MSG(st == 1, "exit %d, want 1", st);
                _cleanup_free_ char *err = helper_stderr(&h);
                CHECK_MSG(err && strstr(err, cases[i].needle), "'%s' not in: %s", cases[i].needle, err ? err : "");
                CHECK(!path_exists(h.sock));
                helper_free(&h);
        }
}

/* Two activated fds named by LISTEN_FDNAMES, each with its policy. */
static void test_activation(const char *path) {
        const char *sa = getenv("PRH_SOCKET_ACTIVATE");
        Helper h;
        char a[400], b[400], cfg[400];

        test_begin("socket activation: two fds named by LISTEN_FDNAMES");
        if (!sa) {
                test_skip_part("no systemd-socket-activate");
                return;
        }
        CHECK(helper_init(&h, path) == 0);
        snprintf(a, sizeof a, "%s/qemu.sock", h.dir);
        snprintf(b, sizeof b, "%s/monitor.sock", h.dir);
        snprintf(cfg, sizeof cfg, "%s/c.json", h.dir);
        write_file(cfg, "{\"sockets\": {\"qemu\": {}, \"monitor\": {\"actions\": [\"pr-in\"]}}}");
        const char *wrapper[] = { sa, "-l", a, "-l", b, "--fdname=qemu:monitor", NULL };
        const char *args[] = { "--config", cfg, NULL };
        HelperSpawn sp = { .args = args, .wrapper = wrapper };
        CHECK(helper_spawn(&h, &sp) == 0);
        CHECK(helper_wait_socket_path(&h, b, 5000) == 0);
        int sa_fd = client_open(a), sb_fd = client_open(b);
        CHECK(sa_fd >= 0 && sb_fd >= 0);
        unsigned before = n_denied, before_out = n_out_sent, before_pd = n_preempt_denied, before_in = n_in_denied;
        EXPECT_OUT(sb_fd, 0x04, true);
        EXPECT_IN(sb_fd, 0x00, false);
        EXPECT_OUT(sa_fd, 0x04, false);
        n_denied = before;      /* another daemon's counters */
        n_out_sent = before_out;
        n_preempt_denied = before_pd;
        n_in_denied = before_in;
        CHECK(helper_stderr_wait(&h, "by the policy of socket monitor", 2000));
        close(sa_fd);
        close(sb_fd);
        helper_free(&h);
}

/* --audit-log=journal:SOCKET: one datagram of KEY=value lines per record. */
static void test_journal(const char *path) {
        Helper h;
        char js[400], buf[8192];
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        int d, s;
        Reply r;

        test_begin("audit records to the journal (native protocol)");
        CHECK(helper_init(&h, path) == 0);
        snprintf(js, sizeof js, "%s/journal", h.dir);
        if (strlen(js) >= sizeof un.sun_path) {
                test_skip_part("temp dir path too long for a socket");
                helper_free(&h);
                return;
        }
        memcpy(un.sun_path, js, strlen(js) + 1);
        d = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHECK(d >= 0 && bind(d, (struct sockaddr *) &un, sizeof un) == 0);
        char target[420];
        snprintf(target, sizeof target, "journal:%s", js);
        const char *args[] = { "--audit-log", target, "--audit-redact-keys", NULL };
        CHECK(helper_start(&h, args) == 0);
        s = client_open(h.sock);
        CHECK(s >= 0 && pr_out(s, 0x04, 0x7e57ab1e7e57ab1eull, 0x5ca1ab1e5ca1ab1eull, null_fd, &r) == 0);
        struct timeval tv = { .tv_sec = 5 };
        (void) setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t k = recv(d, buf, sizeof buf - 1, 0);
        CHECK_MSG(k > 0, "no datagram");
        buf[k > 0 ? k : 0] = 0;
        static const char *const want[] = {
                "\nPRH_SERVICE_ACTION=preempt\n", "\nPRH_OP=pr-out\n", "\nPRH_KEY=redacted\n", "\nPRH_SA_KEY=redacted\n",
                "\nPRH_DEVICE_PATH=/dev/null\n", "\nPRH_PEER_UID=0\n", "\nPRH_RESULT=check-condition\n",
                "\nPRH_SENSE_KEY=11\n", "MESSAGE=pr-out preempt on /dev/null", "\nSYSLOG_IDENTIFIER=prhd\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                CHECK_MSG(strstr(buf, want[i]), "'%s' not in the datagram: %s", want[i], buf);
        CHECK_MSG(!strcasestr(buf, "7e57ab1e") && !strcasestr(buf, "5ca1ab1e"),
                  "a key leaked despite --audit-redact-keys: %s", buf);
        close(s);
        close(d);
        helper_free(&h);
}

int main(int argc, char **argv) {
        const char *path = harness_helper_path(argc, argv);
        int s;
        unsigned conns = 0;

        test_require_root();
        if (harness_is_reference(path)) {
                fprintf(stderr, "SKIP: the reference has no policy\n");
                return 77;
        }
        prhctl = getenv("PRH_PRHCTL");
        harness_set_unsafe_any_fd(true);
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        CHECK(null_fd >= 0);

        if (helper_init(&H, path) < 0)
                return EXIT_FAILURE;
        snprintf(sock_b, sizeof sock_b, "%s/sock-b", H.dir);
        snprintf(config, sizeof config, "%s/config.json", H.dir);
        snprintf(auditlog, sizeof auditlog, "%s/audit.jsonl", H.dir);
        snprintf(admin, sizeof admin, "%s/admin", H.dir);
        write_file(config, "{\"sockets\": {\"default\": {}}}");
        const char *args[] = { "-k", sock_b, "--config", config, "--audit-log", auditlog, "--admin-socket", admin, NULL };
        /* helper_start() puts its own -k first: that socket is H.sock, the one policies name */
        if (helper_start(&H, args) < 0 || helper_wait_socket_path(&H, sock_b, 5000) < 0 ||
            helper_wait_socket_path(&H, admin, 5000) < 0) {
                fprintf(stderr, "could not start %s\n", path);
                helper_free(&H);
                return EXIT_FAILURE;
        }

        /* The start-up probes' connections may still be being accepted: wait until the count stands still. */
        int base = stats_total(), prev = -2;
        for (int i = 0; i < 50 && base != prev; i++) {
                sleep_ms(20);
                prev = base;
                base = stats_total();
        }
        CHECK_MSG(base >= 0, "no stats from the admin socket");
        conns = (unsigned) base;
        s = client_open(H.sock);
        CHECK(s >= 0);
        conns++;
        test_actions(s);
        test_peers(s);
        conns += 4;     /* as_nobody() */
        test_devices(s);
        test_sockets(s);
        conns++;
        test_audit_records();
        test_admin(conns);
        test_audit_query(s);
        test_denial_log_flood(s);

        test_begin("the first connection survived every reload");
        CHECK(client_still_open(s, 50));
        EXPECT_IN(s, 0x00, false);
        CHECK(helper_alive(&H));
        close(s);
        CHECK(helper_stop(&H, SIGTERM, 5000) == 0);
        CHECK(!path_exists(H.sock) && !path_exists(sock_b) && !path_exists(admin));
        helper_free(&H);

        test_startup_errors(path);
        test_activation(path);
        test_journal(path);
        return tests_finish_parts("test-policy");
}
