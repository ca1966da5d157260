/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Byte-for-byte comparison: the same protocol scenarios run against the
 * reference ($PRH_REFERENCE, qemu-pr-helper) and the helper under test
 * ($PRH_HELPER, prhd); every reply (header, sense, payload), every
 * connection close and every log message is compared.  Each difference
 * must be one of the deliberate fixes below, and each deliberate fix seen
 * must be described in docs/compatibility.md ($PRH_SOURCE_ROOT); anything
 * else fails with a hex dump of both replies.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* ---- deliberate fixes prhd may show ---- */

typedef enum Fix {
        FIX_NONE = 0,
        FIX_SENSE_TAIL,         /* sense bytes 18..95 zero instead of stack contents */
        FIX_ENODEV,             /* ENODEV -> HARDWARE ERROR 44/00 (QEMU >= 10.1) instead of 0B/00/06 */
        FIX_STALE_PAYLOAD,      /* PR IN payload bytes the device did not write are zero (reference: stale buffer) */
        REFS_UNWRITTEN_PAYLOAD, /* two references: unwritten PR IN bytes are each one's own stale buffer */
        _FIX_MAX,
} Fix;

static const struct {
        const char *name;
        const char *doc_keyword;        /* must appear in docs/compatibility.md */
} fixes[_FIX_MAX] = {
        [FIX_SENSE_TAIL] = { "sense bytes 18..95 zero", "18..95" },
        [FIX_ENODEV] = { "ENODEV mapped to HARDWARE ERROR 44/00 as in QEMU >= 10.1", "ENODEV" },
        [FIX_STALE_PAYLOAD] = { "PR IN payload bytes the device did not write are zero, never stale or uninitialised buffer contents",
                                "previous request" },
        [REFS_UNWRITTEN_PAYLOAD] = { "references 7.2 and 10.0: PR IN payload the device did not write is each one's stale buffer",
                                     "heap reuse" },
};

/*
 * $PRH_COMPARE_REFERENCES set: both binaries are references (7.2 and 10.0).
 * None of prhd's fixes may show; the one accepted difference is the content
 * of PR IN payload bytes the device did not write (the FUSE "good" device
 * writes none), which both send from a buffer whose contents depend on heap
 * reuse (docs/compatibility.md, "QEMU 7.2 and 10.0").
 */
static bool references_only;
static bool device_writes_no_payload;   /* the running scenario's device writes no PR IN data */
static unsigned fix_seen[_FIX_MAX];

/* ---- transcripts ---- */

typedef enum EntryKind {
        ENTRY_REPLY,
        ENTRY_CLOSED,           /* helper closed the connection (no bytes) */
        ENTRY_BYTES,            /* raw bytes (handshake) */
        ENTRY_ERROR,            /* timeout, short reply, ... */
} EntryKind;

typedef struct Entry {
        EntryKind kind;
        int error;
        uint8_t cdb[PRH_CDB_SIZE];
        uint8_t header[PRH_REPLY_HEADER_SIZE];
        uint32_t payload_len;
        uint8_t *payload;
} Entry;

typedef struct Transcript {
        Entry e[128];
        size_t n;
        char *log;              /* normalised log lines */
} Transcript;

typedef struct Ctx {
        Helper *h;
        Transcript *t;
        int sock;
} Ctx;

static Helper REF, UUT;
static FuseDev F;
static bool have_fuse;
static int null_rw = -1, null_ro = -1, null_wo = -1;

static Entry *entry_new(Ctx *c, EntryKind kind) {
        Entry *e;

        if (c->t->n >= ELEMENTSOF(c->t->e))
                abort();
        e = &c->t->e[c->t->n++];
        memset(e, 0, sizeof *e);
        e->kind = kind;
        return e;
}

