/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig-sgio-device: the SG_IO path of both helpers (the reference
 * qemu-pr-helper and prhd) against a device that answers what the test
 * says (sgio-cuse, a CUSE character device), run in the rig guest where
 * the cuse module exists.  It holds each helper to what it really does:
 *
 *   fields   what the helper puts in the sg_io_hdr: interface 'S', cmd_len
 *            16, the CDB as sent, PR IN 8192 bytes from the device, PR OUT
 *            the parameter list, 96 sense bytes, no flags; the timeout:
 *            the reference's 1 ms, prhd's --sgio-timeout (default 5000)
 *            (docs/compatibility.md row 5)
 *   host     every Linux host_status (DID_*) and unknown values: the
 *            reference reports the unknown ones as GOOD, prhd as ABORTED
 *            COMMAND 00/06 (row 1)
 *   sense    device status and sense (all 96 bytes) passed through;
 *            driver_status, errno
 *   stale    a PR IN after one that filled the data buffer, answered GOOD
 *            with resid 0 but fewer bytes written: the reference sends the
 *            earlier reply's bytes, prhd zeros (row 9)
 *   resid    resid beyond the buffer, or so negative that 8192 - resid
 *            overflows: prhd clamps, the reference dies on its assertion
 *            (row 7); resid -1: 8192 bytes from both
 *
 *   sgio-device-test SGIO-CUSE REFERENCE PRHD
 *
 * Needs root and /dev/cuse (modprobe cuse); test/vm/sgio/run-sgio.sh runs
 * it in the guest.  The expected replies are written out here, from
 * docs/compatibility.md and the reference's documented behaviour, not
 * computed by prhd's code.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <scsi/sg.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sgio-cuse.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);

#define DEV_NAME "prh-sgio-test"
#define DEV_PATH "/dev/" DEV_NAME
#define START_TIMEOUT_MS 30000          /* a helper's start in a TCG guest */
#define STOP_TIMEOUT_MS 10000

static const char *cuse_bin, *reference_bin, *prhd_bin;
static char state_dir[256];
static pid_t dev_pid = -1;
static int devfd = -1, devfd_ro = -1;

/* ---- the device ---- */

typedef struct Request {
        unsigned long seq;
        long tid;
        int interface_id, dxfer_direction;
        unsigned cmd_len, dxfer_len, mx_sb_len, timeout, flags, iovec_count;
        uint8_t cdb[32];
        size_t cdb_n;
        uint8_t data[SGIO_CUSE_MAX_DATA];
        size_t data_n;
} Request;

static char *hex_string(const uint8_t *p, size_t n) {
        char *s = malloc(2 * n + 1);

        if (!s)
                abort();
        for (size_t i = 0; i < n; i++)
                sprintf(s + 2 * i, "%02x", p[i]);
        s[2 * n] = 0;
        return s;
}

/* Write the device's next answer ("key value" lines); atomically. */
_printf_(1, 2) static void answer_set(const char *fmt, ...) {
        char path[300], tmp[300];
        va_list ap;
        _cleanup_(fclosep) FILE *f = NULL;

        snprintf(path, sizeof path, "%s/answer", state_dir);
        snprintf(tmp, sizeof tmp, "%s/answer.tmp", state_dir);
        f = fopen(tmp, "we");
        if (!f)
                abort();
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        if (fclose(TAKE_PTR(f)) != 0 || rename(tmp, path) < 0)
                abort();
}

/* The device's record of the last SG_IO; seq 0 if there was none. */
static void request_read(Request *r) {
        static char line[2 * SGIO_CUSE_MAX_DATA + 64];
        char path[300];
        _cleanup_(fclosep) FILE *f = NULL;

        memset(r, 0, sizeof *r);
        snprintf(path, sizeof path, "%s/request", state_dir);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                char *v = strchr(line, ' ');
                long long n;

                if (!v)
                        continue;
                *v++ = 0;
                n = strtoll(v, NULL, 0);
                if (strcmp(line, "seq") == 0)
                        r->seq = (unsigned long) n;
                else if (strcmp(line, "tid") == 0)
                        r->tid = (long) n;
                else if (strcmp(line, "interface_id") == 0)
                        r->interface_id = (int) n;
                else if (strcmp(line, "dxfer_direction") == 0)
                        r->dxfer_direction = (int) n;
                else if (strcmp(line, "cmd_len") == 0)
                        r->cmd_len = (unsigned) n;
                else if (strcmp(line, "cdb") == 0)
                        r->cdb_n = sgio_cuse_hex_parse(v, r->cdb, sizeof r->cdb);
                else if (strcmp(line, "dxfer_len") == 0)
                        r->dxfer_len = (unsigned) n;
                else if (strcmp(line, "mx_sb_len") == 0)
                        r->mx_sb_len = (unsigned) n;
                else if (strcmp(line, "timeout") == 0)
                        r->timeout = (unsigned) n;
                else if (strcmp(line, "flags") == 0)
                        r->flags = (unsigned) n;
                else if (strcmp(line, "iovec_count") == 0)
                        r->iovec_count = (unsigned) n;
                else if (strcmp(line, "data") == 0)
                        r->data_n = sgio_cuse_hex_parse(v, r->data, sizeof r->data);
        }
}

