/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhd's own limits and options (the reference has none of them):
 * --max-connections refuses extra connections with a clear EOF and a log
 * line and never disturbs the admitted ones; --max-requests bounds the
 * requests executing at once (checked with the stalling FUSE device);
 * invalid values are start-up errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define SLOW_SECONDS 2

static int null_rw = -1;

static bool roundtrip_ok(int s) {
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;

        cdb_pr_in(cdb, 0, 32);
        return client_roundtrip(s, cdb, NULL, null_rw, &rep) == 0 && reply_is_check(&rep, 0x0b, 0x00, 0x06);
}

static void test_max_connections(const char *path) {
        Helper h;
        int c[3], extra, again;

        test_begin("--max-connections=3: a fourth connection is closed at once, the others keep working");
        if (helper_init(&h, path) < 0 || helper_start(&h, (const char *const[]) { "--max-connections=3", NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        for (int i = 0; i < 3; i++) {
                c[i] = client_open(h.sock);
                CHECK_MSG(c[i] >= 0, "connection %d: %s", i, strerror(-c[i]));
        }
        extra = client_connect(h.sock);
        CHECK(extra >= 0);
        if (extra >= 0) {
                CHECK_MSG(client_expect_closed(extra, 2000) == 0, "the connection over the limit was not closed");
                safe_close(extra);
        }
        CHECK(helper_stderr_wait(&h, "connection limit reached", 2000));
        for (int i = 0; i < 3; i++)
                CHECK_MSG(c[i] >= 0 && roundtrip_ok(c[i]), "admitted connection %d not served", i);

        /* A slot freed is a slot reusable. */
        safe_close(c[0]);
        again = -1;
        for (int tries = 0; tries < 50 && again < 0; tries++) {
                sleep_ms(20);
                again = client_open(h.sock);
        }
        CHECK_MSG(again >= 0 && roundtrip_ok(again), "no connection accepted after one closed");
        safe_close(again);
        safe_close(c[1]);
        safe_close(c[2]);
        CHECK(helper_alive(&h));
        helper_free(&h);
}

static void test_max_requests(const char *path, FuseDev *f) {
        uint8_t cdb[PRH_CDB_SIZE];
        Helper h;
        Reply rep;
        int a, b, slowfd;
        uint64_t t0, lat;

        test_begin("--max-requests=1: a second request waits for the stalled one");
        if (helper_init(&h, path) < 0 || helper_start(&h, (const char *const[]) { "--max-requests=1", NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        a = client_open(h.sock);
        b = client_open(h.sock);
        slowfd = fuse_dev_open(f, "slow", O_RDWR);
        CHECK(a >= 0 && b >= 0 && slowfd >= 0);
        if (a >= 0 && b >= 0 && slowfd >= 0) {
                cdb_pr_in(cdb, 0, 32);
                t0 = now_ms();
                CHECK(client_send_request(a, cdb, NULL, slowfd) == 0);
                sleep_ms(200);
                CHECK(roundtrip_ok(b));
                lat = now_ms() - t0;
                /* b could only run once a's stall (SLOW_SECONDS) was over. */
                CHECK_MSG(lat >= SLOW_SECONDS * 1000u - 300, "second request answered after %llu ms",
                          (unsigned long long) lat);
                CHECK(client_read_reply(a, cdb, &rep, 10000) == 0);
        }
        safe_close(slowfd);
        safe_close(a);
        safe_close(b);

        /* The default bound lets the same pair run side by side. */
        helper_free(&h);
        test_begin("default --max-requests: the second request does not wait");
        if (helper_init(&h, path) < 0 || helper_start(&h, NULL) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        a = client_open(h.sock);
        b = client_open(h.sock);
        slowfd = fuse_dev_open(f, "slow", O_RDWR);
        if (a >= 0 && b >= 0 && slowfd >= 0) {
                cdb_pr_in(cdb, 0, 32);
                CHECK(client_send_request(a, cdb, NULL, slowfd) == 0);
                sleep_ms(200);
                t0 = now_ms();
                CHECK(roundtrip_ok(b));
                lat = now_ms() - t0;
                CHECK_MSG(lat < 500, "second request answered after %llu ms", (unsigned long long) lat);
                CHECK(client_read_reply(a, cdb, &rep, 10000) == 0);
        } else
                CHECK(false);
        safe_close(slowfd);
        safe_close(a);
        safe_close(b);
        helper_free(&h);
}

static void test_bad_values(const char *path) {
        static const char *const bad[] = {
                "--sgio-timeout=0", "--sgio-timeout=abc", "--sgio-timeout=-5",
                "--max-connections=0", "--max-connections=x", "--max-requests=0", "--max-requests=99999",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Helper h;
                char title[128];

                snprintf(title, sizeof title, "%s is refused at start", bad[i]);
                test_begin(title);
                if (helper_init(&h, path) < 0) {
                        CHECK(false);
                        continue;
                }
                h.quiet = true;
                int code = helper_run(&h, &(HelperSpawn) { .args = (const char *const[]) { "-k", h.sock, bad[i], NULL } },
                                      5000);
                CHECK_MSG(code == 1, "exit code %d", code);
                CHECK(!path_exists(h.sock));
                _cleanup_free_ char *err = helper_stderr(&h);
                CHECK_MSG(err && strstr(err, "invalid"), "stderr: %s", err ? err : "(none)");
                helper_free(&h);
        }

        Helper h;
        test_begin("--sgio-timeout=2500 is accepted");
        if (helper_init(&h, path) == 0 && helper_start(&h, (const char *const[]) { "--sgio-timeout=2500", NULL }) == 0) {
                int s = client_open(h.sock);
                CHECK(s >= 0 && roundtrip_ok(s));
                safe_close(s);
        } else
                CHECK(false);
        helper_free(&h);
}

int main(int argc, char **argv) {
        const char *path = harness_helper_path(argc, argv);
        FuseDev f;
        int r;

        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        if (harness_is_reference(path))
                test_skip("prhd-only options");
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);

        test_max_connections(path);
        test_bad_values(path);
        r = fuse_dev_start(&f, SLOW_SECONDS);
        CHECK_MSG(r >= 0, "FUSE device unavailable (%s): --max-requests not tested", strerror(-r));
        if (r >= 0) {
                test_max_requests(path, &f);
                fuse_dev_stop(&f);
        }
        return tests_finish("test-limits");
}