static void rec_reply(Ctx *c, const uint8_t cdb[PRH_CDB_SIZE]) {
        static Reply rep;
        int r = client_read_reply(c->sock, cdb, &rep, 10000);
        Entry *e;

        if (r == 1) {
                entry_new(c, ENTRY_CLOSED);
                return;
        }
        if (r < 0) {
                e = entry_new(c, ENTRY_ERROR);
                e->error = r;
                memcpy(e->header, rep.header, sizeof e->header);
                return;
        }
        e = entry_new(c, ENTRY_REPLY);
        memcpy(e->cdb, cdb, PRH_CDB_SIZE);
        memcpy(e->header, rep.header, sizeof e->header);
        e->payload_len = rep.payload_len;
        if (rep.payload_len) {
                e->payload = malloc(rep.payload_len);
                memcpy(e->payload, rep.payload, rep.payload_len);
        }
}

static void req(Ctx *c, const uint8_t cdb[PRH_CDB_SIZE], const uint8_t *data, int fd) {
        int r = client_send_request(c->sock, cdb, data, fd);

        if (r < 0) {
                Entry *e = entry_new(c, ENTRY_ERROR);
                e->error = r;
                return;
        }
        rec_reply(c, cdb);
}

static int fuse_fd(const char *name, int flags) {
        int fd = have_fuse ? fuse_dev_open(&F, name, flags) : -1;

        return fd >= 0 ? fd : null_rw;
}

/* ---- scenarios ---- */

static const uint8_t pattern[PRH_DATA_SIZE] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static void sc_pr_in_null(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        static const uint16_t lens[] = { 0, 1, 8, 40, 8192 };
        for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
                cdb_pr_in(cdb, 0, lens[i]);
                req(c, cdb, NULL, null_rw);
        }
}

static void sc_pr_out_null(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        static const uint16_t lens[] = { 0, 24, 28, 8192 };
        for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
                cdb_pr_out(cdb, 0, 0x01, lens[i]);
                req(c, cdb, pattern, null_rw);
        }
}

static void sc_access_modes(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        cdb_pr_out(cdb, 0, 0, 24);
        req(c, cdb, pattern, null_ro);
        req(c, cdb, pattern, null_wo);
        cdb_pr_in(cdb, 0, 24);
        req(c, cdb, NULL, null_ro);
        cdb_pr_out(cdb, 0, 0, 0);
        req(c, cdb, NULL, null_ro);
}

static void sc_service_actions(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        for (uint8_t sa = 0; sa < 32; sa++) {
                cdb_pr_in(cdb, sa, 24);
                req(c, cdb, NULL, null_rw);
                cdb_pr_out(cdb, sa, 0x05, 24);
                req(c, cdb, pattern, null_rw);
        }
}

static void sc_odd_cdb_bytes(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        cdb_pr_in(cdb, 0, 24);
        memset(cdb + 9, 0xff, 7);
        cdb[1] = 0xff;
        req(c, cdb, NULL, null_rw);
        cdb_pr_out(cdb, 0, 0, 24);
        cdb[5] = 1;
        cdb[6] = 2;
        req(c, cdb, pattern, null_rw);
        cdb_pr_in(cdb, 0, 24);
        req(c, cdb, NULL, null_rw);
}

static void sc_handshake_bytes(Ctx *c) {
        uint8_t b[8];
        int s = client_connect(c->h->sock);
        ssize_t k = s >= 0 ? recv(s, b, sizeof b, 0) : -1;
        Entry *e = entry_new(c, ENTRY_BYTES);

        e->payload_len = k > 0 ? (uint32_t) k : 0;
        e->payload = malloc(8);
        memcpy(e->payload, b, e->payload_len);
        if (s >= 0)
                close(s);
}

static void sc_split_cdb(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE], buf[PRH_CDB_SIZE + 24];
        cdb_pr_in(cdb, 0, 40);
        (void) client_send(c->sock, cdb, 5, -1, -1);
        sleep_ms(10);
        (void) client_send(c->sock, cdb + 5, 11, null_rw, -1);
        rec_reply(c, cdb);
        for (unsigned i = 0; i < PRH_CDB_SIZE; i++) {
                (void) client_send(c->sock, cdb + i, 1, i == 15 ? null_ro : -1, -1);
                sleep_ms(1);
        }
        rec_reply(c, cdb);
        cdb_pr_out(cdb, 0, 0, 24);
        memcpy(buf, cdb, PRH_CDB_SIZE);
        memcpy(buf + PRH_CDB_SIZE, pattern, 24);
        (void) client_send(c->sock, buf, sizeof buf, null_ro, -1);
        rec_reply(c, cdb);
}

