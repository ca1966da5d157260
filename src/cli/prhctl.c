/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhctl commands: open the device, connect, run one PR command through
 * libprh and report it for humans (stdout, errors on stderr) or as one JSON
 * object on stdout (--json; errors are then also a JSON object).  The exit
 * code classifies the outcome; see prhctl.h and prhctl(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "prhctl.h"

static const Command commands[] = {
        {"read-keys", COMMAND_IN, PRH_IN_READ_KEYS, false},
        {"read-reservation", COMMAND_IN, PRH_IN_READ_RESERVATION, false},
        {"report-capabilities", COMMAND_IN, PRH_IN_REPORT_CAPABILITIES, false},
        {"read-full-status", COMMAND_IN, PRH_IN_READ_FULL_STATUS, false},
        {"register", COMMAND_OUT, PRH_OUT_REGISTER, false},
        {"reserve", COMMAND_OUT, PRH_OUT_RESERVE, true},
        {"release", COMMAND_OUT, PRH_OUT_RELEASE, true},
        {"clear", COMMAND_OUT, PRH_OUT_CLEAR, false},
        {"preempt", COMMAND_OUT, PRH_OUT_PREEMPT, true},
        {"preempt-abort", COMMAND_OUT, PRH_OUT_PREEMPT_AND_ABORT, true},
        {"register-ignore", COMMAND_OUT, PRH_OUT_REGISTER_AND_IGNORE, false},
        {"register-move", COMMAND_OUT, PRH_OUT_REGISTER_AND_MOVE, true},
        {"replace-lost", COMMAND_OUT, PRH_OUT_REPLACE_LOST, true},
        {"probe", COMMAND_PROBE, 0, false},
};

const Command *command_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

void command_list(FILE *f) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                const Command *c = &commands[i];
                fprintf(f, "  %-22s %s\n", c->name,
                        c->kind == COMMAND_IN    ? prh_in_action_name((PrhInAction) c->action)
                        : c->kind == COMMAND_OUT ? prh_out_action_name((PrhOutAction) c->action)
                                                 : "connect, negotiate, report the helper's features");
        }
}

static const char *command_title(const Command *c) {
        return c->kind == COMMAND_IN    ? prh_in_action_name((PrhInAction) c->action)
               : c->kind == COMMAND_OUT ? prh_out_action_name((PrhOutAction) c->action)
                                        : "PROBE";
}

/* ---- JSON output ---- */

static void json_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                if (ch == '"' || ch == '\\')
                        printf("\\%c", ch);
                else if (ch < 0x20 || ch >= 0x7f)
                        printf("\\u%04x", ch);
                else
                        putchar(ch);
        }
        putchar('"');
}

static void json_key(const char *k, bool *first) {
        printf("%s", *first ? "" : ",");
        *first = false;
        json_string(k);
        putchar(':');
}

static void json_hex(const uint8_t *p, size_t n) {
        putchar('"');
        for (size_t i = 0; i < n; i++)
                printf("%02x", p[i]);
        putchar('"');
}

static void hex_dump(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i += 16) {
                printf("  %04zx:", i);
                for (size_t j = i; j < i + 16 && j < n; j++)
                        printf(" %02x", p[j]);
                putchar('\n');
        }
}

/* Sense bytes worth showing: fixed format = 8 + additional length, descriptor likewise. */
static size_t sense_len(const uint8_t *s) {
        size_t n = 8 + (size_t) s[7];
        return n > PRH_SENSE_BYTES ? PRH_SENSE_BYTES : n;
}

/* ---- outcome reporting ---- */

static int exit_for_status(int status) {
        switch (status) {
        case PRH_STATUS_GOOD:
                return EXIT_OK;
        case PRH_STATUS_CHECK_CONDITION:
                return EXIT_CHECK_CONDITION;
        case PRH_STATUS_RESERVATION_CONFLICT:
                return EXIT_RESERVATION_CONFLICT;
        default:
                return EXIT_OTHER_STATUS;
        }
}

