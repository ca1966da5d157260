/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A slow device does not block others.  The device is a file on the FUSE
 * file system of test/fuse-sgio.c whose ioctl handler sleeps for seconds;
 * SG_IO on it stalls exactly like a device that takes seconds to answer.
 * While one client waits on it, other clients (new and already-connected
 * ones, on /dev/null and on a fast FUSE file) must be answered at once.
 * Holds for the reference too (its SG_IO runs in a thread pool).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define SLOW_SECONDS 3
#define STALL_MS (SLOW_SECONDS * 1000u)
/*
 * "Not behind the stall": a request that waited for the stalled one takes at
 * least the rest of the stall (2.9 s here).  Half the stall leaves room for
 * a loaded machine: the reference under ASan with TCG guests running beside
 * it once took 1189 ms against the former limit of 300 ms.
 */
#define FAST_LIMIT_MS (STALL_MS / 2)

static Helper H;
static FuseDev F;
static bool is_ref;
static int null_rw = -1;

static unsigned timed_roundtrip(int s, int devfd, uint16_t alloc, Reply *rep, int *ret) {
        uint8_t cdb[PRH_CDB_SIZE];
        uint64_t t0 = now_ms();

        cdb_pr_in(cdb, 0, alloc);
        *ret = client_roundtrip(s, cdb, NULL, devfd, rep);
        return (unsigned) (now_ms() - t0);
}

static void test_others_answered(void) {
        uint8_t cdb[PRH_CDB_SIZE];
        int slow_conn, old_conn, slowfd, goodfd, r;
        unsigned worst = 0, lat;
        uint64_t t0;
        Reply rep;

        test_begin("others are answered while one device stalls");
        old_conn = client_open(H.sock);
        slow_conn = client_open(H.sock);
        slowfd = fuse_dev_open(&F, "slow", O_RDWR);
        goodfd = fuse_dev_open(&F, "good", O_RDWR);
        CHECK(old_conn >= 0 && slow_conn >= 0 && slowfd >= 0 && goodfd >= 0);
        if (old_conn < 0 || slow_conn < 0 || slowfd < 0 || goodfd < 0)
                return;

        cdb_pr_in(cdb, 0, 40);
        t0 = now_ms();
        CHECK(client_send_request(slow_conn, cdb, NULL, slowfd) == 0);
        sleep_ms(100);  /* the slow request is inside the device now */

        for (int i = 0; i < 30; i++) {
                int s = i % 3 == 0 ? old_conn : client_open(H.sock);
                int fd = i % 2 ? goodfd : null_rw;

                CHECK(s >= 0);
                if (s < 0)
                        continue;
                lat = timed_roundtrip(s, fd, 16, &rep, &r);
                CHECK_MSG(r == 0, "request %d: %d", i, r);
                if (r == 0 && fd == goodfd)
                        CHECK_MSG(rep.res.status == 0 && rep.res.data_len == 16, "request %d: status %d", i,
                                  rep.res.status);
                else if (r == 0)
                        CHECK(memcmp(rep.header, REPLY_ENOTTY, sizeof REPLY_ENOTTY) == 0);
                worst = MAX(worst, lat);
                if (s != old_conn)
                        close(s);
        }
        fprintf(stderr, "  30 requests during the stall: worst latency %u ms (stall %u ms), done after %llu ms\n",
                worst, STALL_MS, (unsigned long long) (now_ms() - t0));
        CHECK_MSG(worst < FAST_LIMIT_MS, "a request took %u ms while another device stalled", worst);
        CHECK_MSG(now_ms() - t0 < STALL_MS, "the other requests were not all done within the stall");

        r = client_read_reply(slow_conn, cdb, &rep, STALL_MS + 5000);
        lat = (unsigned) (now_ms() - t0);
        CHECK_EQ(r, 0);
        CHECK_MSG(rep.res.status == 0 && rep.res.data_len == 40, "slow request: status %d sz %u", rep.res.status,
                  rep.res.data_len);
        fprintf(stderr, "  the stalled request was answered after %u ms\n", lat);
        CHECK_MSG(lat >= STALL_MS - 200, "stall too short (%u ms): the device was not really slow", lat);
        close(slow_conn);
        close(old_conn);
        close(slowfd);
        close(goodfd);
}