static void sc_pipelined(Ctx *c) {
        uint8_t c1[PRH_CDB_SIZE], c2[PRH_CDB_SIZE], c3[PRH_CDB_SIZE];
        int good = fuse_fd("good", O_RDWR), e = fuse_fd("e33", O_RDWR);
        cdb_pr_in(c1, 0, 40);
        cdb_pr_out(c2, 0, 0, 24);
        cdb_pr_in(c3, 0, 16);
        (void) client_send_request(c->sock, c1, NULL, e);
        (void) client_send_request(c->sock, c2, pattern, null_ro);
        (void) client_send_request(c->sock, c3, NULL, good);
        rec_reply(c, c1);
        rec_reply(c, c2);
        rec_reply(c, c3);
        if (good != null_rw)
                close(good);
        if (e != null_rw)
                close(e);
}

static void sc_fuse_good(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        static const uint16_t lens[] = { 0, 1, 24, 4096, 8192 };
        int fd = fuse_fd("good", O_RDWR);
        for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
                cdb_pr_in(cdb, 0, lens[i]);
                req(c, cdb, NULL, fd);
        }
        cdb_pr_out(cdb, 0, 0, 24);
        req(c, cdb, pattern, fd);
        cdb_pr_out(cdb, 0, 0, 0);
        req(c, cdb, NULL, fd);
        if (fd != null_rw)
                close(fd);
}

/* The reference's PR IN buffer keeps the previous request's bytes (bug 7.7). */
static void sc_fuse_stale(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        int fd = fuse_fd("good", O_RDWR);
        cdb_pr_out(cdb, 0, 0, 64);
        req(c, cdb, pattern, fd);
        cdb_pr_in(cdb, 0, 64);
        req(c, cdb, NULL, fd);
        if (fd != null_rw)
                close(fd);
}

static int current_errno;

static void sc_fuse_errno(Ctx *c) {
        uint8_t cdb[PRH_CDB_SIZE];
        char name[16];
        int fd;

        snprintf(name, sizeof name, "e%d", current_errno);
        fd = fuse_fd(name, O_RDWR);
        cdb_pr_in(cdb, 0, 40);
        req(c, cdb, NULL, fd);
        cdb_pr_out(cdb, 0, 0, 24);
        req(c, cdb, pattern, fd);
        if (fd != null_rw)
                close(fd);
}

/* fds of every kind a client might pass: only their SG_IO errno and access mode matter. */
static void sc_odd_fds(Ctx *c) {
        uint8_t in[PRH_CDB_SIZE], out[PRH_CDB_SIZE];
        int fds[8], n = 0, p[2], sp[2];

        fds[n++] = open("/dev/null", O_PATH | O_CLOEXEC);      /* ioctl: EBADF; access mode reads as O_RDONLY */
        fds[n++] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pipe2(p, O_CLOEXEC) == 0) {
                fds[n++] = p[0];
                fds[n++] = p[1];
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
                fds[n++] = sp[0];
                close(sp[1]);
        }
        fds[n++] = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        cdb_pr_in(in, 0, 24);
        cdb_pr_out(out, 0, 0, 24);
        for (int i = 0; i < n; i++) {
                if (fds[i] < 0)
                        continue;
                req(c, in, NULL, fds[i]);
                req(c, out, pattern, fds[i]);
                close(fds[i]);
        }
}

/* Framing with the fd on bytes that belong to something else. */
static void sc_fd_on_handshake_and_cdb(Ctx *c) {
        uint8_t buf[PRH_HANDSHAKE_SIZE + PRH_CDB_SIZE] = {}, hs[PRH_HANDSHAKE_SIZE];
        int s = client_connect(c->h->sock);

        if (s < 0)
                return;
        /* Handshake answer and CDB in one sendmsg with the fd: the fd rides on the handshake bytes. */
        cdb_pr_in(buf + PRH_HANDSHAKE_SIZE, 0, 24);
        (void) client_send(s, buf, sizeof buf, null_rw, -1);
        (void) recv(s, hs, sizeof hs, MSG_WAITALL);
        close(c->sock);
        c->sock = s;
        rec_reply(c, buf + PRH_HANDSHAKE_SIZE);
}

