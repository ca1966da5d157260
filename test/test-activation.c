/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd socket activation through the real systemd-socket-activate tool
 * (reference-behaviour.md section 5.6): the helper serves the passed
 * socket and does not unlink a socket it did not create;
 * -k together with activation and LISTEN_FDS=2 are startup errors; a
 * LISTEN_PID for another process means no activation.  For prhd also the
 * sd_notify READY=1 message when NOTIFY_SOCKET is set.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static const char *path;
static const char *ssa;
static bool is_ref;
static int null_rw = -1;

static bool request_works(const char *sock) {
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;
        int s = client_open(sock), r;

        if (s < 0)
                return false;
        cdb_pr_in(cdb, 0, 40);
        r = client_roundtrip(s, cdb, NULL, null_rw, &rep);
        close(s);
        return r == 0 && memcmp(rep.header, REPLY_ENOTTY, sizeof REPLY_ENOTTY) == 0;
}

/* Wait for the socket file systemd-socket-activate creates (connecting would exec the helper). */
static bool wait_file(const char *p) {
        for (int i = 0; i < 500; i++) {
                if (path_exists(p))
                        return true;
                sleep_ms(10);
        }
        return false;
}

static void test_activated(void) {
        Helper h;

        test_begin("activated: serves the passed socket, exits 0 on SIGTERM, leaves the socket file");
        if (helper_init(&h, path) < 0)
                return;
        {
                const char *wrapper[] = { ssa, "-l", h.sock, NULL };
                HelperSpawn s = { .wrapper = wrapper };
                CHECK_EQ(helper_spawn(&h, &s), 0);
        }
        CHECK(wait_file(h.sock));
        CHECK_MSG(request_works(h.sock), "no service on the activated socket");
        CHECK_MSG(request_works(h.sock), "second connection failed");
        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
        CHECK_MSG(path_exists(h.sock), "the helper unlinked a socket it did not create");
        helper_free(&h);
}

static void test_activation_errors(void) {
        Helper h;

        test_begin("-k together with socket activation -> exit 1");
        if (helper_init(&h, path) == 0) {
                const char *wrapper[] = { ssa, "-l", h.sock, NULL };
                const char *args[] = { "-k", "/nonexistent/other.sock", NULL };
                HelperSpawn s = { .wrapper = wrapper, .args = args };
                int c;

                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK(wait_file(h.sock));
                c = client_connect(h.sock);     /* triggers the exec */
                CHECK_EQ(helper_wait_exit(&h, 5000, NULL), 0);
                helper_output_drain(&h, 2000);
                CHECK_MSG(helper_exit_code(&h) == 1, "exit code %d", helper_exit_code(&h));
                CHECK_MSG(helper_stderr_wait(&h, "Unix socket can't be set when using socket activation", 100),
                          "message missing");
                if (c >= 0)
                        close(c);
                helper_free(&h);
        }

        test_begin("LISTEN_FDS=2 -> exit 1");
        if (helper_init(&h, path) == 0) {
                char sock2[400];
                snprintf(sock2, sizeof sock2, "%s/sock2", h.dir);
                const char *wrapper[] = { ssa, "-l", h.sock, "-l", sock2, NULL };
                HelperSpawn s = { .wrapper = wrapper };
                int c;

                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK(wait_file(h.sock) && wait_file(sock2));
                c = client_connect(h.sock);
                CHECK_EQ(helper_wait_exit(&h, 5000, NULL), 0);
                helper_output_drain(&h, 2000);
                CHECK_MSG(helper_exit_code(&h) == 1, "exit code %d", helper_exit_code(&h));
                CHECK_MSG(helper_stderr_wait(&h, "does not support socket activation with LISTEN_FDS > 1", 100),
                          "message missing");
                if (c >= 0)
                        close(c);
                helper_free(&h);
        }

        test_begin("LISTEN_PID of another process: no activation, -k socket is used");
        if (helper_init(&h, path) == 0) {
                const char *env[] = { "LISTEN_FDS=1", "LISTEN_PID=1", NULL };
                const char *args[] = { "-k", h.sock, NULL };
                HelperSpawn s = { .args = args, .env = env };

                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK_EQ(helper_wait_socket(&h, 5000), 0);
                CHECK(request_works(h.sock));
                CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
                helper_free(&h);
        }
}

static void test_notify(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char env[400], buf[512];
        int ns;
        Helper h;

        if (is_ref) {
                fprintf(stderr, "(reference has no sd_notify support; READY=1 not checked)\n");
                return;
        }
        test_begin("NOTIFY_SOCKET: READY=1 once the socket accepts connections");
        if (helper_init(&h, path) < 0)
                return;
        if (strlen(h.dir) + sizeof "/notify" > sizeof sa.sun_path) {
                helper_free(&h);
                return;
        }
        memcpy(sa.sun_path, h.dir, strlen(h.dir));
        strcat(sa.sun_path, "/notify");
        ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHECK(ns >= 0 && bind(ns, (struct sockaddr *) &sa, sizeof sa) == 0);
        snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", sa.sun_path);
        {
                const char *e[] = { env, NULL };
                const char *args[] = { "-k", h.sock, NULL };
                HelperSpawn s = { .args = args, .env = e };
                struct pollfd p = { .fd = ns, .events = POLLIN };
                ssize_t k;

                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK_MSG(poll(&p, 1, 5000) == 1, "no notification within 5 s");
                k = recv(ns, buf, sizeof buf - 1, MSG_DONTWAIT);
                buf[k > 0 ? k : 0] = 0;
                CHECK_MSG(strstr(buf, "READY=1"), "notification: '%s'", buf);
                CHECK_MSG(socket_is_live(h.sock), "READY=1 before the socket accepts connections");
        }
        close(ns);
        helper_free(&h);
}

int main(int argc, char **argv) {
        path = harness_helper_path(argc, argv);
        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        is_ref = harness_is_reference(path);
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        ssa = getenv("PRH_SOCKET_ACTIVATE");
        if (!ssa || !*ssa)
                ssa = "/usr/bin/systemd-socket-activate";
        if (access(ssa, X_OK) < 0)
                test_skip("systemd-socket-activate not installed");
        fprintf(stderr, "helper under test: %s, activation via %s\n", path, ssa);

        test_activated();
        test_activation_errors();
        test_notify();
        return tests_finish("test-activation");
}
