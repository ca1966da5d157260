/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhd's seccomp sandbox (src/daemon/seccomp.c) as the kernel reports it:
 *  - by default every thread runs under one filter (Seccomp: 2 in each
 *    /proc/PID/task/TID/status), requests are served and SIGTERM ends prhd
 *    with exit 0: the normal flows never touch an unlisted call;
 *  - --seccomp=log installs it too, --seccomp=off installs none, each says
 *    so; an unknown mode is refused before anything starts;
 *  - in a test-only build (-Dseccomp_selftest=true, which sets
 *    PRH_SECCOMP_SELFTEST_BUILD=1 for this test), PRH_SECCOMP_SELFTEST=1
 *    makes prhd call unshare(0) once serving: with the default filter it dies
 *    by SIGSYS and the kernel log has the audit record (type=1326, sig=31,
 *    syscall=272) when /dev/kmsg is readable; with --seccomp=log it lives
 *    and the call is logged instead.
 * prhd only (the reference has no sandbox).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *path;

/* Seccomp mode (0 none, 2 filter) of every thread; -1 if they differ or none could be read. */
static int threads_seccomp_mode(pid_t pid, unsigned *ret_threads) {
        char dirp[64];
        struct dirent *de;
        int mode = -2;
        unsigned n = 0;

        snprintf(dirp, sizeof dirp, "/proc/%d/task", (int) pid);
        DIR *d = opendir(dirp);
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char p[64 + sizeof(de->d_name) + 8];
                snprintf(p, sizeof p, "%s/%s/status", dirp, de->d_name);
                _cleanup_free_ char *st = read_file_str(p);
                if (!st)
                        continue;       /* thread ended meanwhile */
                const char *l = strstr(st, "\nSeccomp:\t");
                if (!l)
                        continue;
                int m = l[10] - '0';
                mode = mode == -2 || mode == m ? m : -1;
                n++;
        }
        closedir(d);
        *ret_threads = n;
        return mode == -2 ? -1 : mode;
}

/* A PR IN and a PR OUT on /dev/null: a reply each (SG_IO fails there), the connection stays usable. */
static void serve_requests(Helper *h) {
        uint8_t cdb[PRH_CDB_SIZE], data[24] = {};
        Reply rep;
        int s = client_open(h->sock);
        int dev = open("/dev/null", O_RDWR | O_CLOEXEC);

        CHECK(s >= 0 && dev >= 0);
        if (s < 0 || dev < 0)
                goto out;
        cdb_pr_in(cdb, 0, 8192);
        CHECK_MSG(client_roundtrip(s, cdb, NULL, dev, &rep) == 0, "no reply to PR IN");
        cdb_pr_out(cdb, 0, 0, sizeof data);
        CHECK_MSG(client_roundtrip(s, cdb, data, dev, &rep) == 0, "no reply to PR OUT");
out:
        if (s >= 0)
                close(s);
        if (dev >= 0)
                close(dev);
}

static void test_mode(const char *mode, const char *logged, int want_seccomp) {
        char title[128], opt[32];
        unsigned n = 0;
        Helper h;

        snprintf(title, sizeof title, "--seccomp=%s: every thread Seccomp %d, requests served, exit 0", mode,
                 want_seccomp);
        test_begin(title);
        if (helper_init(&h, path) < 0)
                return;
        snprintf(opt, sizeof opt, "--seccomp=%s", mode);
        const char *args[] = { opt, "-T", "conn_*", NULL };
        CHECK_EQ(helper_start(&h, mode[0] ? args : args + 1), 0);
        CHECK_MSG(helper_stderr_wait(&h, logged, 2000), "no \"%s\" at start", logged);
        serve_requests(&h);
        CHECK(helper_stderr_wait(&h, "conn_close", 2000));
        CHECK_EQ(threads_seccomp_mode(h.pid, &n), want_seccomp);
        CHECK_MSG(n >= 2, "only %u threads seen", n);
        fprintf(stderr, "  %u threads, Seccomp: %d\n", n, want_seccomp);
        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
        helper_free(&h);
}

static void test_bad_mode(void) {
        Helper h;

        test_begin("--seccomp=strict is refused, exit 1");
        if (helper_init(&h, path) < 0)
                return;
        const char *args[] = { "-k", h.sock, "--seccomp=strict", NULL };
        CHECK_EQ(helper_run(&h, &(HelperSpawn){ .args = args }, 5000), 1);
        _cleanup_free_ char *err = helper_stderr(&h);
        CHECK_MSG(strstr(err, "invalid seccomp mode 'strict'"), "stderr: %s", err);
        helper_free(&h);
}