static int device_start(void) {
        snprintf(state_dir, sizeof state_dir, "%s/prh-sgio-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(state_dir))
                return -errno;
        dev_pid = fork();
        if (dev_pid < 0)
                return -errno;
        if (dev_pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                execl(cuse_bin, "sgio-cuse", DEV_NAME, state_dir, (char *) NULL);
                _exit(127);
        }
        for (uint64_t end = now_ms() + 20000; now_ms() < end; sleep_ms(50)) {
                int st;

                if (waitpid(dev_pid, &st, WNOHANG) == dev_pid) {
                        fprintf(stderr, "sgio-cuse exited (status 0x%x)\n", st);
                        dev_pid = -1;
                        return -ENODEV;
                }
                devfd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
                if (devfd >= 0)
                        break;
        }
        if (devfd < 0)
                return -ETIMEDOUT;
        devfd_ro = open(DEV_PATH, O_RDONLY | O_CLOEXEC);
        return devfd_ro < 0 ? -errno : 0;
}

static void device_stop(void) {
        safe_close(devfd);
        safe_close(devfd_ro);
        if (dev_pid > 0) {
                kill(dev_pid, SIGTERM);
                (void) waitpid(dev_pid, NULL, 0);
        }
}

/* ---- helpers ---- */

typedef struct Under {
        const char *name;
        bool ref;
        Helper h;
        bool started;
} Under;

/* Start the helper with extra options (NULL-terminated, may be NULL). */
static int under_start(Under *u, const char *const *extra) {
        const char *argv[16] = { "-k", NULL };
        size_t n = 2;
        HelperSpawn s = { .args = argv };
        int r;

        r = helper_init(&u->h, u->ref ? reference_bin : prhd_bin);
        if (r < 0)
                return r;
        argv[1] = u->h.sock;
        /* A CUSE device is not a SCSI LU: prhd serves it only when told to. */
        if (!u->ref)
                argv[n++] = "--unsafe-any-fd";
        for (size_t i = 0; extra && extra[i] && n < 15; i++)
                argv[n++] = extra[i];
        argv[n] = NULL;
        r = helper_spawn(&u->h, &s);
        if (r < 0)
                return r;
        r = helper_wait_socket(&u->h, START_TIMEOUT_MS);
        if (r < 0)
                return r;
        u->started = true;
        return 0;
}

/* Stop with SIGTERM: a helper that does not exit 0 within the limit fails. */
static void under_stop(Under *u) {
        int code;

        if (!u->started)
                return;
        code = helper_stop(&u->h, SIGTERM, STOP_TIMEOUT_MS);
        CHECK_MSG(code == 0, "%s: SIGTERM: exit code %d (want 0; -%d: still running)", u->name, code, ETIMEDOUT);
        helper_free(&u->h);
        u->started = false;
}

static int under_connect(Under *u) {
        int s = client_open(u->h.sock);

        CHECK_MSG(s >= 0, "%s: connect: %s", u->name, strerror(-s));
        return s;
}

/* Send one request over sock and read the reply; the device's record of the SG_IO in *rq. */
static int roundtrip(Under *u, int sock, const uint8_t cdb[PRH_CDB_SIZE], const uint8_t *data, int fd, Reply *rep,
                     Request *rq) {
        Request before;
        int r;

        request_read(&before);
        r = client_roundtrip(sock, cdb, data, fd, rep);
        request_read(rq);
        if (rq->seq == before.seq)
                rq->seq = 0;            /* the device saw nothing */
        if (r != 0)
                fprintf(stderr, "%s: request %02x/%02x: %s\n", u->name, cdb[0], cdb[1],
                        r == 1 ? "connection closed" : strerror(-r));
        return r;
}

/* A PR OUT REGISTER with a 24-byte parameter list (service action key 0x1234). */
static void pr_out_register(uint8_t cdb[PRH_CDB_SIZE], uint8_t params[24]) {
        cdb_pr_out(cdb, 0x00, 0x00, 24);
        memset(params, 0, 24);
        params[15] = 0x34;
        params[14] = 0x12;
}

/* The fixed-format sense a helper builds: 18 bytes, then zeros. */
static void sense_fixed(uint8_t s[PRH_SENSE_SIZE], uint8_t key, uint8_t asc, uint8_t ascq) {
        memset(s, 0, PRH_SENSE_SIZE);
        s[0] = 0x70;
        s[2] = key;
        s[7] = 0x0a;
        s[12] = asc;
        s[13] = ascq;
}

static void check_sense(Under *u, const char *what, const Reply *rep, const uint8_t want[PRH_SENSE_SIZE]) {
        bool eq = memcmp(rep->res.sense, want, PRH_SENSE_SIZE) == 0;

        CHECK_MSG(eq, "%s: %s: sense differs", u->name, what);
        if (!eq) {
                hexdump("  got ", rep->res.sense, PRH_SENSE_SIZE);
                hexdump("  want", want, PRH_SENSE_SIZE);
        }
}

/* ---- fields: what the helper sends (row 5) ---- */

static void check_fields(Under *u, unsigned want_timeout) {
        uint8_t cdb[PRH_CDB_SIZE], params[24];
        const uint8_t keys[8] = { 0, 0, 0, 1, 0, 0, 0, 0 };
        Request rq;
        Reply rep;
        _cleanup_close_ int s = under_connect(u);

        if (s < 0)
                return;

        /* PR IN READ KEYS, allocation length 8192: a realistic answer, 8 bytes and their resid */
        answer_set("status 0\nresid %d\ndata 0000000100000000\n", 8192 - 8);
        cdb_pr_in(cdb, 0x00, 8192);
        cdb[10] = 0xa5;         /* bytes 10-15 are sent as received */
        if (roundtrip(u, s, cdb, NULL, devfd, &rep, &rq) == 0) {
                CHECK_MSG(rq.seq != 0, "%s: PR IN reached no device", u->name);
                CHECK_MSG(rq.interface_id == 'S', "%s: interface_id %d", u->name, rq.interface_id);
                CHECK_MSG(rq.dxfer_direction == SG_DXFER_FROM_DEV, "%s: PR IN direction %d", u->name,
                          rq.dxfer_direction);
                CHECK_MSG(rq.cmd_len == 16 && rq.cdb_n == 16 && memcmp(rq.cdb, cdb, 16) == 0,
                          "%s: PR IN CDB: cmd_len %u, %zu bytes", u->name, rq.cmd_len, rq.cdb_n);
                CHECK_MSG(rq.dxfer_len == 8192, "%s: PR IN dxfer_len %u (want 8192)", u->name, rq.dxfer_len);
                CHECK_MSG(rq.mx_sb_len == 96, "%s: mx_sb_len %u", u->name, rq.mx_sb_len);
                CHECK_MSG(rq.flags == 0 && rq.iovec_count == 0, "%s: flags %u iovec_count %u", u->name, rq.flags,
                          rq.iovec_count);
                CHECK_MSG(rq.timeout == want_timeout, "%s: PR IN timeout %u ms (want %u)", u->name, rq.timeout,
                          want_timeout);
                CHECK_MSG(rep.res.status == SCSI_STATUS_GOOD && rep.payload_len == 8 &&
                          memcmp(rep.payload, keys, 8) == 0,
                          "%s: PR IN reply: status 0x%x, %u bytes", u->name, rep.res.status, rep.payload_len);
        }

        /* PR OUT REGISTER: the 24 parameter bytes go to the device */
        answer_set("status 0\n");
        pr_out_register(cdb, params);
        if (roundtrip(u, s, cdb, params, devfd, &rep, &rq) == 0) {
                CHECK_MSG(rq.seq != 0, "%s: PR OUT reached no device", u->name);
                CHECK_MSG(rq.dxfer_direction == SG_DXFER_TO_DEV, "%s: PR OUT direction %d", u->name,
                          rq.dxfer_direction);
                CHECK_MSG(rq.cmd_len == 16 && rq.cdb_n == 16 && memcmp(rq.cdb, cdb, 16) == 0,
                          "%s: PR OUT CDB: cmd_len %u", u->name, rq.cmd_len);
                CHECK_MSG(rq.dxfer_len == 24 && rq.data_n == 24 && memcmp(rq.data, params, 24) == 0,
                          "%s: PR OUT data: dxfer_len %u, %zu bytes", u->name, rq.dxfer_len, rq.data_n);
                CHECK_MSG(rq.timeout == want_timeout, "%s: PR OUT timeout %u ms (want %u)", u->name, rq.timeout,
                          want_timeout);
                CHECK_MSG(rep.res.status == SCSI_STATUS_GOOD && rep.payload_len == 0, "%s: PR OUT reply status 0x%x",
                          u->name, rep.res.status);
        }
}

/* ---- host_status (row 1) ---- */

typedef struct HostCase {
        uint16_t value;
        const char *name;
        bool known;             /* in QEMU's table; otherwise the reference says GOOD, prhd 0B/00/06 */
        uint8_t status;         /* for known values, both helpers */
        uint8_t key, asc, ascq; /* sense when status is CHECK CONDITION */
} HostCase;

#define UNKNOWN(v, n) { v, n, false, 0, 0, 0, 0 }
static const HostCase host_cases[] = {
        { 0x00, "DID_OK", true, SCSI_STATUS_GOOD, 0, 0, 0 },
        { 0x01, "DID_NO_CONNECT", true, SCSI_STATUS_CHECK_CONDITION, 0x0b, 0x05, 0x00 },
        { 0x02, "DID_BUS_BUSY", true, SCSI_STATUS_BUSY, 0, 0, 0 },
        { 0x03, "DID_TIME_OUT", true, SCSI_STATUS_CHECK_CONDITION, 0x0b, 0x2e, 0x02 },
        { 0x04, "DID_BAD_TARGET", true, SCSI_STATUS_CHECK_CONDITION, 0x0b, 0x08, 0x00 },
        { 0x05, "DID_ABORT", true, SCSI_STATUS_CHECK_CONDITION, 0x0b, 0x2f, 0x02 },
        UNKNOWN(0x06, "DID_PARITY"),
        UNKNOWN(0x07, "DID_ERROR"),
        { 0x08, "DID_RESET", true, SCSI_STATUS_CHECK_CONDITION, 0x06, 0x29, 0x00 },
        UNKNOWN(0x09, "DID_BAD_INTR"),
        UNKNOWN(0x0a, "DID_PASSTHROUGH"),
        UNKNOWN(0x0b, "DID_SOFT_ERROR"),
        UNKNOWN(0x0c, "DID_IMM_RETRY"),
        UNKNOWN(0x0d, "DID_REQUEUE"),
        { 0x0e, "DID_TRANSPORT_DISRUPTED", true, SCSI_STATUS_CHECK_CONDITION, 0x0b, 0x29, 0x07 },
        UNKNOWN(0x0f, "DID_TRANSPORT_FAILFAST"),
        { 0x10, "DID_TARGET_FAILURE", true, SCSI_STATUS_CHECK_CONDITION, 0x04, 0x44, 0x00 },
        { 0x11, "DID_NEXUS_FAILURE", true, SCSI_STATUS_RESERVATION_CONFLICT, 0, 0, 0 },
        { 0x12, "DID_ALLOC_FAILURE", true, SCSI_STATUS_CHECK_CONDITION, 0x07, 0x27, 0x07 },
        { 0x13, "DID_MEDIUM_ERROR", true, SCSI_STATUS_CHECK_CONDITION, 0x03, 0x11, 0x00 },
        UNKNOWN(0x14, "DID_TRANSPORT_MARGINAL"),
        UNKNOWN(0x7f, "unknown 0x7f"),
        UNKNOWN(0xffff, "unknown 0xffff"),
};

static void check_host_status(Under *u) {
        uint8_t cdb[PRH_CDB_SIZE], params[24], want[PRH_SENSE_SIZE];
        const uint8_t keys[8] = { 0, 0, 0, 7, 0, 0, 0, 0 };
        char what[80];
        Request rq;
        Reply rep;
        _cleanup_close_ int s = under_connect(u);

        if (s < 0)
                return;
        /* PR OUT REGISTER: a GOOD here tells the guest its key is registered */
        for (size_t i = 0; i < ELEMENTSOF(host_cases); i++) {
                const HostCase *c = &host_cases[i];
                uint8_t st = c->known ? c->status : u->ref ? SCSI_STATUS_GOOD : SCSI_STATUS_CHECK_CONDITION;

                if (c->known && c->status == SCSI_STATUS_CHECK_CONDITION)
                        sense_fixed(want, c->key, c->asc, c->ascq);
                else if (!c->known && !u->ref)
                        sense_fixed(want, 0x0b, 0x00, 0x06);
                else
                        memset(want, 0, sizeof want);
                snprintf(what, sizeof what, "PR OUT, host_status %s (0x%x)", c->name, c->value);
                answer_set("status 0\nhost_status %u\n", c->value);
                pr_out_register(cdb, params);
                if (roundtrip(u, s, cdb, params, devfd, &rep, &rq) != 0) {
                        CHECK_MSG(false, "%s: %s: no reply", u->name, what);
                        s = safe_close(s);
                        s = under_connect(u);
                        if (s < 0)
                                return;
                        continue;
                }
                CHECK_MSG(rq.seq != 0, "%s: %s: no SG_IO", u->name, what);
                CHECK_MSG(rep.res.status == st, "%s: %s: status 0x%x (want 0x%x)", u->name, what, rep.res.status, st);
                check_sense(u, what, &rep, want);
        }

        /* PR IN with an unknown host_status: the reference even sends the data as valid */
        answer_set("status 0\nhost_status 7\nresid %d\ndata 0000000700000000\n", 8192 - 8);
        cdb_pr_in(cdb, 0x00, 8192);
        if (roundtrip(u, s, cdb, NULL, devfd, &rep, &rq) == 0) {
                if (u->ref)
                        CHECK_MSG(rep.res.status == SCSI_STATUS_GOOD && rep.payload_len == 8 &&
                                  memcmp(rep.payload, keys, 8) == 0,
                                  "%s: PR IN, DID_ERROR: status 0x%x, %u bytes (want GOOD, 8)", u->name,
                                  rep.res.status, rep.payload_len);
                else {
                        CHECK_MSG(rep.res.status == SCSI_STATUS_CHECK_CONDITION && rep.payload_len == 0,
                                  "%s: PR IN, DID_ERROR: status 0x%x, %u bytes (want CHECK CONDITION, 0)",
                                  u->name, rep.res.status, rep.payload_len);
                        sense_fixed(want, 0x0b, 0x00, 0x06);
                        check_sense(u, "PR IN, DID_ERROR", &rep, want);
                }
        } else
                CHECK_MSG(false, "%s: PR IN, DID_ERROR: no reply", u->name);
}

/* ---- device status and sense ---- */

static void check_sense_passthrough(Under *u) {
        uint8_t cdb[PRH_CDB_SIZE], params[24], sense[PRH_SENSE_SIZE], zero[PRH_SENSE_SIZE] = {};
        Request rq;
        Reply rep;
        _cleanup_free_ char *hex = NULL;
        _cleanup_close_ int s = under_connect(u);

        if (s < 0)
                return;
        /* 96 bytes of descriptor-format sense, UNIT ATTENTION 2A/03 (RESERVATIONS PREEMPTED), no zero byte
         * after the header: every byte must arrive */
        sense[0] = 0x72;
        sense[1] = 0x06;
        sense[2] = 0x2a;
        sense[3] = 0x03;
        sense[4] = sense[5] = sense[6] = 0;
        sense[7] = PRH_SENSE_SIZE - 8;
        for (size_t i = 8; i < PRH_SENSE_SIZE; i++)
                sense[i] = sgio_cuse_fill_byte(3, i);
        hex = hex_string(sense, sizeof sense);

        /* with and without DRIVER_SENSE (0x08), which real kernels set with sense */
        for (unsigned drv = 0; drv <= 8; drv += 8) {
                answer_set("status 2\ndriver_status %u\nsense %s\ndata 00000009\nwritten 4\n", drv, hex);
                cdb_pr_in(cdb, 0x00, 8192);
                if (roundtrip(u, s, cdb, NULL, devfd, &rep, &rq) == 0) {
                        CHECK_MSG(rep.res.status == SCSI_STATUS_CHECK_CONDITION && rep.payload_len == 0,
                                  "%s: PR IN CHECK CONDITION (driver 0x%x): status 0x%x, %u bytes", u->name, drv,
                                  rep.res.status, rep.payload_len);
                        check_sense(u, "PR IN device sense", &rep, sense);
                } else
                        CHECK_MSG(false, "%s: PR IN CHECK CONDITION: no reply", u->name);
                pr_out_register(cdb, params);
                if (roundtrip(u, s, cdb, params, devfd, &rep, &rq) == 0) {
                        CHECK_MSG(rep.res.status == SCSI_STATUS_CHECK_CONDITION,
                                  "%s: PR OUT CHECK CONDITION (driver 0x%x): status 0x%x", u->name, drv,
                                  rep.res.status);
                        check_sense(u, "PR OUT device sense", &rep, sense);
                } else
                        CHECK_MSG(false, "%s: PR OUT CHECK CONDITION: no reply", u->name);
        }

        /* RESERVATION CONFLICT from the device, no sense */
        answer_set("status 0x18\n");
        pr_out_register(cdb, params);
        if (roundtrip(u, s, cdb, params, devfd, &rep, &rq) == 0) {
                CHECK_MSG(rep.res.status == SCSI_STATUS_RESERVATION_CONFLICT, "%s: device conflict: status 0x%x",
                          u->name, rep.res.status);
                check_sense(u, "device conflict", &rep, zero);
        } else
                CHECK_MSG(false, "%s: device conflict: no reply", u->name);

        /* driver_status 0x06 (DRIVER_TIMEOUT): BUSY, tested as a mask by both */
        answer_set("status 0\ndriver_status 6\n");
        pr_out_register(cdb, params);
        if (roundtrip(u, s, cdb, params, devfd, &rep, &rq) == 0)
                CHECK_MSG(rep.res.status == SCSI_STATUS_BUSY, "%s: driver_status 6: status 0x%x (want BUSY)", u->name,
                          rep.res.status);
        else
                CHECK_MSG(false, "%s: driver_status 6: no reply", u->name);

        /* the ioctl itself fails with EBADE: RESERVATION CONFLICT */
        answer_set("errno %d\n", EBADE);
        pr_out_register(cdb, params);
        if (roundtrip(u, s, cdb, params, devfd, &rep, &rq) == 0)
                CHECK_MSG(rep.res.status == SCSI_STATUS_RESERVATION_CONFLICT, "%s: EBADE: status 0x%x", u->name,
                          rep.res.status);
        else
                CHECK_MSG(false, "%s: EBADE: no reply", u->name);
}

/* ---- PR OUT on a read-only fd: refused before any SG_IO ---- */

static void check_read_only(Under *u) {
        uint8_t cdb[PRH_CDB_SIZE], params[24];
        Request rq;
        Reply rep;
        _cleanup_close_ int s = under_connect(u);

        if (s < 0)
                return;
        answer_set("status 0\n");
        pr_out_register(cdb, params);
        if (roundtrip(u, s, cdb, params, devfd_ro, &rep, &rq) == 0)
                CHECK_MSG(rq.seq == 0 && memcmp(rep.header, REPLY_READ_ONLY, sizeof rep.header) == 0,
                          "%s: PR OUT on an O_RDONLY fd: SG_IO %s, status 0x%x", u->name,
                          rq.seq ? "issued" : "not issued", rep.res.status);
        else
                CHECK_MSG(false, "%s: read-only PR OUT: no reply", u->name);
}

/* ---- stale PR IN bytes (row 9) ---- */

#define STALE_ALLOC 64u
#define STALE_WRITTEN 8u
#define STALE_ATTEMPTS 10

/*
 * The reference's PR IN buffer belongs to the connection, prhd's to the
 * worker thread that executes the request (any connection's).  A fill
 * request puts a never-zero pattern in the whole 8192 bytes; then the device
 * answers a PR IN with GOOD, resid 0, but writes only 8 bytes.  The helper
 * believes 8192 bytes came and sends the allocation length, 64: bytes 8-63
 * are what was in its buffer.
 *
 * prhd runs with --max-requests 1, so it has at most two worker threads,
 * and the second request comes over a second connection: without the
 * clearing, the first connection's data would reach another client.  The
 * device records the calling thread's id (FUSE passes it), so the test knows
 * whether the thread that served the short reply is one whose buffer a fill
 * request reached; if not (which thread takes a request is the kernel's
 * choice), the evidence is printed and the pair is sent again, at most
 * STALE_ATTEMPTS times.  Never reaching a filled thread fails.
 */
static void check_stale(Under *u) {
        uint8_t cdb[PRH_CDB_SIZE];
        long filled[STALE_ATTEMPTS];
        size_t n_filled = 0;
        bool judged = false;
        Request rq;
        Reply rep;
        _cleanup_close_ int s1 = under_connect(u);
        _cleanup_close_ int s2 = -EBADF;

        if (s1 < 0)
                return;
        if (!u->ref) {
                s2 = under_connect(u);
                if (s2 < 0)
                        return;
        }
        for (unsigned attempt = 1; attempt <= STALE_ATTEMPTS && !judged; attempt++) {
                unsigned seed = 10 + attempt;
                bool pattern_ok = true, was_filled = false;
                size_t wrong = 0;

                answer_set("status 0\nresid 0\nfill %u\nwritten 8192\n", seed);
                cdb_pr_in(cdb, 0x00, 8192);
                if (roundtrip(u, s1, cdb, NULL, devfd, &rep, &rq) != 0) {
                        CHECK_MSG(false, "%s: fill request: no reply", u->name);
                        break;
                }
                for (size_t i = 0; i < rep.payload_len; i++)
                        if (rep.payload[i] != sgio_cuse_fill_byte(seed, i))
                                pattern_ok = false;
                CHECK_MSG(rep.res.status == SCSI_STATUS_GOOD && rep.payload_len == 8192 && pattern_ok,
                          "%s: fill request: status 0x%x, %u bytes, pattern %s", u->name, rep.res.status,
                          rep.payload_len, pattern_ok ? "ok" : "wrong");
                if (n_filled < ELEMENTSOF(filled))
                        filled[n_filled++] = rq.tid;

                answer_set("status 0\nresid 0\ndata 0000000200000000\nwritten %u\n", STALE_WRITTEN);
                cdb_pr_in(cdb, 0x00, STALE_ALLOC);
                if (roundtrip(u, u->ref ? s1 : s2, cdb, NULL, devfd, &rep, &rq) != 0) {
                        CHECK_MSG(false, "%s: short reply: no reply", u->name);
                        break;
                }
                for (size_t i = 0; i < n_filled; i++)
                        if (filled[i] == rq.tid)
                                was_filled = true;
                if (!u->ref && !was_filled) {
                        fprintf(stderr, "%s: attempt %u: the short reply was served by thread %ld, which no fill "
                                "request reached (filled: %zu threads); again\n", u->name, attempt, rq.tid, n_filled);
                        continue;
                }
                judged = true;
                fprintf(stderr, "%s: attempt %u: fill and short reply served by thread %ld\n", u->name, attempt,
                        rq.tid);
                CHECK_MSG(rep.res.status == SCSI_STATUS_GOOD && rep.payload_len == STALE_ALLOC,
                          "%s: short reply: status 0x%x, %u bytes (want GOOD, %u)", u->name, rep.res.status,
                          rep.payload_len, STALE_ALLOC);
                if (rep.payload_len != STALE_ALLOC)
                        break;
                CHECK_MSG(memcmp(rep.payload, "\0\0\0\2\0\0\0\0", STALE_WRITTEN) == 0,
                          "%s: short reply: the device's 8 bytes differ", u->name);
                for (size_t i = STALE_WRITTEN; i < STALE_ALLOC; i++) {
                        /* reference: the fill request's bytes (bug 7 of its list); prhd: zeros */
                        uint8_t want = u->ref ? sgio_cuse_fill_byte(seed, i) : 0;
                        if (rep.payload[i] != want)
                                wrong++;
                }
                CHECK_MSG(wrong == 0, "%s: short reply: %zu of bytes %u-%u are not %s", u->name, wrong,
                          STALE_WRITTEN, STALE_ALLOC - 1, u->ref ? "the previous reply's" : "zero");
                if (wrong)
                        hexdump("  got", rep.payload, STALE_ALLOC);
        }
        CHECK_MSG(judged, "%s: no short reply was served by a thread with a filled buffer in %d attempts", u->name,
                  STALE_ATTEMPTS);
}

/* ---- resid beyond the buffer (row 7) ---- */

typedef struct ResidCase {
        int resid;
        uint32_t prhd_len;      /* prhd's payload for allocation length 8192 */
        bool ref_dies;          /* the reference aborts: its payload size 8192 - resid is negative */
} ResidCase;

static const ResidCase resid_cases[] = {
        { 8191, 1, false },
        { 8192, 0, false },
        { 8193, 0, true },
        { 65536, 0, true },
        { INT_MAX, 0, true },
        { -1, 8192, false },
        { INT_MIN, 8192, true },        /* the reference's 8192 - resid overflows int */
};

static void check_resid(Under *u) {
        uint8_t cdb[PRH_CDB_SIZE];
        const uint8_t head[8] = { 0, 0, 0, 3, 0, 0, 0, 0 };

        for (size_t i = 0; i < ELEMENTSOF(resid_cases); i++) {
                const ResidCase *c = &resid_cases[i];
                Request rq;
                Reply rep;
                _cleanup_close_ int s = -EBADF;
                int r;

                if (!u->started && under_start(u, NULL) < 0) {
                        CHECK_MSG(false, "%s: cannot restart", u->name);
                        return;
                }
                s = under_connect(u);
                if (s < 0)
                        return;
                answer_set("status 0\nresid %d\ndata 0000000300000000\n", c->resid);
                cdb_pr_in(cdb, 0x00, 8192);
                r = roundtrip(u, s, cdb, NULL, devfd, &rep, &rq);
                CHECK_MSG(rq.seq != 0, "%s: resid %d: no SG_IO", u->name, c->resid);
                if (u->ref && c->ref_dies) {
                        int st = 0, code;
                        _cleanup_free_ char *err = NULL;

                        CHECK_MSG(r == 1, "%s: resid %d: got %s (want the connection closed, no reply)", u->name,
                                  c->resid, r == 0 ? "a reply" : strerror(-r));
                        r = helper_wait_exit(&u->h, STOP_TIMEOUT_MS, &st);
                        code = helper_exit_code(&u->h);
                        CHECK_MSG(r == 0 && code == 128 + SIGABRT, "%s: resid %d: exit code %d (want %d, SIGABRT)",
                                  u->name, c->resid, code, 128 + SIGABRT);
                        helper_output_drain(&u->h, STOP_TIMEOUT_MS);
                        err = helper_stderr(&u->h);
                        CHECK_MSG(err && strstr(err, "prh_write_response: Assertion"),
                                  "%s: resid %d: no assertion message from prh_write_response", u->name, c->resid);
                        fprintf(stderr, "%s: resid %d: the reference ended with exit code %d\n", u->name, c->resid,
                                code);
                        helper_free(&u->h);
                        u->started = false;
                } else {
                        uint32_t want = u->ref ? (c->resid < 0 ? 8192 : 8192 - (uint32_t) c->resid) : c->prhd_len;

                        CHECK_MSG(r == 0 && rep.res.status == SCSI_STATUS_GOOD && rep.payload_len == want,
                                  "%s: resid %d: reply %d, status 0x%x, %u bytes (want GOOD, %u)", u->name, c->resid,
                                  r, rep.res.status, rep.payload_len, want);
                        if (r == 0 && rep.payload_len == want && want > 0)
                                CHECK_MSG(memcmp(rep.payload, head, want < 8 ? want : 8) == 0,
                                          "%s: resid %d: data differs", u->name, c->resid);
                        CHECK_MSG(helper_alive(&u->h), "%s: resid %d: helper died", u->name, c->resid);
                }
        }
}

/* ---- main ---- */

static void run_helper(Under *u) {
        static const char *const max1[] = { "--max-requests", "1", NULL };
        static const char *const timeout[] = { "--sgio-timeout", "12345", NULL };
        char title[80];

        snprintf(title, sizeof title, "%s: sg_io_hdr fields and timeout", u->name);
        test_begin(title);
        if (under_start(u, NULL) < 0) {
                CHECK_MSG(false, "%s: cannot start", u->name);
                return;
        }
        check_fields(u, u->ref ? 1 : 5000);

        snprintf(title, sizeof title, "%s: host_status", u->name);
        test_begin(title);
        check_host_status(u);

        snprintf(title, sizeof title, "%s: device status and sense", u->name);
        test_begin(title);
        check_sense_passthrough(u);

        snprintf(title, sizeof title, "%s: read-only fd", u->name);
        test_begin(title);
        check_read_only(u);
        under_stop(u);

        if (!u->ref) {
                snprintf(title, sizeof title, "%s: --sgio-timeout 12345", u->name);
                test_begin(title);
                if (under_start(u, timeout) < 0)
                        CHECK_MSG(false, "%s: cannot start", u->name);
                else
                        check_fields(u, 12345);
                under_stop(u);
        }

        snprintf(title, sizeof title, "%s: stale PR IN bytes", u->name);
        test_begin(title);
        if (under_start(u, u->ref ? NULL : max1) < 0)
                CHECK_MSG(false, "%s: cannot start", u->name);
        else
                check_stale(u);
        under_stop(u);

        snprintf(title, sizeof title, "%s: resid beyond the buffer", u->name);
        test_begin(title);
        check_resid(u);
        under_stop(u);
}

int main(int argc, char **argv) {
        Under ref = { .name = "qemu-pr-helper", .ref = true };
        Under prhd = { .name = "prhd", .ref = false };
        int r;

        if (argc != 4) {
                fprintf(stderr, "usage: %s SGIO-CUSE REFERENCE PRHD\n", argv[0]);
                return 2;
        }
        cuse_bin = argv[1];
        reference_bin = argv[2];
        prhd_bin = argv[3];
        test_require_root();
        if (access("/dev/cuse", R_OK | W_OK) < 0) {
                fprintf(stderr, "/dev/cuse: %m (modprobe cuse)\n");
                return EXIT_FAILURE;
        }

        r = device_start();
        if (r < 0) {
                fprintf(stderr, "cannot start the CUSE device %s: %s\n", DEV_PATH, strerror(-r));
                device_stop();
                return EXIT_FAILURE;
        }
        run_helper(&ref);
        run_helper(&prhd);
        device_stop();
        return tests_finish("rig-sgio-device");
}