/* A hint for outcomes whose cause is not obvious from the sense alone. */
static const char *status_hint(const PrhctlArgs *a, const PrhResult *res, bool opened_ro) {
        PrhSense s = prh_sense_decode(res->sense, sizeof(res->sense));

        if (res->status == PRH_STATUS_RESERVATION_CONFLICT)
                return "another I_T nexus holds a conflicting reservation, or the key is not registered";
        if (res->status != PRH_STATUS_CHECK_CONDITION || !s.valid)
                return NULL;
        if (a->command->kind == COMMAND_OUT && opened_ro && s.key == 0x5 && s.asc == 0x20 && s.ascq == 0)
                return "the helper refuses PR OUT on a device opened read-only; drop --readonly";
        if (s.key == 0xb && s.asc == 0x00 && s.ascq == 0x06)
                return "SG_IO failed in the helper: DEVICE is probably not a SCSI device";
        return NULL;
}

/* Print the SCSI status of a non-GOOD answer; returns the exit code. */
static int report_status(const PrhctlArgs *a, const PrhResult *res, bool opened_ro) {
        const char *hint = status_hint(a, res, opened_ro);
        char sense[200] = "";
        PrhSense s = prh_sense_decode(res->sense, sizeof(res->sense));

        if (res->status == PRH_STATUS_CHECK_CONDITION)
                prh_sense_describe(res->sense, sizeof(res->sense), sense, sizeof(sense));

        if (a->json) {
                bool first = true;
                putchar('{');
                json_key("command", &first);
                json_string(a->command->name);
                json_key("status", &first);
                json_string(prh_status_name(res->status));
                json_key("status_code", &first);
                printf("%d", res->status);
                if (res->status == PRH_STATUS_CHECK_CONDITION) {
                        bool f2 = true;
                        json_key("sense", &first);
                        putchar('{');
                        json_key("valid", &f2);
                        printf("%s", s.valid ? "true" : "false");
                        json_key("key", &f2);
                        printf("%u", s.key);
                        json_key("key_name", &f2);
                        json_string(prh_sense_key_name(s.key));
                        json_key("asc", &f2);
                        printf("%u", s.asc);
                        json_key("ascq", &f2);
                        printf("%u", s.ascq);
                        json_key("text", &f2);
                        json_string(sense);
                        json_key("hex", &f2);
                        json_hex(res->sense, s.valid ? sense_len(res->sense) : PRH_SENSE_BYTES);
                        putchar('}');
                }
                if (hint) {
                        json_key("hint", &first);
                        json_string(hint);
                }
                printf("}\n");
        }
        if (res->status == PRH_STATUS_CHECK_CONDITION)
                log_error("%s: CHECK CONDITION, %s", command_title(a->command), sense);
        else
                log_error("%s: %s (status 0x%02x)", command_title(a->command), prh_status_name(res->status),
                          (unsigned) res->status);
        if (hint)
                log_error("Hint: %s.", hint);
        return exit_for_status(res->status);
}