/* The kernel's audit record of pid's call nr with the given action code, if /dev/kmsg can be read. */
static int kmsg_has_record(pid_t pid, int nr, const char *code) {
        char pidk[32], nrk[32], buf[2048];
        int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        int found = 0;
        ssize_t k;

        if (fd < 0)
                return -errno;
        snprintf(pidk, sizeof pidk, " pid=%d ", (int) pid);
        snprintf(nrk, sizeof nrk, " syscall=%d ", nr);
        /* One record per read; EAGAIN at the end of the buffer. */
        while ((k = read(fd, buf, sizeof buf - 1)) > 0 || (k < 0 && errno == EPIPE)) {
                if (k <= 0)
                        continue;       /* overwritten record: go on */
                buf[k] = 0;
                if (strstr(buf, "type=1326") && strstr(buf, pidk) && strstr(buf, nrk) && strstr(buf, code)) {
                        found = 1;
                        break;
                }
        }
        close(fd);
        return found;
}

static void test_selftest_kill(void) {
        const char *env[] = { "PRH_SECCOMP_SELFTEST=1", NULL };
        int status = 0;
        Helper h;

        test_begin("selftest build: a forbidden call while serving kills prhd with SIGSYS, audited");
        if (helper_init(&h, path) < 0)
                return;
        const char *args[] = { "-k", h.sock, NULL };
        CHECK_EQ(helper_spawn(&h, &(HelperSpawn){ .args = args, .env = env }), 0);
        CHECK_EQ(helper_wait_exit(&h, 10000, &status), 0);
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "wait status 0x%x, not killed by SIGSYS",
                  (unsigned) status);
        helper_output_drain(&h, 2000);
        _cleanup_free_ char *err = helper_stderr(&h);
        CHECK_MSG(strstr(err, "Seccomp filter installed (kill)"), "stderr: %s", err);
        CHECK_MSG(strstr(err, "PRH_SECCOMP_SELFTEST: calling unshare(0)"), "the selftest did not run: %s", err);
        CHECK_MSG(!strstr(err, "still alive"), "survived the forbidden call");
        sleep_ms(200);
        int r = kmsg_has_record(h.pid, SYS_unshare, "code=0x80000000");
        if (r < 0)
                fprintf(stderr, "  /dev/kmsg unreadable (%s): audit record not checked\n", strerror(-r));
        else
                CHECK_MSG(r == 1, "no audit record (type=1326, syscall=%d, kill) for pid %d in the kernel log",
                          SYS_unshare, (int) h.pid);
        helper_free(&h);
}

static void test_selftest_log(void) {
        const char *env[] = { "PRH_SECCOMP_SELFTEST=1", NULL };
        Helper h;

        test_begin("selftest build: --seccomp=log lets the forbidden call through and the kernel logs it");
        if (helper_init(&h, path) < 0)
                return;
        const char *args[] = { "-k", h.sock, "--seccomp=log", NULL };
        CHECK_EQ(helper_spawn(&h, &(HelperSpawn){ .args = args, .env = env }), 0);
        CHECK_MSG(helper_stderr_wait(&h, "still alive after unshare(0)", 5000), "no survival message");
        CHECK(helper_alive(&h));
        pid_t pid = h.pid;
        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
        int r = kmsg_has_record(pid, SYS_unshare, "code=0x7ffc0000");
        if (r < 0)
                fprintf(stderr, "  /dev/kmsg unreadable (%s): log record not checked\n", strerror(-r));
        else
                CHECK_MSG(r == 1, "no log record (type=1326, syscall=%d) for pid %d", SYS_unshare, (int) pid);
        helper_free(&h);
}

int main(int argc, char **argv) {
        path = harness_helper_path(argc, argv);
        if (harness_is_reference(path))
                test_skip("prhd-only: the reference has no sandbox");

        test_mode("", "Seccomp filter installed (kill)", 2);
        test_mode("kill", "Seccomp filter installed (kill)", 2);
        test_mode("log", "Seccomp filter installed (log)", 2);
        test_mode("off", "No seccomp filter (--seccomp=off)", 0);
        test_bad_mode();

        const char *e = getenv("PRH_SECCOMP_SELFTEST_BUILD");
        if (e && strcmp(e, "1") == 0) {
                test_selftest_kill();
                test_selftest_log();
        } else
                fprintf(stderr, "(not a -Dseccomp_selftest=true build: the forbidden-call tests do not apply)\n");
        return tests_finish("test-seccomp");
}
