/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhd against hostile or careless local clients (issue 11): what one
 * client does must not cost the daemon CPU, fds or slots beyond its bounds,
 * and must not keep the daemon from others or from stopping.  prhd only:
 * the reference has none of these bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static int null_rw = -1;

/* utime + stime of pid, in clock ticks; -1 on error. */
static long proc_cpu_ticks(pid_t pid) {
        char p[64], *s, *c;
        unsigned long ut, st;

        snprintf(p, sizeof p, "/proc/%d/stat", (int) pid);
        s = read_file_str(p);
        if (!s)
                return -1;
        c = strrchr(s, ')');
        /* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (!c || sscanf(c + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
                free(s);
                return -1;
        }
        free(s);
        return (long) (ut + st);
}

/*
 * Send requests without reading replies until the helper stops reading
 * (our socket stays unwritable for 500 ms) or max requests are out.
 * Returns how many were sent.
 */
static unsigned pipeline_until_stuck(int s, unsigned max) {
        uint8_t cdb[PRH_CDB_SIZE];
        unsigned sent = 0;

        cdb_pr_in(cdb, 0, 8);
        while (sent < max) {
                struct pollfd p = { .fd = s, .events = POLLOUT };
                if (poll(&p, 1, 500) <= 0)
                        break;
                int fds[1] = { null_rw };
                ssize_t k = send_with_fds(s, cdb, sizeof cdb, fds, 1, MSG_DONTWAIT);
                if (k == -EAGAIN)
                        continue;
                if (k != (ssize_t) sizeof cdb)
                        break;
                sent++;
        }
        return sent;
}

static void test_half_closed(const char *path) {
        Helper h;
        int s;
        long t0, t1;

        test_begin("a half-closed client that does not read costs no CPU");
        if (helper_init(&h, path) < 0 || helper_start(&h, NULL) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        s = client_open(h.sock);
        CHECK(s >= 0);
        if (s >= 0) {
                unsigned sent = pipeline_until_stuck(s, 20000);
                printf("  %u requests pipelined before the helper stopped reading\n", sent);
                CHECK_MSG(sent > 100, "only %u requests sent", sent);
                CHECK(shutdown(s, SHUT_WR) == 0);
                sleep_ms(200);
                t0 = proc_cpu_ticks(h.pid);
                sleep_ms(3000);
                t1 = proc_cpu_ticks(h.pid);
                printf("  helper CPU while the client waits: %ld ticks in 3 s (%ld per second)\n", t1 - t0,
                       sysconf(_SC_CLK_TCK));
                CHECK(t0 >= 0 && t1 >= 0);
                /* A spinning thread takes ~100 ticks per second; allow scheduler noise only. */
                CHECK_MSG(t1 - t0 <= sysconf(_SC_CLK_TCK) / 5, "helper used %ld ticks", t1 - t0);
                /* The client can still read its replies. */
                Reply rep;
                uint8_t cdb[PRH_CDB_SIZE];
                cdb_pr_in(cdb, 0, 8);
                CHECK(client_read_reply(s, cdb, &rep, 5000) == 0);
                safe_close(s);
        }
        CHECK(helper_alive(&h));
        helper_free(&h);
}

int main(int argc, char **argv) {
        const char *path = harness_helper_path(argc, argv);

        test_require_root();
        if (harness_is_reference(path))
                test_skip("prhd-only bounds");
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);

        test_half_closed(path);
        return tests_finish("test-hostile");
}