/* Report a libprh error; connected tells whether the request phase was reached. */
static int report_error(const PrhctlArgs *a, int r, bool connected) {
        int code = connected ? EXIT_HELPER_CLOSED : EXIT_UNREACHABLE;
        char msg[512];

        switch (-r) {
        case ENOENT:
                snprintf(msg, sizeof(msg),
                         "Helper socket '%s' does not exist: is qemu-pr-helper or prhd running? (-k SOCKET)",
                         a->socket);
                code = EXIT_UNREACHABLE;
                break;
        case ECONNREFUSED: {
                struct stat st;
                /* connect() to a regular file also says "refused". */
                if (stat(a->socket, &st) >= 0 && !S_ISSOCK(st.st_mode))
                        snprintf(msg, sizeof(msg), "'%s' is not a socket", a->socket);
                else
                        snprintf(msg, sizeof(msg),
                                 "Connection to '%s' refused: no helper is listening (stale socket file?)", a->socket);
                code = EXIT_UNREACHABLE;
                break;
        }
        case EACCES:
        case EPERM:
                snprintf(msg, sizeof(msg),
                         "Permission denied connecting to '%s': the socket's permissions exclude this user", a->socket);
                code = EXIT_UNREACHABLE;
                break;
        case ENOTSOCK:
        case ENOTDIR:
                snprintf(msg, sizeof(msg), "'%s' is not a socket", a->socket);
                code = EXIT_UNREACHABLE;
                break;
        case ECONNABORTED:
                snprintf(msg, sizeof(msg),
                         "Helper at '%s' closed the connection during the handshake "
                         "(connection limit reached, or it refused the requested features)",
                         a->socket);
                code = EXIT_UNREACHABLE;
                break;
        case EOPNOTSUPP:
                snprintf(msg, sizeof(msg), "Helper at '%s' does not support the requested features", a->socket);
                code = EXIT_UNREACHABLE;
                break;
        case ECONNRESET:
        case EPIPE:
                snprintf(msg, sizeof(msg),
                         "Helper closed the connection after receiving the %s request: "
                         "it rejected the request (see the helper's log)",
                         command_title(a->command));
                code = EXIT_HELPER_CLOSED;
                break;
        case EBADMSG:
                snprintf(msg, sizeof(msg), "Helper sent a malformed reply to %s", command_title(a->command));
                code = EXIT_HELPER_CLOSED;
                break;
        case ETIMEDOUT:
                if (connected)
                        snprintf(msg, sizeof(msg),
                                 "Timed out waiting for the answer to %s; the command may or may "
                                 "not have been executed",
                                 command_title(a->command));
                else
                        snprintf(msg, sizeof(msg), "Timed out connecting to '%s'", a->socket);
                break;
        case ENOMEM:
                snprintf(msg, sizeof(msg), "Out of memory");
                code = EXIT_INTERNAL;
                break;
        default:
                snprintf(msg, sizeof(msg), "%s failed: %s", connected ? command_title(a->command) : "Connecting",
                         prh_strerror(r));
                break;
        }
        if (a->json) {
                bool first = true;
                putchar('{');
                json_key("command", &first);
                json_string(a->command->name);
                json_key("error", &first);
                json_string(msg);
                json_key("errno", &first);
                printf("%d", -r);
                printf("}\n");
        }
        log_error("%s.", msg);
        return code;
}

