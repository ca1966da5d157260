/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fd a client sends decides what the helper touches (docs/security.md).
 * Without --unsafe-any-fd, prhd must refuse every fd that is not a whole
 * SCSI logical unit before any ioctl reaches it: a regular file, a file on
 * a FUSE mount (whose ioctl counter must not move), /dev/null, a pipe, a
 * socket, and its own pidfile, whose POSIX lock must survive (refusing is
 * not enough there: closing any fd of the file drops the lock).  Each refusal
 * is CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE
 * (05/20/00) with a log line naming what the fd is.  The reference has no
 * such check: it issues SG_IO on all of them (the FUSE counter moves, the
 * others answer ENOTTY's 0B/00/06), and closing the pidfile fd it was sent
 * drops its lock; this test asserts that too, so it shows the hole on the
 * reference and the fix on prhd.  Whole disks, dm maps and sg nodes need
 * real SCSI devices: test/vm (rig-fd-scope).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char *path;
static bool is_ref;
static Helper H;

/* One PR IN READ KEYS with devfd; the reply must be complete. */
static bool read_keys(int devfd, Reply *rep) {
        uint8_t cdb[PRH_CDB_SIZE];
        int s = client_open(H.sock), r;

        if (s < 0)
                return false;
        cdb_pr_in(cdb, 0, 40);
        r = client_roundtrip(s, cdb, NULL, devfd, rep);
        close(s);
        return r == 0;
}

/* One PR OUT REGISTER (SARK 0x1234) with devfd. */
static bool register_key(int devfd, Reply *rep) {
        uint8_t cdb[PRH_CDB_SIZE], data[24] = {};
        int s = client_open(H.sock), r;

        if (s < 0)
                return false;
        data[15] = 0x34;
        data[14] = 0x12;
        cdb_pr_out(cdb, 0, 0, sizeof data);
        r = client_roundtrip(s, cdb, data, devfd, rep);
        close(s);
        return r == 0;
}

/*
 * Send devfd with a PR IN; prhd must refuse with 05/20/00 and log a line
 * containing every needle; the reference must answer ref_header.
 */
static void expect_refused(const char *what, int devfd, const uint8_t *ref_header, const char *const *needles) {
        Reply rep;

        test_begin(what);
        helper_stderr_mark(&H);
        CHECK_MSG(read_keys(devfd, &rep), "no complete reply");
        if (is_ref) {
                if (ref_header)
                        CHECK_MSG(memcmp(rep.header, ref_header, PRH_REPLY_HEADER_SIZE) == 0,
                                  "reference: status %d, sense %02x/%02x/%02x", rep.res.status, rep.res.sense[2] & 0xf,
                                  rep.res.sense[12], rep.res.sense[13]);
                return;
        }
        CHECK_MSG(memcmp(rep.header, REPLY_READ_ONLY, PRH_REPLY_HEADER_SIZE) == 0,
                  "prhd: status %d, sense %02x/%02x/%02x, want CHECK CONDITION 05/20/00", rep.res.status,
                  rep.res.sense[2] & 0xf, rep.res.sense[12], rep.res.sense[13]);
        CHECK_MSG(helper_stderr_wait(&H, "Refusing a request on", 2000), "no refusal logged");
        for (size_t i = 0; needles && needles[i]; i++) {
                _cleanup_free_ char *err = helper_stderr_since_mark(&H);
                CHECK_MSG(err && strstr(err, needles[i]), "log line lacks '%s': %s", needles[i], err ? err : "");
        }
}

static void test_files(void) {
        char file[] = "/tmp/prh-fd-scope-XXXXXX";
        int fd = mkostemp(file, O_CLOEXEC);
        int null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        int p[2], sv[2];

        CHECK(fd >= 0 && null_rw >= 0);
        (void) unlink(file);
        expect_refused("regular file", fd, REPLY_ENOTTY, (const char *const[]) { "a regular file", NULL });
        expect_refused("/dev/null", null_rw, REPLY_ENOTTY,
                       (const char *const[]) { "1:3 (/sys/dev/char/1:3 -> null)", "a character device", NULL });
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        expect_refused("pipe", p[1], REPLY_ENOTTY, (const char *const[]) { "a pipe", NULL });
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        expect_refused("socket", sv[0], REPLY_ENOTTY, (const char *const[]) { "a socket", NULL });
        close(fd);
        close(null_rw);
        close(p[0]);
        close(p[1]);
        close(sv[0]);
        close(sv[1]);
}

/* A FUSE file: the reference's SG_IO reaches the file system (its counter moves), prhd's never does. */
static void test_fuse(void) {
        FuseDev f;
        Reply rep;
        long before, after;
        int r, fd;

        test_begin("FUSE file: SG_IO never reaches the file system");
        r = fuse_dev_start(&f, 1);
        if (r < 0) {
                fprintf(stderr, "  (no FUSE device: %s; not checked)\n", strerror(-r));
                return;
        }
        fd = fuse_dev_open(&f, "good", O_RDWR);
        CHECK(fd >= 0);
        before = fuse_dev_ioctl_count(&f);
        helper_stderr_mark(&H);
        CHECK_MSG(read_keys(fd, &rep), "no complete reply");
        CHECK_MSG(register_key(fd, &rep), "no complete reply");
        after = fuse_dev_ioctl_count(&f);
        if (is_ref) {
                CHECK_MSG(after == before + 2, "reference: %ld ioctls, want 2", after - before);
                CHECK_MSG(rep.res.status == 0, "reference: status %d on the FUSE file", rep.res.status);
        } else {
                CHECK_MSG(after == before, "prhd issued %ld ioctls on a FUSE file", after - before);
                CHECK(memcmp(rep.header, REPLY_READ_ONLY, PRH_REPLY_HEADER_SIZE) == 0);
                /* prhd logs before it replies, but its stderr reaches us through a reader thread. */
                CHECK(helper_stderr_wait(&H, "a regular file, not a SCSI device", 2000));
                helper_stderr_quiet(&H, 200, 2000);
                CHECK_EQ(helper_stderr_count(&H, "a regular file, not a SCSI device"), 2);
        }
        close(fd);
        fuse_dev_stop(&f);
}

/* Who holds a write lock on the pidfile, as another process sees it: its pid, 0 if nobody, -1 on error. */
static pid_t pidfile_lock_holder(const char *p) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        pid_t r = -1;

        if (fd < 0)
                return -1;
        if (fcntl(fd, F_GETLK, &fl) == 0)
                r = fl.l_type == F_UNLCK ? 0 : fl.l_pid;
        close(fd);
        return r;
}

