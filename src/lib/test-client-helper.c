/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Integration test of libprh's raw API against a real helper binary given
 * as argv[1] (qemu-pr-helper or prhd).  The host has no SCSI device, so the
 * checks are the protocol's error paths, whose answers the reference
 * defines exactly: SG_IO on a non-SCSI fd gives CHECK CONDITION ABORTED
 * COMMAND 00/06, PR OUT on a read-only fd ILLEGAL REQUEST 20/00; plus
 * connection handling (features, reconnect after a helper restart).
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>

#include "helper-spawn.h"
#include "macro.h"
#include "prh/prh.h"
#include "scsi.h"
#include "tests.h"

static const char *helper_bin;

static const uint8_t read_keys_cdb[10] = {0x5e, 0x00, 0, 0, 0, 0, 0, 0x02, 0x00, 0};
static const uint8_t register_cdb[10] = {0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0};

static void check_sense(const PrhResult *res, uint8_t key, uint8_t asc, uint8_t ascq) {
        ProtoSenseInfo si = proto_sense_parse(res->sense, sizeof(res->sense));

        CHECK(si.valid);
        CHECK_EQ(si.key, key);
        CHECK_EQ(si.asc, asc);
        CHECK_EQ(si.ascq, ascq);
}

static void test_error_paths(const HelperProc *h) {
        PrhClient *c = NULL;
        PrhResult res;
        uint8_t buf[512], param[24] = {0};
        uint32_t features = 0xdead;
        int fd, r;

        CHECK_EQ(prh_client_new(h->sock, &c), 0);
        CHECK_EQ(prh_client_get_features(c, &features), -ENOTCONN);
        CHECK_EQ(prh_client_connect(c), 0);
        CHECK(prh_client_is_connected(c));
        CHECK_EQ(prh_client_get_features(c, &features), 0);
        CHECK_EQ(features, 0);

        /* PR IN on /dev/null: SG_IO fails with ENOTTY -> ABORTED COMMAND 00/06, no data. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        memset(&res, 0xaa, sizeof(res));
        r = prh_call_raw(c, fd, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, sizeof(buf), &res);
        CHECK_EQ(r, 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        CHECK_EQ(res.data_len, 0);
        check_sense(&res, SCSI_KEY_ABORTED_COMMAND, 0x00, 0x06);
        CHECK_EQ(res.sense[0], 0x70);
        CHECK_EQ(res.sense[7], 0x0a);

        /* PR OUT on a read-only fd: answered ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE; the connection stays. */
        r = prh_call_raw(c, fd, register_cdb, sizeof(register_cdb), param, sizeof(param), NULL, 0, &res);
        CHECK_EQ(r, 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        check_sense(&res, SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00);
        CHECK(prh_client_is_connected(c));
        close(fd);

        /* PR OUT on a writable regular file reaches SG_IO -> ABORTED COMMAND 00/06. */
        char path[200];
        snprintf(path, sizeof(path), "%s/file", h->dir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        r = prh_call_raw(c, fd, register_cdb, sizeof(register_cdb), param, sizeof(param), NULL, 0, &res);
        CHECK_EQ(r, 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        check_sense(&res, SCSI_KEY_ABORTED_COMMAND, 0x00, 0x06);

        /* Argument validation happens before anything is sent. */
        CHECK_EQ(prh_call_raw(c, fd, register_cdb, sizeof(register_cdb), param, 23, NULL, 0, &res), -EINVAL);
        CHECK_EQ(prh_call_raw(c, fd, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, 100, &res), -EINVAL);
        CHECK_EQ(prh_call_raw(c, fd, (const uint8_t[]){0x12, 0, 0, 0, 0, 0}, 6, NULL, 0, buf, 100, &res), -EINVAL);
        CHECK_EQ(prh_call_raw(c, -1, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, sizeof(buf), &res), -EINVAL);
        CHECK(prh_client_is_connected(c));
        close(fd);
        prh_client_free(c);
}

/* Every typed call reaches the helper and gets its answer back as data. */
static void test_typed(const HelperProc *h) {
        PrhClient *c = NULL;
        PrhResult res;
        PrhKeys *keys = calloc(1, sizeof(*keys));
        PrhReservation rsv = {.generation = 77};
        PrhCapabilities caps = {.length = 77};
        PrhFullStatus fs = {.generation = 77};
        PrhTransportId tid;
        char path[200];
        int ro = open("/dev/null", O_RDONLY | O_CLOEXEC), rw;

        snprintf(path, sizeof(path), "%s/file2", h->dir);
        rw = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        CHECK(rw >= 0 && keys);
        CHECK_EQ(prh_client_new(h->sock, &c), 0);

        keys->generation = 77;
        CHECK_EQ(prh_read_keys(c, ro, &res, keys), 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        CHECK_EQ(keys->generation, 77); /* not GOOD: output untouched */
        CHECK_EQ(prh_read_reservation(c, ro, &res, &rsv), 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        CHECK_EQ(rsv.generation, 77);
        CHECK_EQ(prh_report_capabilities(c, ro, &res, &caps), 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        CHECK_EQ(caps.length, 77);
        CHECK_EQ(prh_read_full_status(c, ro, &res, &fs), 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        CHECK_EQ(fs.generation, 77);
        PrhSense si = prh_sense_decode(res.sense, sizeof(res.sense));
        CHECK(si.valid);
        CHECK_EQ(si.key, SCSI_KEY_ABORTED_COMMAND);

        CHECK_EQ(prh_transport_id_parse("iscsi,iqn.2003-01.org.example:x,i,0x230000000001", &tid), 0);
        for (unsigned a = PRH_OUT_REGISTER; a <= PRH_OUT_REPLACE_LOST; a++) {
                PrhOutParams p = {.key = 1, .sa_key = 2, .type = PRH_TYPE_WRITE_EXCLUSIVE};
                if (a == PRH_OUT_REGISTER_AND_MOVE) {
                        p.tids = &tid;
                        p.n_tids = 1;
                }
                /* Read-only fd: the helper refuses PR OUT itself (05/20/00). */
                CHECK_EQ(prh_pr_out(c, ro, (PrhOutAction) a, &p, &res), 0);
                CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
                check_sense(&res, SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00);
                /* Writable non-SCSI fd: SG_IO fails (0B/00/06). */
                CHECK_EQ(prh_pr_out(c, rw, (PrhOutAction) a, &p, &res), 0);
                CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
                check_sense(&res, SCSI_KEY_ABORTED_COMMAND, 0x00, 0x06);
        }
        CHECK_EQ(prh_register(c, rw, 0, 0x1234, PRH_FLAG_APTPL, &res), 0);
        CHECK_EQ(prh_preempt(c, ro, 1, 2, PRH_TYPE_EXCLUSIVE_ACCESS, true, &res), 0);
        check_sense(&res, SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00);
        CHECK_EQ(prh_register_move(c, rw, 1, 2, 1, 1, NULL, 0, &res), -EINVAL);
        CHECK(prh_client_is_connected(c));

        char text[200];
        CHECK(prh_sense_describe(res.sense, sizeof(res.sense), text, sizeof(text)) > 0);
        CHECK(strcmp(text, "ILLEGAL REQUEST: invalid command operation code (asc 0x20, ascq 0x00)") == 0);

        prh_client_free(c);
        free(keys);
        close(ro);
        close(rw);
}

/* Requesting a feature the helper does not offer fails cleanly, without retries. */
static void test_features(const HelperProc *h) {
        PrhClient *c = NULL;
        PrhResult res;
        uint8_t buf[512];
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        CHECK_EQ(prh_client_new(h->sock, &c), 0);
        CHECK_EQ(prh_client_set_features(c, 1), 0);
        CHECK_EQ(prh_client_connect(c), -EOPNOTSUPP);
        CHECK(!prh_client_is_connected(c));
        CHECK_EQ(prh_call_raw(c, fd, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, sizeof(buf), &res),
                 -EOPNOTSUPP);
        close(fd);
        prh_client_free(c);
}

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The helper restarts under an open connection: the next call reconnects and succeeds. */
static void test_reconnect(HelperProc *h) {
        PrhClient *c = NULL;
        PrhResult res;
        uint8_t buf[512];
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        CHECK_EQ(prh_client_new(h->sock, &c), 0);
        CHECK_EQ(prh_client_set_retry(c, 3, 50), 0);
        CHECK_EQ(prh_client_connect(c), 0);

        helper_kill(h);
        CHECK_EQ(helper_start_in(h, helper_bin, h->dir), 0);
        CHECK_EQ(prh_call_raw(c, fd, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, sizeof(buf), &res), 0);
        CHECK_EQ(res.status, PRH_STATUS_CHECK_CONDITION);
        check_sense(&res, SCSI_KEY_ABORTED_COMMAND, 0x00, 0x06);

        /* Helper gone for good: every attempt fails to connect, with the delay between attempts. */
        helper_kill(h);
        int64_t t0 = mono_ms();
        int r = prh_call_raw(c, fd, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, sizeof(buf), &res);
        int64_t dt = mono_ms() - t0;
        /* The reference leaves its socket behind (refused) or removes it (missing). */
        CHECK(r == -ECONNREFUSED || r == -ENOENT);
        /* The dead connection is noticed before the CDB is sent; three failed connects, two delays. */
        CHECK(dt >= 100);
        CHECK(dt < 5000);
        CHECK(!prh_client_is_connected(c));

        /* Not connected at all: three failed connects, two delays. */
        t0 = mono_ms();
        r = prh_call_raw(c, fd, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, sizeof(buf), &res);
        dt = mono_ms() - t0;
        CHECK(r == -ECONNREFUSED || r == -ENOENT);
        CHECK(dt >= 100);
        CHECK(dt < 5000);
        close(fd);
        prh_client_free(c);
}

int main(int argc, char **argv) {
        HelperProc h = {};
        int r;

        helper_bin = argc > 1 ? argv[1] : "/usr/bin/qemu-pr-helper";
        if (access(helper_bin, X_OK) < 0) {
                fprintf(stderr, "%s: not available\n", helper_bin);
                return 77;
        }
        r = helper_start(&h, helper_bin);
        if (r < 0) {
                fprintf(stderr, "failed to start %s: %s\n", helper_bin, strerror(-r));
                return EXIT_FAILURE;
        }
        test_error_paths(&h);
        test_typed(&h);
        test_features(&h);
        test_reconnect(&h);
        if (tests_failed) {
                char cmd[200];
                snprintf(cmd, sizeof(cmd), "cat '%s' >&2", h.log);
                /* NOLINTNEXTLINE(cert-env33-c): test code; the path is the log in the test's mkdtemp() directory */
                if (system(cmd) != 0)
                        fprintf(stderr, "(no helper log)\n");
        }
        helper_stop(&h);
        return tests_finish(helper_bin);
}