static int open_device(const PrhctlArgs *a, bool *ret_ro) {
        bool ro = a->readonly || a->command->kind != COMMAND_OUT;
        int fd, err;
        char msg[512];

        /* O_NONBLOCK as sg_persist: opening must not wait for a medium. */
        fd = open(a->device, (ro ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
                *ret_ro = ro;
                return fd;
        }
        err = errno;
        switch (err) {
        case ENOENT:
                snprintf(msg, sizeof(msg), "Device '%s' not found", a->device);
                break;
        case EACCES:
        case EPERM:
                snprintf(msg, sizeof(msg), "Permission denied opening '%s' %s", a->device,
                         ro ? "for reading" : "for writing (PR OUT needs a writable fd)");
                break;
        case EROFS:
                snprintf(msg, sizeof(msg), "Device '%s' is read-only; PR OUT needs a writable fd", a->device);
                break;
        default:
                snprintf(msg, sizeof(msg), "Cannot open '%s': %s", a->device, strerror(err));
                break;
        }
        if (a->json) {
                bool first = true;
                putchar('{');
                json_key("command", &first);
                json_string(a->command->name);
                json_key("error", &first);
                json_string(msg);
                json_key("errno", &first);
                printf("%d}\n", err);
        }
        log_error("%s.", msg);
        return -err;
}

/* ---- PR IN output ---- */

static void print_keys(const PrhctlArgs *a, const PrhKeys *k) {
        if (a->json) {
                printf(",\"generation\":%u,\"keys\":[", k->generation);
                for (size_t i = 0; i < k->n_keys; i++)
                        printf("%s\"0x%llx\"", i ? "," : "", (unsigned long long) k->keys[i]);
                printf("],\"truncated\":%s", k->truncated ? "true" : "false");
                return;
        }
        printf("  PR generation=0x%x, ", k->generation);
        if (k->n_keys == 0 && !k->truncated)
                printf("there are NO registered reservation keys\n");
        else
                printf("%zu registered reservation key%s follow%s:\n", k->n_keys, k->n_keys == 1 ? "" : "s",
                       k->n_keys == 1 ? "s" : "");
        for (size_t i = 0; i < k->n_keys; i++)
                printf("    0x%llx\n", (unsigned long long) k->keys[i]);
        if (k->truncated)
                printf("  (truncated: the device reports %u bytes of keys)\n", k->additional_length);
}

static void print_reservation(const PrhctlArgs *a, const PrhReservation *r) {
        if (a->json) {
                printf(",\"generation\":%u,\"reserved\":%s", r->generation, r->reserved ? "true" : "false");
                if (r->reserved) {
                        printf(",\"key\":\"0x%llx\",\"scope\":%u,\"type\":%u,\"type_name\":",
                               (unsigned long long) r->key, r->scope, r->type);
                        json_string(prh_type_name(r->type));
                }
                return;
        }
        printf("  PR generation=0x%x, ", r->generation);
        if (!r->reserved) {
                printf("there is NO reservation held\n");
                return;
        }
        printf("Reservation follows:\n    Key=0x%llx\n    scope: %s,  type: %s\n", (unsigned long long) r->key,
               r->scope == PRH_SCOPE_LU ? "LU_SCOPE" : "obsolete/reserved scope", prh_type_name(r->type));
}

static void print_capabilities(const PrhctlArgs *a, const PrhCapabilities *c) {
        static const uint8_t types[] = {PRH_TYPE_WRITE_EXCLUSIVE,    PRH_TYPE_EXCLUSIVE_ACCESS,
                                        PRH_TYPE_WRITE_EXCLUSIVE_RO, PRH_TYPE_EXCLUSIVE_ACCESS_RO,
                                        PRH_TYPE_WRITE_EXCLUSIVE_AR, PRH_TYPE_EXCLUSIVE_ACCESS_AR};
        if (a->json) {
                printf(",\"length\":%u,\"rlr_c\":%s,\"crh\":%s,\"sip_c\":%s,\"atp_c\":%s,\"ptpl_c\":%s,\"tmv\":%s,"
                       "\"allow_commands\":%u,\"ptpl_a\":%s,\"type_mask\":%u,\"types\":[",
                       c->length, c->rlr_c ? "true" : "false", c->crh ? "true" : "false", c->sip_c ? "true" : "false",
                       c->atp_c ? "true" : "false", c->ptpl_c ? "true" : "false", c->tmv ? "true" : "false",
                       c->allow_commands, c->ptpl_a ? "true" : "false", c->type_mask);
                bool first = true;
                for (size_t i = 0; c->tmv && i < ELEMENTSOF(types); i++)
                        if (c->type_mask & (1u << types[i])) {
                                printf("%s%u", first ? "" : ",", types[i]);
                                first = false;
                        }
                printf("]");
                return;
        }
        printf("Report capabilities response:\n"
               "  Replace Lost Reservation Capable(RLR_C): %d\n"
               "  Compatible Reservation Handling(CRH): %d\n"
               "  Specify Initiator Ports Capable(SIP_C): %d\n"
               "  All Target Ports Capable(ATP_C): %d\n"
               "  Persist Through Power Loss Capable(PTPL_C): %d\n"
               "  Type Mask Valid(TMV): %d\n"
               "  Allow Commands: %u\n"
               "  Persist Through Power Loss Active(PTPL_A): %d\n",
               c->rlr_c, c->crh, c->sip_c, c->atp_c, c->ptpl_c, c->tmv, c->allow_commands, c->ptpl_a);
        if (c->tmv) {
                printf("    Support indicated in Type mask:\n");
                for (size_t i = 0; i < ELEMENTSOF(types); i++)
                        printf("      %s: %d\n", prh_type_name(types[i]), !!(c->type_mask & (1u << types[i])));
        }
}

static void print_full_status(const PrhctlArgs *a, const PrhFullStatus *fs) {
        char tid[400];

        if (a->json) {
                printf(",\"generation\":%u,\"truncated\":%s,\"registrations\":[", fs->generation,
                       fs->truncated ? "true" : "false");
                for (size_t i = 0; i < fs->n_entries; i++) {
                        const PrhFullStatusEntry *e = &fs->entries[i];
                        printf("%s{\"key\":\"0x%llx\",\"all_tg_pt\":%s,\"holder\":%s,\"scope\":%u,\"type\":%u,"
                               "\"relative_target_port\":%u,\"transport_id\":",
                               i ? "," : "", (unsigned long long) e->key, e->all_tg_pt ? "true" : "false",
                               e->holder ? "true" : "false", e->scope, e->type, e->rel_tgt_port);
                        if (e->tid_valid) {
                                prh_transport_id_format(&e->tid, tid, sizeof(tid));
                                json_string(tid);
                        } else
                                printf("null");
                        printf(",\"transport_id_hex\":");
                        json_hex(e->tid.raw, e->tid.raw_len);
                        printf("}");
                }
                printf("]");
                return;
        }
        printf("  PR generation=0x%x\n", fs->generation);
        if (fs->n_entries == 0)
                printf("  No full status descriptors\n");
        for (size_t i = 0; i < fs->n_entries; i++) {
                const PrhFullStatusEntry *e = &fs->entries[i];
                printf("    Key=0x%llx\n", (unsigned long long) e->key);
                printf("      All target ports bit %s, relative port address: 0x%x\n", e->all_tg_pt ? "set" : "clear",
                       e->rel_tgt_port);
                if (e->holder)
                        printf("      << Reservation holder >>\n      scope: %s,  type: %s\n",
                               e->scope == PRH_SCOPE_LU ? "LU_SCOPE" : "obsolete/reserved scope",
                               prh_type_name(e->type));
                else
                        printf("      not reservation holder\n");
                if (e->tid_valid) {
                        prh_transport_id_format(&e->tid, tid, sizeof(tid));
                        printf("      Transport Id: %s\n", tid);
                } else {
                        printf("      Transport Id (protocol 0x%x, not decoded):\n", e->tid.protocol);
                        hex_dump(e->tid.raw, e->tid.raw_len);
                }
        }
        if (fs->truncated)
                printf("  (truncated: more descriptors than the data held)\n");
}

static int run_in(const PrhctlArgs *a, PrhClient *c, int fd, bool ro) {
        _cleanup_free_ uint8_t *buf = malloc(PRH_MAX_DATA_SIZE);
        _cleanup_free_ PrhKeys *keys = NULL;
        _cleanup_free_ PrhFullStatusEntry *entries = NULL;
        PrhResult res;
        int r;

        if (!buf)
                return report_error(a, -ENOMEM, true);
        /* One raw PR IN, decoded here: --hex shows exactly the bytes decoded. */
        r = prh_pr_in(c, fd, (PrhInAction) a->command->action, buf, a->alloc_len, &res);
        if (r < 0)
                return report_error(a, r, true);
        if (res.status != PRH_STATUS_GOOD)
                return report_status(a, &res, ro);

        PrhKeys *k = NULL;
        PrhReservation rsv;
        PrhCapabilities caps;
        PrhFullStatus fs = {};
        switch (a->command->action) {
        case PRH_IN_READ_KEYS:
                k = keys = calloc(1, sizeof(*keys));
                r = keys ? prh_decode_keys(buf, res.data_len, keys) : -ENOMEM;
                break;
        case PRH_IN_READ_RESERVATION:
                r = prh_decode_reservation(buf, res.data_len, &rsv);
                break;
        case PRH_IN_REPORT_CAPABILITIES:
                r = prh_decode_capabilities(buf, res.data_len, &caps);
                break;
        default:
                entries = calloc(res.data_len / 24 + 1, sizeof(*entries));
                r = entries ? prh_decode_full_status(buf, res.data_len, &fs, entries, res.data_len / 24 + 1) : -ENOMEM;
                fs.entries = entries;
                break;
        }
        if (r == -EBADMSG) {
                if (!a->json)
                        hex_dump(buf, res.data_len);
                return report_error(a, r, true);
        }
        if (r < 0)
                return report_error(a, r, true);

        if (a->json) {
                bool first = true;
                putchar('{');
                json_key("command", &first);
                json_string(a->command->name);
                json_key("status", &first);
                json_string("GOOD");
                printf(",\"status_code\":0");
                if (a->hex) {
                        printf(",\"data\":");
                        json_hex(buf, res.data_len);
                }
        }
        switch (a->command->action) {
        case PRH_IN_READ_KEYS:
                print_keys(a, k);
                break;
        case PRH_IN_READ_RESERVATION:
                print_reservation(a, &rsv);
                break;
        case PRH_IN_REPORT_CAPABILITIES:
                print_capabilities(a, &caps);
                break;
        default:
                print_full_status(a, &fs);
                break;
        }
        if (a->json)
                printf("}\n");
        else if (a->hex) {
                printf("  data (%zu bytes):\n", res.data_len);
                hex_dump(buf, res.data_len);
        }
        return EXIT_OK;
}

static int run_out(const PrhctlArgs *a, PrhClient *c, int fd, bool ro) {
        PrhResult res;
        int r;

        r = prh_pr_out(c, fd, (PrhOutAction) a->command->action, &a->out, &res);
        if (r == -EINVAL || r == -E2BIG) {
                log_error("%s: these parameters cannot be encoded: %s.", command_title(a->command), prh_strerror(r));
                return EXIT_USAGE;
        }
        if (r < 0)
                return report_error(a, r, true);
        if (res.status != PRH_STATUS_GOOD)
                return report_status(a, &res, ro);
        if (a->json)
                printf("{\"command\":\"%s\",\"status\":\"GOOD\",\"status_code\":0}\n", a->command->name);
        else
                printf("%s: GOOD\n", command_title(a->command));
        return EXIT_OK;
}

static int run_probe(const PrhctlArgs *a, PrhClient *c, int fd) {
        uint32_t features = 0;
        PrhResult res = {};
        uint8_t buf[8];
        int r;

        (void) prh_client_get_features(c, &features);
        if (fd >= 0) {
                /* A READ KEYS with 8 bytes of allocation: does the helper accept this fd? */
                r = prh_pr_in(c, fd, PRH_IN_READ_KEYS, buf, sizeof(buf), &res);
                if (r < 0)
                        return report_error(a, r, true);
        }
        if (a->json) {
                printf("{\"command\":\"probe\",\"socket\":");
                json_string(a->socket);
                printf(",\"connected\":true,\"features\":%u", features);
                if (fd >= 0) {
                        printf(",\"device\":");
                        json_string(a->device);
                        printf(",\"device_status\":");
                        json_string(prh_status_name(res.status));
                        printf(",\"device_status_code\":%d", res.status);
                }
                printf("}\n");
        } else {
                printf("Helper socket: %s\nConnected: yes\nFeatures: 0x%08x%s\n", a->socket, features,
                       features == 0 ? " (none)" : "");
                if (fd >= 0) {
                        char sense[200] = "";
                        if (res.status == PRH_STATUS_CHECK_CONDITION)
                                prh_sense_describe(res.sense, sizeof(res.sense), sense, sizeof(sense));
                        printf("Device %s: READ KEYS answered %s%s%s\n", a->device, prh_status_name(res.status),
                               *sense ? ", " : "", sense);
                }
        }
        return EXIT_OK;
}

int prhctl_run(const PrhctlArgs *a) {
        PrhClient *c = NULL;
        _cleanup_close_ int fd = -EBADF;
        bool ro = true;
        int r, code;

        if (a->device) {
                fd = open_device(a, &ro);
                if (fd < 0)
                        return EXIT_DEVICE;
        }

        r = prh_client_new(a->socket, &c);
        if (r < 0)
                return report_error(a, r, false);
        (void) prh_client_set_timeouts(c, a->connect_ms, a->request_ms);
        (void) prh_client_set_retry(c, a->attempts, a->retry_delay_ms);

        /* Connect first so that "unreachable" and "dropped the request" are told apart. */
        for (unsigned i = 0;; i++) {
                r = prh_client_connect(c);
                if (r >= 0 || r == -EOPNOTSUPP || i + 1 >= a->attempts)
                        break;
                usleep((useconds_t) a->retry_delay_ms * 1000);
        }
        if (r < 0) {
                code = report_error(a, r, false);
                goto finish;
        }

        switch (a->command->kind) {
        case COMMAND_PROBE:
                code = run_probe(a, c, fd);
                break;
        case COMMAND_IN:
                code = run_in(a, c, fd, ro);
                break;
        default:
                code = run_out(a, c, fd, ro);
                break;
        }
finish:
        prh_client_free(c);
        return code;
}