static void sc_fd_on_data_and_next_cdb(Ctx *c) {
        uint8_t c1[PRH_CDB_SIZE], buf[24 + PRH_CDB_SIZE];

        /* PR OUT CDB with its fd; then its data and the next CDB in one sendmsg with a fd. */
        cdb_pr_out(c1, 0, 0, 24);
        memcpy(buf, pattern, 24);
        cdb_pr_in(buf + 24, 0, 24);
        (void) client_send(c->sock, c1, sizeof c1, null_ro, -1);
        (void) client_send(c->sock, buf, sizeof buf, null_rw, -1);
        rec_reply(c, c1);
        rec_reply(c, buf + 24);
}

static void sc_two_cdbs_one_fd(Ctx *c) {
        uint8_t buf[2 * PRH_CDB_SIZE];

        /* Two CDBs in one sendmsg with a single fd: the second has none. */
        cdb_pr_in(buf, 0, 24);
        cdb_pr_in(buf + PRH_CDB_SIZE, 0, 32);
        (void) client_send(c->sock, buf, sizeof buf, null_rw, -1);
        rec_reply(c, buf);
        rec_reply(c, buf + PRH_CDB_SIZE);
}

static void sc_handshake_trickle(Ctx *c) {
        uint8_t hs[PRH_HANDSHAKE_SIZE], cdb[PRH_CDB_SIZE];
        int s = client_connect(c->h->sock);

        if (s < 0)
                return;
        (void) recv(s, hs, sizeof hs, MSG_WAITALL);
        proto_handshake_encode(hs, 0);
        for (unsigned i = 0; i < PRH_HANDSHAKE_SIZE; i++) {
                (void) client_send(s, hs + i, 1, -1, -1);
                sleep_ms(5);
        }
        close(c->sock);
        c->sock = s;
        cdb_pr_in(cdb, 0, 24);
        req(c, cdb, NULL, null_rw);
}

/* Requests followed by shutdown(SHUT_WR): every reply still comes, then EOF. */
static void sc_half_close(Ctx *c) {
        uint8_t c1[PRH_CDB_SIZE], c2[PRH_CDB_SIZE], c3[PRH_CDB_SIZE];
        int good = fuse_fd("slow", O_RDWR);

        cdb_pr_in(c1, 0, 24);
        cdb_pr_out(c2, 0, 0, 24);
        cdb_pr_in(c3, 0, 8);
        (void) client_send_request(c->sock, c1, NULL, null_rw);
        (void) client_send_request(c->sock, c2, pattern, null_ro);
        (void) client_send_request(c->sock, c3, NULL, good);      /* stalls 1 s when FUSE is there */
        (void) shutdown(c->sock, SHUT_WR);
        rec_reply(c, c1);
        rec_reply(c, c2);
        rec_reply(c, c3);
        rec_reply(c, c3);       /* then the helper closes */
        if (good != null_rw)
                close(good);
}

static const Violation *current_violation;

static void sc_violation(Ctx *c) {
        Entry *e;
        int r = violation_perform(current_violation, c->h->sock, null_rw, 5000);

        e = entry_new(c, r == 0 ? ENTRY_CLOSED : ENTRY_ERROR);
        e->error = r;
}

/* ---- running and comparing ---- */

/*
 * Strip "<program>: " so both helpers' messages compare, and the peer that
 * prhd attaches to a connection's lines under a configuration or audit
 * records (" [connection N, pid P uid U gid G]": the prhd-policy variant).
 */