static void test_parallel_stalls(void) {
        enum { N = 4 };
        uint8_t cdb[PRH_CDB_SIZE];
        int s[N], fd[N];
        uint64_t t0;
        Reply rep;

        test_begin("four stalled devices stall in parallel, not one after another");
        cdb_pr_in(cdb, 0, 8);
        t0 = now_ms();
        for (int i = 0; i < N; i++) {
                s[i] = client_open(H.sock);
                fd[i] = fuse_dev_open(&F, "slow", O_RDWR);
                CHECK(s[i] >= 0 && fd[i] >= 0);
                CHECK(client_send_request(s[i], cdb, NULL, fd[i]) == 0);
        }
        for (int i = 0; i < N; i++) {
                CHECK_EQ(client_read_reply(s[i], cdb, &rep, N * STALL_MS + 5000), 0);
                CHECK(rep.res.status == 0 && rep.res.data_len == 8);
                close(s[i]);
                close(fd[i]);
        }
        fprintf(stderr, "  %d stalled requests done after %llu ms\n", N, (unsigned long long) (now_ms() - t0));
        if (is_ref)
                /* QEMU's thread pool only spawns a worker when it sees no idle one at
                 * submission; idle workers not yet woken can make two requests share one
                 * (observed: 4 stalls in 2 x STALL under load).  Not serialised, though. */
                CHECK_MSG(now_ms() - t0 < (N - 1) * STALL_MS, "took %llu ms: SG_IO is serialised",
                          (unsigned long long) (now_ms() - t0));
        else
                /* prhd runs up to --max-requests (default 64) at once. */
                CHECK_MSG(now_ms() - t0 < 2 * STALL_MS, "took %llu ms: SG_IO is serialised",
                          (unsigned long long) (now_ms() - t0));
}

static void test_same_connection_order(void) {
        uint8_t c1[PRH_CDB_SIZE], c2[PRH_CDB_SIZE];
        int s, slowfd;
        uint64_t t0;
        Reply rep;

        test_begin("on one connection a request behind a stalled one is answered after it, in order");
        s = client_open(H.sock);
        slowfd = fuse_dev_open(&F, "slow", O_RDWR);
        CHECK(s >= 0 && slowfd >= 0);
        cdb_pr_in(c1, 0, 24);
        cdb_pr_in(c2, 0, 40);
        t0 = now_ms();
        CHECK(client_send_request(s, c1, NULL, slowfd) == 0);
        CHECK(client_send_request(s, c2, NULL, null_rw) == 0);
        CHECK_EQ(client_read_reply(s, c1, &rep, STALL_MS + 5000), 0);
        CHECK_MSG(rep.res.status == 0 && rep.res.data_len == 24, "first reply is not the slow one's");
        CHECK_EQ(client_read_reply(s, c2, &rep, 5000), 0);
        CHECK(memcmp(rep.header, REPLY_ENOTTY, sizeof REPLY_ENOTTY) == 0);
        CHECK(now_ms() - t0 >= STALL_MS - 200);
        close(s);
        close(slowfd);
}

/* A client that pipelines requests with large replies and never reads them
 * blocks only itself; then SIGTERM still ends the helper promptly. */
static void test_slow_reader(void) {
        uint8_t cdb[PRH_CDB_SIZE];
        unsigned sent = 0, worst = 0;
        int s, goodfd, r;
        Reply rep;

        test_begin("a client that never reads its 8 KiB replies blocks nobody else");
        s = client_open(H.sock);
        goodfd = fuse_dev_open(&F, "good", O_RDWR);
        CHECK(s >= 0 && goodfd >= 0);
        if (s < 0 || goodfd < 0)
                return;
        cdb_pr_in(cdb, 0, PRH_DATA_SIZE);
        /* Until our send buffer is full: the helper's writes to us are blocked by then. */
        for (; sent < 5000; sent++) {
                int fds[1] = { goodfd };
                if (send_with_fds(s, cdb, sizeof cdb, fds, 1, MSG_DONTWAIT) < 0)
                        break;
        }
        sleep_ms(300);
        fprintf(stderr, "  %u requests queued, none read\n", sent);
        for (int i = 0; i < 10; i++) {
                int c = client_open(H.sock);
                unsigned lat;
                CHECK(c >= 0);
                if (c < 0)
                        continue;
                lat = timed_roundtrip(c, null_rw, 16, &rep, &r);
                CHECK_EQ(r, 0);
                worst = MAX(worst, lat);
                close(c);
        }
        fprintf(stderr, "  other clients: worst latency %u ms\n", worst);
        CHECK_MSG(worst < FAST_LIMIT_MS, "a request took %u ms while one client did not read", worst);
        close(s);
        close(goodfd);
        CHECK(helper_alive(&H));
}

int main(int argc, char **argv) {
        const char *path = harness_helper_path(argc, argv);
        int r;

        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        is_ref = harness_is_reference(path);
        fprintf(stderr, "helper under test: %s\n", path);
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        r = fuse_dev_start(&F, SLOW_SECONDS);
        if (r < 0) {
                fprintf(stderr, "FUSE device: %s\n", strerror(-r));
                test_skip("needs /dev/fuse and test/fuse-sgio");
        }
        if (helper_init(&H, path) < 0 || helper_start(&H, NULL) < 0) {
                fprintf(stderr, "could not start %s\n", path);
                helper_free(&H);
                fuse_dev_stop(&F);
                return EXIT_FAILURE;
        }
        test_others_answered();
        test_parallel_stalls();
        test_same_connection_order();
        test_slow_reader();
        CHECK(helper_alive(&H));
        helper_free(&H);
        fuse_dev_stop(&F);
        return tests_finish("test-slow-device");
}