static void test_pidfile(void) {
        Reply rep;
        pid_t holder;
        int fd;

        test_begin("the helper's own pidfile as the device fd: refused, the lock survives");
        for (int i = 0; i < 200 && pidfile_lock_holder(H.pidfile) != H.pid; i++)
                sleep_ms(10);
        holder = pidfile_lock_holder(H.pidfile);
        CHECK_MSG(holder == H.pid, "before: lock held by %d, helper is %d", (int) holder, (int) H.pid);
        fd = open(H.pidfile, O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0);
        helper_stderr_mark(&H);
        CHECK_MSG(read_keys(fd, &rep), "no complete reply");
        close(fd);
        /* The helper closes the fd after replying: give it a moment. */
        sleep_ms(100);
        holder = pidfile_lock_holder(H.pidfile);
        if (is_ref)
                CHECK_MSG(holder == 0, "reference: lock still held by %d (the hole is expected here)", (int) holder);
        else {
                CHECK(memcmp(rep.header, REPLY_READ_ONLY, PRH_REPLY_HEADER_SIZE) == 0);
                CHECK_MSG(holder == H.pid, "prhd: after the request the lock is held by %d, helper is %d",
                          (int) holder, (int) H.pid);
                CHECK_MSG(helper_stderr_wait(&H, "A client sent an fd of the pid file", 2000),
                          "prhd: no log line about the pid file fd");
        }
}