static char *normalise_log(const char *raw) {
        size_t n = strlen(raw);
        char *out = malloc(n + 1), *o = out;

        for (const char *line = raw; *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                const char *colon = memchr(line, ':', len);
                const char *msg = line;
                if (colon && colon + 2 <= line + len && colon[1] == ' ' && !memchr(line, ' ', (size_t) (colon - line)))
                        msg = colon + 2;
                size_t mlen = len - (size_t) (msg - line);
                const char *peer = NULL;
                for (const char *p = msg; (p = memmem(p, mlen - (size_t) (p - msg), " [connection ", 13)); p++)
                        peer = p;
                if (peer && msg[mlen - 1] == ']' && memmem(peer, mlen - (size_t) (peer - msg), ", pid ", 6))
                        mlen = (size_t) (peer - msg);
                memcpy(o, msg, mlen);
                o += mlen;
                *o++ = '\n';
                line += len + (nl ? 1 : 0);
        }
        *o = 0;
        return out;
}

static void run_on(Helper *h, void (*fn)(Ctx *), Transcript *t) {
        Ctx c = { .h = h, .t = t, .sock = -1 };
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;
        int sync;

        memset(t, 0, sizeof *t);
        helper_stderr_mark(h);
        c.sock = client_open(h->sock);
        fn(&c);
        if (c.sock >= 0)
                close(c.sock);
        /* Let messages for this scenario arrive, then sync with one healthy request. */
        sleep_ms(30);
        sync = client_open(h->sock);
        if (sync >= 0) {
                cdb_pr_in(cdb, 0, 8);
                (void) client_roundtrip(sync, cdb, NULL, null_rw, &rep);
                close(sync);
        }
        /* A violation's message may trail the close (client_closes rows) under load. */
        if (fn == sc_violation && current_violation->message)
                (void) helper_stderr_wait(h, current_violation->message, 3000);
        helper_stderr_quiet(h, 100, 1000);
        _cleanup_free_ char *raw = helper_stderr_since_mark(h);
        t->log = normalise_log(raw);
}

static void transcript_free(Transcript *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->e[i].payload);
        free(t->log);
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/* Classify one differing reply pair; FIX_NONE = not allowed. */
static Fix classify(const Entry *r, const Entry *u) {
        const size_t sense_tail = 8 + PRH_FIXED_SENSE_LEN;

        if (references_only) {
                if (device_writes_no_payload && memcmp(r->header, u->header, PRH_REPLY_HEADER_SIZE) == 0 &&
                    r->payload_len == u->payload_len && r->payload_len > 0)
                        return REFS_UNWRITTEN_PAYLOAD;
                return FIX_NONE;
        }

        /* Same except sense 18..95, and ours are zero. */
        if (memcmp(r->header, u->header, sense_tail) == 0 && all_zero(u->header + sense_tail, PRH_REPLY_HEADER_SIZE - sense_tail) &&
            r->payload_len == u->payload_len &&
            (r->payload_len == 0 || memcmp(r->payload, u->payload, r->payload_len) == 0))
                return FIX_SENSE_TAIL;
        /* ENODEV: 0B/00/06 in 7.2, 04/44/00 in prhd. */
        if (current_errno == ENODEV && memcmp(r->header, REPLY_ENOTTY, PRH_REPLY_HEADER_SIZE) == 0 &&
            memcmp(u->header, "\0\0\0\2\0\0\0\0\x70\0\x04\0\0\0\0\x0a\0\0\0\0\x44\0", 22) == 0 &&
            all_zero(u->header + 22, PRH_REPLY_HEADER_SIZE - 22))
                return FIX_ENODEV;
        /* Same header, payload differs, ours zero. */
        if (memcmp(r->header, u->header, PRH_REPLY_HEADER_SIZE) == 0 && r->payload_len == u->payload_len &&
            all_zero(u->payload, u->payload_len))
                return FIX_STALE_PAYLOAD;
        return FIX_NONE;
}

static const char *kind_name(EntryKind k) {
        switch (k) {
        case ENTRY_REPLY:
                return "reply";
        case ENTRY_CLOSED:
                return "connection closed";
        case ENTRY_BYTES:
                return "bytes";
        default:
                return "error";
        }
}

