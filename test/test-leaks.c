/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Resource test: after 10,000 abandoned or malformed requests (every row of
 * the validation table plus clients vanishing mid-request and before the
 * reply, from 20 clients at a time) the helper's open-fd count is back
 * where it started and its RSS is back near it.  The figures are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define N_ROUNDS 10000
#define N_THREADS 20
#define WARMUP_ROUNDS 1000
/* RSS slack: allocator caches and thread stacks touched once. */
#define RSS_SLACK_KB 1024

static Helper H;
static int null_rw = -1;
static atomic_int failures;

typedef struct Job {
        unsigned first, count;
} Job;

static void *worker(void *userdata) {
        const Job *j = userdata;

        for (unsigned i = j->first; i < j->first + j->count; i++) {
                const Violation *v = &violations[i % n_violations];
                int r = violation_perform(v, H.sock, null_rw, 10000);
                if (r < 0) {
                        if (atomic_fetch_add(&failures, 1) < 10)
                                fprintf(stderr, "round %u (%s): %s\n", i, v->name,
                                        r == -EPROTO ? "helper answered instead of closing" : strerror(-r));
                }
        }
        return NULL;
}

static void run_rounds(unsigned total) {
        pthread_t t[N_THREADS];
        Job jobs[N_THREADS];

        for (unsigned i = 0; i < N_THREADS; i++) {
                jobs[i].first = i * (total / N_THREADS);
                jobs[i].count = total / N_THREADS;
                if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0)
                        abort();
        }
        for (unsigned i = 0; i < N_THREADS; i++)
                pthread_join(t[i], NULL);
}

static void good_requests(unsigned n) {
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;
        int s = client_open(H.sock);

        CHECK(s >= 0);
        if (s < 0)
                return;
        for (unsigned i = 0; i < n; i++) {
                cdb_pr_in(cdb, 0, 40);
                CHECK_EQ(client_roundtrip(s, cdb, NULL, null_rw, &rep), 0);
                CHECK(memcmp(rep.header, REPLY_ENOTTY, sizeof REPLY_ENOTTY) == 0);
        }
        close(s);
}

int main(int argc, char **argv) {
        const char *path = harness_helper_path(argc, argv);
        int fds_before, fds_after, fds_peak;
        long rss_before, rss_after;
        uint64_t start;

        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        fprintf(stderr, "helper under test: %s\n", path);
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (helper_init(&H, path) < 0)
                return EXIT_FAILURE;
        H.quiet = true;         /* thousands of expected log lines */
        if (helper_start(&H, NULL) < 0) {
                fprintf(stderr, "could not start %s\n", path);
                helper_free(&H);
                return EXIT_FAILURE;
        }

        test_begin("warm-up");
        run_rounds(WARMUP_ROUNDS);
        good_requests(100);
        sleep_ms(200);
        fds_before = proc_fd_count(H.pid);
        rss_before = proc_rss_kb(H.pid);

        test_begin("10,000 abandoned or malformed requests");
        start = now_ms();
        run_rounds(N_ROUNDS);
        fprintf(stderr, "  %d rounds in %llu ms\n", N_ROUNDS, (unsigned long long) (now_ms() - start));
        CHECK_MSG(atomic_load(&failures) == 0, "%d rounds did not end as the reference does", atomic_load(&failures));
        CHECK_MSG(helper_alive(&H), "helper died");

        fds_peak = proc_fd_count(H.pid);
        fds_after = proc_fd_count_settle(H.pid, fds_before, 5000);
        good_requests(100);
        sleep_ms(200);
        rss_after = proc_rss_kb(H.pid);
        fprintf(stderr, "  open fds: %d before, %d right after, %d settled\n", fds_before, fds_peak, fds_after);
        fprintf(stderr, "  VmRSS:    %ld kB before, %ld kB after (slack %d kB)\n", rss_before, rss_after,
                RSS_SLACK_KB);
        CHECK_MSG(fds_after == fds_before, "fd count %d, was %d: received fds or sockets leak", fds_after,
                  fds_before);
        if (binary_is_sanitized(path))
                /* ASan quarantines freed memory: RSS grows by design; fds are still exact. */
                fprintf(stderr, "  (AddressSanitizer build: RSS reported, not checked)\n");
        else
                CHECK_MSG(rss_after <= rss_before + RSS_SLACK_KB, "RSS grew by %ld kB", rss_after - rss_before);

        test_begin("the violations were logged as the reference does");
        /* Every round of a row with a message logs it exactly once. */
        {
                static const char *const msgs[] = { "No file descriptor in request.", "Invalid CDB, closing socket.",
                                                    "Unexpected end-of-file before all data were read" };
                for (size_t m = 0; m < ELEMENTSOF(msgs); m++) {
                        unsigned want = 0, got;
                        for (unsigned i = 0; i < WARMUP_ROUNDS + N_ROUNDS; i++) {
                                const Violation *v = &violations[(i < WARMUP_ROUNDS ? i : i - WARMUP_ROUNDS) % n_violations];
                                if (v->message && strcmp(v->message, msgs[m]) == 0)
                                        want++;
                        }
                        got = helper_stderr_count(&H, msgs[m]);
                        fprintf(stderr, "  '%s' x%u (expected %u)\n", msgs[m], got, want);
                        CHECK_MSG(got == want, "'%s' logged %u times, %u rounds call for it", msgs[m], got, want);
                }
        }

        helper_free(&H);
        return tests_finish("test-leaks");
}