/* A client sending refused fds in a loop: every request answered, at most 10 lines a minute in the log. */
static void test_log_bound(void) {
        Helper f;
        Reply rep;
        uint8_t cdb[PRH_CDB_SIZE];
        int null_rw = open("/dev/null", O_RDWR | O_CLOEXEC), s, answered = 0;

        test_begin("25 refused requests: 25 answers, 10 refusal lines, then one line saying the rest are not logged");
        CHECK(helper_init(&f, path) == 0);
        f.quiet = true;
        CHECK_EQ(helper_start(&f, NULL), 0);
        s = client_open(f.sock);
        cdb_pr_in(cdb, 0, 40);
        for (int i = 0; i < 25; i++)
                if (client_roundtrip(s, cdb, NULL, null_rw, &rep) == 0 &&
                    memcmp(rep.header, REPLY_READ_ONLY, PRH_REPLY_HEADER_SIZE) == 0)
                        answered++;
        CHECK_EQ(answered, 25);
        helper_stderr_quiet(&f, 200, 2000);
        CHECK_EQ(helper_stderr_count(&f, "Refusing a request on"), 10);
        CHECK_EQ(helper_stderr_count(&f, "further ones are counted, not logged"), 1);
        close(s);
        helper_free(&f);
        close(null_rw);
}

/* prhd --unsafe-any-fd: said to be for testing in --help, warned about at start, and then acts on /dev/null. */
static void test_unsafe_option(void) {
        Helper u;
        Reply rep;
        int null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);

        test_begin("--unsafe-any-fd: --help says testing only; warning at start; any fd acted on");
        CHECK(helper_init(&u, path) == 0);
        CHECK_EQ(helper_run(&u, &(HelperSpawn) { .args = (const char *const[]) { "--help", NULL } }, 5000), 0);
        {
                _cleanup_free_ char *out = helper_stdout(&u);
                CHECK_MSG(out && strstr(out, "--unsafe-any-fd") && strstr(out, "FOR TESTING ONLY"),
                          "--help does not say --unsafe-any-fd is for testing only");
        }
        helper_free(&u);

        CHECK(helper_init(&u, path) == 0);
        u.unsafe_any_fd = true;
        CHECK_EQ(helper_start(&u, NULL), 0);
        CHECK_MSG(helper_stderr_wait(&u, "--unsafe-any-fd: acting on any fd", 2000), "no warning at start");
        {
                uint8_t cdb[PRH_CDB_SIZE];
                int s = client_open(u.sock);

                cdb_pr_in(cdb, 0, 40);
                CHECK(client_roundtrip(s, cdb, NULL, null_rw, &rep) == 0);
                CHECK_MSG(memcmp(rep.header, REPLY_ENOTTY, PRH_REPLY_HEADER_SIZE) == 0,
                          "with --unsafe-any-fd, /dev/null should get SG_IO's ENOTTY answer");
                close(s);
        }
        helper_free(&u);
        close(null_rw);
}

int main(int argc, char **argv) {
        const char *args[] = { "-f", NULL, NULL };

        path = harness_helper_path(argc, argv);
        test_require_root();
        /* Deliberately without --unsafe-any-fd: the default is what is tested. */
        harness_set_unsafe_any_fd(false);
        is_ref = harness_is_reference(path);
        fprintf(stderr, "helper under test: %s (%s)\n", path, is_ref ? "reference" : "prhd");

        if (helper_init(&H, path) < 0)
                return EXIT_FAILURE;
        args[1] = H.pidfile;
        if (helper_start(&H, args) < 0) {
                fprintf(stderr, "could not start %s\n", path);
                helper_free(&H);
                return EXIT_FAILURE;
        }

        test_files();
        test_fuse();
        test_pidfile();
        if (!is_ref) {
                test_unsafe_option();
                test_log_bound();
        }

        test_begin("helper still running");
        CHECK(helper_alive(&H));
        helper_free(&H);
        return tests_finish("test-fd-scope");
}
