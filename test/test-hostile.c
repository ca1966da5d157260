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
#include <signal.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static int null_rw = -1;

static bool roundtrip_ok(int s) {
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;

        cdb_pr_in(cdb, 0, 8);
        return client_roundtrip(s, cdb, NULL, null_rw, &rep) == 0;
}

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

/* Read replies until EOF: how many were whole; -EPROTO etc. if the stream ended inside one. */
static int read_replies_to_eof(int s, unsigned *ret_count) {
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;
        int r;

        cdb_pr_in(cdb, 0, 8);
        *ret_count = 0;
        while ((r = client_read_reply(s, cdb, &rep, 5000)) == 0)
                (*ret_count)++;
        return r == 1 ? 0 : r;
}

static bool wait_path_gone(const char *path, unsigned ms) {
        uint64_t end = now_ms() + ms;

        while (path_exists(path))
                if (now_ms() > end)
                        return false;
                else
                        sleep_ms(10);
        return true;
}

static void test_buffered_reply_at_shutdown(const char *path) {
        Helper h;
        int s;

        test_begin("a reply blocked in write at termination is written before exit");
        if (helper_init(&h, path) < 0) {
                CHECK(false);
                return;
        }
        h.quiet = true;
        if (helper_start(&h, (const char *const[]) { "-T", "reply_sent", NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        s = client_open(h.sock);
        CHECK(s >= 0);
        if (s >= 0) {
                unsigned sent = pipeline_until_stuck(s, 20000), got = 0;
                CHECK_MSG(sent > 100, "only %u requests sent", sent);
                CHECK(kill(h.pid, SIGTERM) == 0);
                /* The helper unlinks its socket when it starts terminating. */
                CHECK(wait_path_gone(h.sock, 5000));
                sleep_ms(300);
                int r = read_replies_to_eof(s, &got);
                CHECK_MSG(r == 0, "the reply stream ended inside a reply (%s) after %u replies", strerror(-r), got);
                int code = -1, status;
                if (helper_wait_exit(&h, 10000, &status) == 0)
                        code = helper_exit_code(&h);
                CHECK_MSG(code == 0, "exit code %d", code);
                helper_output_drain(&h, 2000);
                unsigned executed = helper_stderr_count(&h, "reply_sent");
                printf("  %u requests sent, %u executed, %u replies received\n", sent, executed, got);
                CHECK_MSG(got == executed && got > 0, "%u replies received for %u executed", got, executed);
                safe_close(s);
        }
        helper_free(&h);
}

/* The client's file status flags are its own: prhd leaves O_NONBLOCK alone, the reference clears it. */
static void test_fd_flags_unchanged(const char *path) {
        uint8_t cdb[PRH_CDB_SIZE];
        Helper h;
        Reply rep;
        int s, fd;

        test_begin(harness_is_reference(path) ? "the reference clears O_NONBLOCK on the client's file description"
                                              : "the client's file status flags are unchanged after a request");
        if (helper_init(&h, path) < 0 || helper_start(&h, NULL) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        fd = open("/dev/null", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        s = client_open(h.sock);
        CHECK(fd >= 0 && s >= 0);
        if (fd >= 0 && s >= 0) {
                int before = fcntl(fd, F_GETFL);
                cdb_pr_in(cdb, 0, 8);
                CHECK(client_roundtrip(s, cdb, NULL, fd, &rep) == 0);
                int after = fcntl(fd, F_GETFL);
                printf("  file status flags before 0%o, after 0%o\n", (unsigned) before, (unsigned) after);
                CHECK(before >= 0 && (before & O_NONBLOCK));
                if (harness_is_reference(path))
                        CHECK_MSG(after == (before & ~O_NONBLOCK), "after: 0%o", (unsigned) after);
                else
                        CHECK_MSG(after == before, "after: 0%o", (unsigned) after);
        }
        safe_close(fd);
        safe_close(s);
        helper_free(&h);
}

static int bind_unix(const char *path, int type) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 ||
            (type == SOCK_STREAM && listen(fd, 16) < 0)) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

static ino_t inode_of(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0 ? st.st_ino : 0;
}

/* Start path with "-k sock" (as uid/gid when set_ids); it must exit 1 and leave sock alone. */
static void expect_refused(const char *path, const char *sock, bool set_ids, const char *what) {
        Helper h;
        ino_t ino = inode_of(sock);

        if (helper_init(&h, path) < 0) {
                CHECK(false);
                return;
        }
        h.quiet = true;
        int code = helper_run(&h, &(HelperSpawn) {
                .args = (const char *const[]) { "-k", sock, NULL },
                .set_ids = set_ids, .uid = 65534, .gid = 65534,
        }, 5000);
        _cleanup_free_ char *err = helper_stderr(&h);
        printf("  %s: exit %d, stderr: %s", what, code, err ? err : "(none)\n");
        CHECK_MSG(code == 1, "%s: exit code %d", what, code);
        CHECK_MSG(ino != 0 && inode_of(sock) == ino, "%s: the socket file was replaced", what);
        CHECK(err && strstr(err, "not known to be stale"));
        helper_free(&h);
}

static void test_socket_replacement(const char *path) {
        Helper h;
        char dir[400], sock[450];
        int live;

        if (helper_init(&h, path) < 0) {
                CHECK(false);
                return;
        }
        test_begin("a socket prhd may not connect to (EACCES) is not replaced");
        snprintf(dir, sizeof dir, "%s/open", h.dir);
        snprintf(sock, sizeof sock, "%s/sock", dir);
        CHECK(chmod(h.dir, 0755) == 0);
        CHECK(mkdir(dir, 0777) == 0 && chmod(dir, 0777) == 0);
        live = bind_unix(sock, SOCK_STREAM);
        CHECK(live >= 0 && chmod(sock, 0700) == 0);
        expect_refused(path, sock, true, "EACCES");
        CHECK_MSG(socket_is_live(sock), "the live socket stopped answering");
        safe_close(live);
        (void) unlink(sock);

        test_begin("a live datagram socket (EPROTOTYPE) is not replaced");
        live = bind_unix(sock, SOCK_DGRAM);
        CHECK(live >= 0);
        expect_refused(path, sock, false, "EPROTOTYPE");
        safe_close(live);
        (void) unlink(sock);
        helper_free(&h);
}

/* A socket file nobody listens on. */
static int make_stale(const char *sock) {
        int fd = bind_unix(sock, SOCK_STREAM);

        if (fd < 0)
                return fd;
        safe_close(fd);
        return 0;
}

static void test_two_instances(const char *path) {
        enum { ROUNDS = 100 };
        char sock[400];
        unsigned bad = 0;

        test_begin("two instances started at once on a stale socket: exactly one serves");
        for (unsigned round = 0; round < ROUNDS; round++) {
                Helper a, b;
                if (helper_init(&a, path) < 0 || helper_init(&b, path) < 0) {
                        CHECK(false);
                        return;
                }
                a.quiet = b.quiet = true;
                snprintf(sock, sizeof sock, "%s/shared", a.dir);
                CHECK(make_stale(sock) == 0);
                const char *const args[] = { "-k", sock, NULL };
                CHECK(helper_spawn(&a, &(HelperSpawn) { .args = args }) == 0);
                CHECK(helper_spawn(&b, &(HelperSpawn) { .args = args }) == 0);
                /* The loser exits at once (after the winner listens); both running is the failure. */
                int status;
                uint64_t end = now_ms() + 1500;
                while (helper_alive(&a) && helper_alive(&b) && now_ms() < end)
                        sleep_ms(5);
                bool a_gone = helper_wait_exit(&a, 50, &status) == 0;
                bool b_gone = helper_wait_exit(&b, 50, &status) == 0;
                int c = client_open(sock);
                bool ok = a_gone != b_gone && c >= 0 &&
                          helper_exit_code(a_gone ? &a : &b) == 1;
                if (!ok && bad++ < 3)
                        printf("  round %u: first %s (exit %d), second %s (exit %d), connect: %s\n", round,
                               a_gone ? "exited" : "running", helper_exit_code(&a),
                               b_gone ? "exited" : "running", helper_exit_code(&b), c >= 0 ? "ok" : strerror(-c));
                safe_close(c);
                helper_free(&a);
                helper_free(&b);
        }
        printf("  %u of %u rounds without exactly one serving instance\n", bad, ROUNDS);
        CHECK_MSG(bad == 0, "%u rounds failed", bad);
}

/* Let other users reach the helper's socket. */
static void open_socket_to_all(Helper *h) {
        CHECK(chmod(h->dir, 0755) == 0);
        CHECK(chmod(h->sock, 0777) == 0);
}

/*
 * In a child running as nobody: connect, handshake, one PR IN on /dev/null.
 * Returns the child's verdict (0 served, 2 not connected, 3 no reply) and
 * the round trip's duration.
 */
static int nobody_roundtrip(const char *sock, uint64_t *ret_ms) {
        uint64_t t0 = now_ms();
        int status;
        pid_t pid = fork();

        if (pid == 0) {
                uint8_t cdb[PRH_CDB_SIZE];
                Reply rep;
                if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(4);
                int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                int c = client_open(sock);
                if (c < 0)
                        _exit(2);
                cdb_pr_in(cdb, 0, 8);
                _exit(client_roundtrip(c, cdb, NULL, fd, &rep) == 0 ? 0 : 3);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                return -1;
        *ret_ms = now_ms() - t0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_client_timeout(const char *path) {
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;
        Helper h;
        int a, b, c, d;
        uint64_t t0;

        test_begin("--client-timeout=1000: an incomplete handshake or request is closed, an idle connection is not");
        if (helper_init(&h, path) < 0 || helper_start(&h, (const char *const[]) { "--client-timeout=1000", NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        cdb_pr_in(cdb, 0, 8);
        t0 = now_ms();
        a = client_connect(h.sock);             /* never answers the handshake */
        b = client_open(h.sock);                /* half a CDB, then silence */
        c = client_open(h.sock);                /* idle between requests */
        d = client_open(h.sock);                /* slow, but within the bound */
        CHECK(a >= 0 && b >= 0 && c >= 0 && d >= 0);
        if (a >= 0 && b >= 0 && c >= 0 && d >= 0) {
                uint8_t hs[PRH_HANDSHAKE_SIZE];
                CHECK(recv(a, hs, sizeof hs, MSG_WAITALL) == (ssize_t) sizeof hs);
                CHECK(client_roundtrip(c, cdb, NULL, null_rw, &rep) == 0);
                CHECK(client_send(b, cdb, 8, null_rw, -1) == 0);
                CHECK(client_send(d, cdb, 8, null_rw, -1) == 0);
                sleep_ms(500);
                CHECK(loop_write(d, cdb + 8, 8) == 0);
                CHECK_MSG(client_read_reply(d, cdb, &rep, 3000) == 0, "a request completed within the bound was not served");
                CHECK_MSG(client_expect_closed(a, 3000) == 0, "a connection without handshake was not closed");
                uint64_t ta = now_ms() - t0;
                CHECK_MSG(client_expect_closed(b, 3000) == 0, "a connection with half a request was not closed");
                uint64_t tb = now_ms() - t0;
                printf("  no handshake closed after %llu ms, half a CDB after %llu ms\n",
                       (unsigned long long) ta, (unsigned long long) tb);
                CHECK_MSG(ta >= 900 && tb >= 900, "closed too early");
                CHECK(helper_stderr_wait(&h, "request not complete within 1000 ms", 2000));
                sleep_ms(MAX(0, 2500 - (int) (now_ms() - t0)));
                CHECK_MSG(client_roundtrip(c, cdb, NULL, null_rw, &rep) == 0, "an idle connection was closed");
        }
        safe_close(a);
        safe_close(b);
        safe_close(c);
        safe_close(d);
        CHECK(helper_alive(&h));
        helper_free(&h);
}

static void test_peer_connections(const char *path) {
        Helper h;
        int c[3];
        uint64_t ms;

        test_begin("--max-connections-per-peer=2: a third connection of one uid is closed, another uid is served");
        if (helper_init(&h, path) < 0 ||
            helper_start(&h, (const char *const[]) { "--max-connections-per-peer=2", NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        open_socket_to_all(&h);
        c[0] = client_open(h.sock);
        c[1] = client_open(h.sock);
        CHECK(c[0] >= 0 && c[1] >= 0);
        c[2] = client_connect(h.sock);
        CHECK(c[2] >= 0 && client_expect_closed(c[2], 2000) == 0);
        CHECK(helper_stderr_wait(&h, "connection limit of its user reached", 2000));
        int v = nobody_roundtrip(h.sock, &ms);
        CHECK_MSG(v == 0, "another uid was not served (child verdict %d)", v);
        CHECK(c[0] >= 0 && roundtrip_ok(c[0]) && c[1] >= 0 && roundtrip_ok(c[1]));
        /* A connection closed is one the same uid may open again. */
        safe_close(c[0]);
        c[0] = -1;
        for (int tries = 0; tries < 50 && c[0] < 0; tries++) {
                sleep_ms(20);
                c[0] = client_open(h.sock);
        }
        CHECK_MSG(c[0] >= 0 && roundtrip_ok(c[0]), "no connection after one of the uid closed");
        for (int i = 0; i < 3; i++)
                safe_close(c[i]);
        helper_free(&h);
}

/* Every admitted connection can hold a request's fd: the budget counts two fds per connection. */
static void test_fd_budget(const char *path) {
        enum { MAX_TRY = 200 };
        uint8_t cdb[PRH_CDB_SIZE];
        int conns[MAX_TRY];
        unsigned n = 0, alive = 0, served = 0;
        Helper h;
        int r;

        test_begin("with RLIMIT_NOFILE 100, every admitted connection can send its fd");
        if (helper_init(&h, path) < 0) {
                CHECK(false);
                return;
        }
        h.quiet = true;
        /* prhd raises its soft limit to the hard one: set both. */
        r = helper_spawn(&h, &(HelperSpawn) {
                .wrapper = (const char *const[]) { "prlimit", "--nofile=100:100", NULL },
                .args = (const char *const[]) { "-k", h.sock, "--max-requests=1", "--max-connections-per-peer=1000", NULL },
        });
        if (r == 0)
                r = helper_wait_socket(&h, 5000);
        if (r < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                return;
        }
        /* Connect until the helper refuses. */
        while (n < MAX_TRY) {
                int c = client_open(h.sock);
                if (c < 0)
                        break;
                conns[n++] = c;
        }
        CHECK_MSG(n < MAX_TRY, "no connection refused");
        /* Each sends one CDB byte with an fd: the request stays incomplete, the fd held. */
        cdb_pr_in(cdb, 0, 8);
        for (unsigned i = 0; i < n; i++)
                CHECK(client_send(conns[i], cdb, 1, null_rw, -1) == 0);
        sleep_ms(500);
        for (unsigned i = 0; i < n; i++) {
                Reply rep;
                if (!client_still_open(conns[i], 0))
                        continue;
                alive++;
                if (loop_write(conns[i], cdb + 1, sizeof cdb - 1) == 0 && client_read_reply(conns[i], cdb, &rep, 5000) == 0)
                        served++;
        }
        printf("  %u connections admitted, %u still open after sending an fd, %u served\n", n, alive, served);
        CHECK_MSG(alive == n && served == n, "%u of %u admitted connections lost their request", n - served, n);
        for (unsigned i = 0; i < n; i++)
                safe_close(conns[i]);
        CHECK(helper_alive(&h));
        helper_free(&h);
}

static void test_peer_requests(const char *path) {
        enum { STALL_S = 3 };
        const char *unsafe = harness_any_fd_option(path);
        uint8_t cdb[PRH_CDB_SIZE];
        FuseDev f;
        Helper h;
        int c[4], slow[4];
        uint64_t ms;

        test_begin("--max-requests=4 --max-requests-per-peer=2: one uid's stuck requests leave room for another uid");
        if (fuse_dev_start(&f, STALL_S) < 0) {
                CHECK_MSG(false, "FUSE device unavailable");
                return;
        }
        if (helper_init(&h, path) < 0 ||
            helper_start(&h, (const char *const[]) { "--max-requests=4", "--max-requests-per-peer=2", unsafe, NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                fuse_dev_stop(&f);
                return;
        }
        open_socket_to_all(&h);
        cdb_pr_in(cdb, 0, 8);
        uint64_t t0 = now_ms();
        for (int i = 0; i < 4; i++) {
                c[i] = client_open(h.sock);
                slow[i] = fuse_dev_open(&f, "slow", O_RDWR);
                CHECK(c[i] >= 0 && slow[i] >= 0 && client_send_request(c[i], cdb, NULL, slow[i]) == 0);
        }
        sleep_ms(300);
        int v = nobody_roundtrip(h.sock, &ms);
        printf("  another uid served in %llu ms while 4 requests of root wait for a %d s device\n",
               (unsigned long long) ms, STALL_S);
        CHECK_MSG(v == 0 && ms < 1000, "verdict %d after %llu ms", v, (unsigned long long) ms);
        /* The parked requests of root run once its first two are done. */
        unsigned done = 0;
        for (int i = 0; i < 4; i++) {
                Reply rep;
                if (c[i] >= 0 && client_read_reply(c[i], cdb, &rep, 3 * STALL_S * 1000) == 0)
                        done++;
        }
        uint64_t total = now_ms() - t0;
        printf("  root's 4 requests answered after %llu ms\n", (unsigned long long) total);
        CHECK_MSG(done == 4, "%u of 4 answered", done);
        CHECK_MSG(total >= 2 * STALL_S * 1000 - 300, "root ran more than 2 requests at once (%llu ms)",
                  (unsigned long long) total);
        for (int i = 0; i < 4; i++) {
                safe_close(c[i]);
                safe_close(slow[i]);
        }
        helper_free(&h);
        fuse_dev_stop(&f);
}

static void test_stuck_shutdown(const char *path) {
        enum { STALL_S = 30 };
        const char *unsafe = harness_any_fd_option(path);
        uint8_t cdb[PRH_CDB_SIZE];
        FuseDev f;
        Helper h;
        int c, slow;

        test_begin("--shutdown-timeout=1000: prhd exits with a request stuck in the kernel and names its connection");
        if (fuse_dev_start(&f, STALL_S) < 0) {
                CHECK_MSG(false, "FUSE device unavailable");
                return;
        }
        if (helper_init(&h, path) < 0 ||
            helper_start(&h, (const char *const[]) { "--shutdown-timeout=1000", unsafe, NULL }) < 0) {
                CHECK_MSG(false, "could not start %s", path);
                helper_free(&h);
                fuse_dev_stop(&f);
                return;
        }
        cdb_pr_in(cdb, 0, 8);
        c = client_open(h.sock);
        slow = fuse_dev_open(&f, "slow", O_RDWR);
        CHECK(c >= 0 && slow >= 0 && client_send_request(c, cdb, NULL, slow) == 0);
        sleep_ms(300);
        uint64_t t0 = now_ms();
        CHECK(kill(h.pid, SIGTERM) == 0);
        /* Within the grace period and a little: the client is let go, the socket removed, the
         * dropped connection named. */
        CHECK(client_expect_closed(c, 3000) == 0);
        uint64_t t = now_ms() - t0;
        printf("  the client's connection was closed %llu ms after SIGTERM\n", (unsigned long long) t);
        CHECK_MSG(t >= 900 && t < 2500, "after %llu ms", (unsigned long long) t);
        CHECK(!path_exists(h.sock));
        CHECK(helper_stderr_wait(&h, "request(s) stuck in the kernel", 1000));
        CHECK(helper_stderr_count(&h, "Dropping connection ") == 1);
        CHECK(helper_stderr_count(&h, "its request has not completed") == 1);
        /* The process itself ends when the kernel lets its thread go: the FUSE server answers
         * nothing until it is stopped, which aborts the request. */
        fuse_dev_stop(&f);
        int status;
        CHECK(helper_wait_exit(&h, 5000, &status) == 0);
        printf("  exit %d %llu ms after SIGTERM (the FUSE server was stopped at %llu ms)\n", helper_exit_code(&h),
               (unsigned long long) (now_ms() - t0), (unsigned long long) t);
        CHECK(helper_exit_code(&h) == 0);
        safe_close(c);
        safe_close(slow);
        helper_free(&h);
}

int main(int argc, char **argv) {
        const char *path = harness_helper_path(argc, argv);

        test_require_root();
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);

        test_fd_flags_unchanged(path);
        if (harness_is_reference(path))
                return tests_finish("test-hostile");
        test_half_closed(path);
        test_buffered_reply_at_shutdown(path);
        test_socket_replacement(path);
        test_two_instances(path);
        test_client_timeout(path);
        test_peer_connections(path);
        test_fd_budget(path);
        test_peer_requests(path);
        test_stuck_shutdown(path);
        return tests_finish("test-hostile");
}