static void compare(const char *name, void (*fn)(Ctx *)) {
        Transcript rt, ut;
        bool equal = true;
        Fix seen[_FIX_MAX] = {};

        test_begin(name);
        device_writes_no_payload = fn == sc_fuse_good || fn == sc_fuse_stale;
        run_on(&REF, fn, &rt);
        run_on(&UUT, fn, &ut);

        CHECK_MSG(rt.n == ut.n, "reference produced %zu events, helper %zu", rt.n, ut.n);
        for (size_t i = 0; i < MIN(rt.n, ut.n); i++) {
                const Entry *r = &rt.e[i], *u = &ut.e[i];
                if (r->kind != u->kind) {
                        CHECK_MSG(false, "event %zu: reference %s (%d), helper %s (%d)", i, kind_name(r->kind),
                                  r->error, kind_name(u->kind), u->error);
                        equal = false;
                        continue;
                }
                if (r->kind == ENTRY_REPLY) {
                        bool same = memcmp(r->header, u->header, PRH_REPLY_HEADER_SIZE) == 0 &&
                                    r->payload_len == u->payload_len &&
                                    (r->payload_len == 0 || memcmp(r->payload, u->payload, r->payload_len) == 0);
                        if (same)
                                continue;
                        equal = false;
                        Fix f = classify(r, u);
                        if (f != FIX_NONE) {
                                if (f == FIX_STALE_PAYLOAD && !fix_seen[f] && !seen[f])
                                        hexdump("reference payload (first 32 bytes)", r->payload, MIN(r->payload_len, 32u));
                                if (f == REFS_UNWRITTEN_PAYLOAD && !seen[f]) {
                                        hexdump("first reference payload (first 32 bytes) ", r->payload, MIN(r->payload_len, 32u));
                                        hexdump("second reference payload (first 32 bytes)", u->payload, MIN(u->payload_len, 32u));
                                }
                                seen[f] = true;
                                continue;
                        }
                        CHECK_MSG(false, "reply %zu differs and is no deliberate fix", i);
                        hexdump("cdb", r->cdb, PRH_CDB_SIZE);
                        hexdump("reference", r->header, PRH_REPLY_HEADER_SIZE);
                        hexdump("helper   ", u->header, PRH_REPLY_HEADER_SIZE);
                        if (r->payload_len || u->payload_len) {
                                hexdump("reference payload", r->payload, MIN(r->payload_len, 64u));
                                hexdump("helper payload   ", u->payload, MIN(u->payload_len, 64u));
                        }
                } else if (r->kind == ENTRY_BYTES) {
                        CHECK_MSG(r->payload_len == u->payload_len &&
                                  memcmp(r->payload, u->payload, r->payload_len) == 0,
                                  "event %zu: raw bytes differ", i);
                }
        }
        CHECK_MSG(strcmp(rt.log, ut.log) == 0, "log messages differ:\n--- reference\n%s--- helper\n%s", rt.log, ut.log);

        fprintf(stderr, "  %zu events: %s", rt.n, equal ? "byte-for-byte equal" : "differs:");
        for (int f = 1; f < _FIX_MAX; f++)
                if (seen[f]) {
                        fprintf(stderr, " [deliberate fix: %s]", fixes[f].name);
                        fix_seen[f]++;
                }
        fputc('\n', stderr);
        transcript_free(&rt);
        transcript_free(&ut);
}

static void check_documented(void) {
        const char *root = getenv("PRH_SOURCE_ROOT");
        char p[512];
        _cleanup_free_ char *doc = NULL;

        test_begin("every deliberate difference seen is documented in docs/compatibility.md");
        if (!root) {
                fprintf(stderr, "  (PRH_SOURCE_ROOT not set; not checked)\n");
                return;
        }
        snprintf(p, sizeof p, "%s/docs/compatibility.md", root);
        doc = read_file_str(p);
        for (int f = 1; f < _FIX_MAX; f++) {
                if (!fix_seen[f])
                        continue;
                CHECK_MSG(doc && strstr(doc, fixes[f].doc_keyword),
                          "difference '%s' (seen in %u scenarios) not described in %s (looked for '%s')",
                          fixes[f].name, fix_seen[f], p, fixes[f].doc_keyword);
        }
}

