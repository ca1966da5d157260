/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unchanged QEMU as the client (docs/protocol.md, "QEMU as the client"): a
 * pr-manager-helper object given on the command line and one added with
 * QMP object-add both connect and complete the handshake with the helper
 * under test; QMP reports them connected and emits
 * PR_MANAGER_STATUS_CHANGED.  No guest is needed for this part (PR
 * commands from a guest are the VM rig's job, test/vm).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static char qmp_buf[65536];
static size_t qmp_len;

/* Read from the QMP socket until needle shows up (or timeout). */
static bool qmp_wait(int fd, const char *needle, unsigned timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = (int64_t) end - (int64_t) now_ms();
                ssize_t k;

                qmp_buf[qmp_len] = 0;
                if (strstr(qmp_buf, needle))
                        return true;
                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        return false;
                k = recv(fd, qmp_buf + qmp_len, sizeof qmp_buf - 1 - qmp_len, 0);
                if (k <= 0)
                        return false;
                qmp_len += (size_t) k;
        }
}

static void qmp_send(int fd, const char *cmd) {
        qmp_len = 0;
        qmp_buf[0] = 0;
        CHECK(loop_write(fd, cmd, strlen(cmd)) == 0);
}

int main(int argc, char **argv) {
        const char *path = harness_helper_path(argc, argv);
        const char *qemu = getenv("PRH_QEMU");
        char qmp_path[400], objarg[512], cmd[1024];
        Helper helper, vm;
        int qmp = -1, base;

        test_require_root();
        if (!qemu || !*qemu)
                qemu = "/usr/bin/qemu-system-x86_64";
        if (access(qemu, X_OK) < 0)
                test_skip("qemu-system-x86_64 not installed");
        fprintf(stderr, "helper under test: %s, client %s\n", path, qemu);

        if (helper_init(&helper, path) < 0 || helper_start(&helper, NULL) < 0) {
                fprintf(stderr, "could not start %s\n", path);
                return EXIT_FAILURE;
        }
        sleep_ms(50);
        base = proc_fd_count(helper.pid);

        test_begin("QEMU's -object pr-manager-helper connects and completes the handshake");
        if (helper_init(&vm, qemu) < 0)
                return EXIT_FAILURE;
        snprintf(qmp_path, sizeof qmp_path, "%s/qmp", vm.dir);
        snprintf(objarg, sizeof objarg, "pr-manager-helper,id=pr0,path=%s", helper.sock);
        {
                char qmparg[450];
                snprintf(qmparg, sizeof qmparg, "unix:%s,server=on,wait=off", qmp_path);
                const char *args[] = { "-machine", "none", "-nodefaults", "-display", "none", "-S",
                                       "-qmp", qmparg, "-object", objarg, NULL };
                HelperSpawn s = { .args = args };
                CHECK_EQ(helper_spawn(&vm, &s), 0);
        }
        CHECK_MSG(helper_wait_socket_path(&vm, qmp_path, 10000) == 0, "QEMU did not start (object creation failed?)");
        qmp = client_connect(qmp_path);
        CHECK(qmp >= 0);
        if (qmp < 0)
                goto finish;
        CHECK(qmp_wait(qmp, "\"QMP\"", 5000));
        qmp_send(qmp, "{\"execute\":\"qmp_capabilities\"}\n");
        CHECK(qmp_wait(qmp, "\"return\"", 5000));
        qmp_send(qmp, "{\"execute\":\"query-pr-managers\"}\n");
        CHECK_MSG(qmp_wait(qmp, "\"connected\": true", 5000), "query-pr-managers: %s", qmp_buf);
        CHECK(strstr(qmp_buf, "\"id\": \"pr0\""));
        /* The helper holds QEMU's connection open. */
        CHECK_MSG(proc_fd_count(helper.pid) >= base + 1, "helper has %d fds, %d before QEMU connected",
                  proc_fd_count(helper.pid), base);

        test_begin("QMP object-add of a second pr-manager-helper: PR_MANAGER_STATUS_CHANGED connected");
        snprintf(cmd, sizeof cmd,
                 "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"pr-manager-helper\",\"id\":\"pr1\",\"path\":\"%s\"}}\n",
                 helper.sock);
        qmp_send(qmp, cmd);
        CHECK_MSG(qmp_wait(qmp, "PR_MANAGER_STATUS_CHANGED", 5000), "no event: %s", qmp_buf);
        CHECK(qmp_wait(qmp, "\"return\"", 5000));
        CHECK_MSG(strstr(qmp_buf, "\"connected\": true") && strstr(qmp_buf, "\"id\": \"pr1\""), "event: %s", qmp_buf);
        qmp_send(qmp, "{\"execute\":\"query-pr-managers\"}\n");
        CHECK(qmp_wait(qmp, "\"return\"", 5000));
        CHECK_MSG(strstr(qmp_buf, "\"id\": \"pr1\"") && !strstr(qmp_buf, "\"connected\": false"), "%s", qmp_buf);

        test_begin("QEMU quits: the helper drops both connections and keeps serving");
        qmp_send(qmp, "{\"execute\":\"quit\"}\n");
        CHECK_EQ(helper_wait_exit(&vm, 10000, NULL), 0);
        CHECK_EQ(helper_exit_code(&vm), 0);
        CHECK_EQ(proc_fd_count_settle(helper.pid, base, 3000), base);
        CHECK(helper_alive(&helper));
        {
                _cleanup_free_ char *err = helper_stderr(&helper);
                /* A clean client close is no error: nothing beyond start-up notices. */
                CHECK_MSG(!strstr(err, "Unable to") && !strstr(err, "Unexpected"), "helper logged: %s", err);
        }

finish:
        if (qmp >= 0)
                close(qmp);
        helper_free(&vm);
        helper_free(&helper);
        return tests_finish("test-qemu-client");
}
