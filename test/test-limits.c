/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhd's own limits and options (the reference has none of them):
 * --max-connections refuses extra connections with a clear EOF and a log
 * line and never disturbs the admitted ones; --max-requests bounds the
 * requests executing at once (checked with the stalling FUSE device);
 * invalid values are start-up errors.  The refusal log line is rate-limited
 * (at most one a second) while the conn_reject trace event reports every
 * refusal.
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

static unsigned count_of(const char *hay, const char *needle) {
        unsigned n = 0;

        for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* A flood of refused connections: every one traced, the log line at most once a second. */
static void test_refusal_rate_limit(const char *path) {
        static const char log_line[] = "Refusing connection: connection limit reached (--max-connections)";
        static const char trace_line[] = "conn_reject fd=";
        Helper h;
        unsigned refused = 0, other = 0;
        uint64_t t0, elapsed;
        int held;

        test_begin("--max-connections=1 -T conn_reject: 2.5 s of refused connections, each traced, "
                   "the log line at most once a second");
        if (helper_init(&h, path) < 0)
                return;
        h.quiet = true;
        /* The admitted connection is checked with a request on /dev/null. */
        if (helper_start(&h, (const char *const[]) { "--max-connections=1", "-T", "conn_reject",
                                                    harness_any_fd_option(path), NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        held = client_open(h.sock);
        CHECK(held >= 0);
        helper_stderr_quiet(&h, 100, 1000);
        helper_stderr_mark(&h);
        t0 = now_ms();
        while (now_ms() - t0 < 2500) {
                int c = client_connect(h.sock);
                if (c >= 0 && client_expect_closed(c, 2000) == 0)
                        refused++;
                else
                        other++;
                safe_close(c);
                sleep_ms(1);
        }
        /* Wait until every refusal has been traced (the helper may lag behind the client);
         * the window the helper logged in ends no later than now. */
        for (int i = 0; i < 200 && helper_stderr_count(&h, trace_line) < refused; i++)
                sleep_ms(10);
        elapsed = now_ms() - t0;
        helper_stderr_quiet(&h, 200, 2000);
        unsigned traced = helper_stderr_count(&h, trace_line), logged = helper_stderr_count(&h, log_line);
        /* An interval of L seconds touches at most ceil(L) + 1 distinct seconds of time(). */
        unsigned max_logged = (unsigned) (elapsed / 1000) + 2;
        fprintf(stderr, "  %u connections refused in %llu ms: %u traced, %u log lines\n", refused,
                (unsigned long long) elapsed, traced, logged);
        CHECK_MSG(other == 0, "%u connections were not closed at once", other);
        CHECK_MSG(refused >= 20, "only %u refusals: the flood is too small to show a rate limit", refused);
        CHECK_MSG(traced == refused, "%u conn_reject events for %u refusals", traced, refused);
        CHECK_MSG(logged >= 1 && logged <= max_logged, "%u log lines in %llu ms (want 1..%u)", logged,
                  (unsigned long long) elapsed, max_logged);
        {
                _cleanup_free_ char *err = helper_stderr_since_mark(&h);
                CHECK_MSG(count_of(err, "conn_reject fd=") == traced &&
                          count_of(err, "reason=connection limit reached (--max-connections)") == traced,
                          "trace lines lack the reason");
        }
        CHECK(roundtrip_ok(held));
        safe_close(held);
        CHECK(helper_alive(&h));
        helper_free(&h);

        test_begin("without -T conn_reject: no trace line for a refusal");
        if (helper_init(&h, path) < 0)
                return;
        h.quiet = true;
        CHECK_EQ(helper_start(&h, (const char *const[]) { "--max-connections=1", NULL }), 0);
        held = client_open(h.sock);
        int c = client_connect(h.sock);
        CHECK(held >= 0 && c >= 0 && client_expect_closed(c, 2000) == 0);
        CHECK(helper_stderr_wait(&h, log_line, 2000));
        helper_stderr_quiet(&h, 100, 1000);
        CHECK_EQ(helper_stderr_count(&h, trace_line), 0u);
        safe_close(c);
        safe_close(held);
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
                "--sgio-timeout=0", "--sgio-timeout=abc", "--sgio-timeout=-5", "--sgio-timeout=",
                "--sgio-timeout=4294967296", "--sgio-timeout=+5", "--sgio-timeout= 5", "--sgio-timeout=5s",
                "--sgio-timeout=5000ms",
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

        /* The whole range of sg_io_hdr.timeout (unsigned int milliseconds) is accepted. */
        static const char *const good[] = { "--sgio-timeout=2500", "--sgio-timeout=1", "--sgio-timeout=4294967295" };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char title[128];
                Helper h;

                snprintf(title, sizeof title, "%s is accepted", good[i]);
                test_begin(title);
                if (helper_init(&h, path) == 0 &&
                    helper_start(&h, (const char *const[]) { good[i], harness_any_fd_option(path), NULL }) == 0) {
                        int s = client_open(h.sock);
                        CHECK(s >= 0 && roundtrip_ok(s));
                        safe_close(s);
                } else
                        CHECK(false);
                helper_free(&h);
        }
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
        test_refusal_rate_limit(path);
        test_bad_values(path);
        r = fuse_dev_start(&f, SLOW_SECONDS);
        CHECK_MSG(r >= 0, "FUSE device unavailable (%s): --max-requests not tested", strerror(-r));
        if (r >= 0) {
                test_max_requests(path, &f);
                fuse_dev_stop(&f);
        }
        return tests_finish("test-limits");
}