static int start(Helper *h, const char *path) {
        int r = helper_init(h, path);

        if (r < 0)
                return r;
        return helper_start(h, NULL);
}

int main(int argc, char **argv) {
        static const int errnos[] = { EDOM, ENODEV, EREMOTEIO, EBADE, ENODATA, ENOMEDIUM, ENOMEM, EINVAL,
                                      ENOSPC, ENOTTY, EPERM, EIO, EBUSY, EFAULT, EAGAIN, ETIMEDOUT, ENOENT };
        const char *ref = getenv("PRH_REFERENCE");
        const char *uut = harness_helper_path(argc, argv);
        int r;

        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        references_only = getenv("PRH_COMPARE_REFERENCES") != NULL;
        if (!ref || !*ref)
                ref = "/usr/bin/qemu-pr-helper";
        if (access(ref, X_OK) < 0)
                test_skip("reference qemu-pr-helper not installed");
        fprintf(stderr, "reference: %s\nhelper:    %s\n", ref, uut);
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        null_ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
        null_wo = open("/dev/null", O_WRONLY | O_CLOEXEC);
        r = fuse_dev_start(&F, 1);
        have_fuse = r >= 0;
        if (!have_fuse) {
                fprintf(stderr, "FUSE device unavailable (%s): GOOD and errno scenarios use /dev/null\n", strerror(-r));
                test_skip_part("no FUSE device: the GOOD and SG_IO errno comparisons not run");
        }
        if (start(&REF, ref) < 0 || start(&UUT, uut) < 0) {
                fprintf(stderr, "could not start both helpers\n");
                return EXIT_FAILURE;
        }

        compare("handshake bytes", sc_handshake_bytes);
        compare("PR IN on /dev/null, lengths 0..8192", sc_pr_in_null);
        compare("PR OUT on /dev/null, lengths 0..8192", sc_pr_out_null);
        compare("access modes: PR OUT O_RDONLY/O_WRONLY, PR IN O_RDONLY", sc_access_modes);
        compare("all 32 service actions, PR IN and PR OUT", sc_service_actions);
        compare("CDB bytes 1, 5-6 and 9-15 set", sc_odd_cdb_bytes);
        compare("split CDBs and CDB+data in one sendmsg", sc_split_cdb);
        compare("pipelined burst of three", sc_pipelined);
        compare("fds of other kinds: O_PATH, directory, pipe, socket, procfs", sc_odd_fds);
        compare("handshake answer sent byte by byte", sc_handshake_trickle);
        compare("handshake answer, CDB and fd in one sendmsg", sc_fd_on_handshake_and_cdb);
        compare("PR OUT data, next CDB and a fd in one sendmsg", sc_fd_on_data_and_next_cdb);
        compare("two CDBs in one sendmsg with one fd", sc_two_cdbs_one_fd);
        compare("three requests, then shutdown(SHUT_WR): three replies, then EOF", sc_half_close);
        if (have_fuse) {
                compare("GOOD from the device: PR IN lengths, PR OUT", sc_fuse_good);
                compare("PR IN GOOD after a PR OUT on the same connection", sc_fuse_stale);
                for (size_t i = 0; i < ELEMENTSOF(errnos); i++) {
                        char title[80];
                        current_errno = errnos[i];
                        snprintf(title, sizeof title, "SG_IO fails with errno %d (%s)", errnos[i], strerror(errnos[i]));
                        compare(title, sc_fuse_errno);
                }
                current_errno = 0;
        }
        for (size_t i = 0; i < n_violations; i++) {
                char title[96];
                if (violations[i].racy_message)
                        continue;
                current_violation = &violations[i];
                snprintf(title, sizeof title, "violation: %s", violations[i].name);
                compare(title, sc_violation);
        }
        check_documented();

        helper_free(&REF);
        helper_free(&UUT);
        fuse_dev_stop(&F);
        return tests_finish_parts("test-compare");
}
