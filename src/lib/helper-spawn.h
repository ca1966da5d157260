/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test support: run a real PR helper binary (qemu-pr-helper or prhd) in
 * its own temporary directory, listening on <dir>/sock, dying with the
 * test (PR_SET_PDEATHSIG), and wait until it accepts connections.
 * Header-only so that each test binary carries its own copy.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct HelperProc {
        pid_t pid;
        char dir[64];
        char sock[128];
        char log[128];
} HelperProc;

static inline bool helper_socket_ready(const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok;

        if (fd < 0)
                return false;
        if (strlen(path) >= sizeof(sa.sun_path)) {
                close(fd);
                return false;
        }
        memcpy(sa.sun_path, path, strlen(path));
        ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

/* Start binary with "-k <dir>/sock" in dir (created if empty). 0 or -errno. */
static inline int helper_start_in(HelperProc *h, const char *binary, const char *dir) {
        if (dir) {
                if (dir != h->dir)
                        snprintf(h->dir, sizeof(h->dir), "%s", dir);
        } else {
                snprintf(h->dir, sizeof(h->dir), "/tmp/prh-test-XXXXXX");
                if (!mkdtemp(h->dir))
                        return -errno;
        }
        snprintf(h->sock, sizeof(h->sock), "%s/sock", h->dir);
        snprintf(h->log, sizeof(h->log), "%s/helper.log", h->dir);
        (void) unlink(h->sock);

        /* The child changes directory: resolve a relative binary path first. */
        char *abs = realpath(binary, NULL);
        if (!abs)
                return -errno;
        pid_t parent = getpid();
        h->pid = fork();
        if (h->pid < 0) {
                free(abs);
                return -errno;
        }
        if (h->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                int logfd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (logfd >= 0) {
                        (void) dup2(logfd, STDOUT_FILENO);
                        (void) dup2(logfd, STDERR_FILENO);
                }
                if (chdir(h->dir) < 0)
                        _exit(127);
                /* The tests send /dev/null and FUSE fds, which prhd acts on only with --unsafe-any-fd;
                 * the reference has no such option. */
                if (strstr(abs, "qemu-pr-helper"))
                        execl(abs, abs, "-k", h->sock, (char *) NULL);
                else
                        execl(abs, abs, "--unsafe-any-fd", "-k", h->sock, (char *) NULL);
                _exit(127);
        }

        free(abs);
        for (int i = 0; i < 500; i++) {
                int status;
                if (helper_socket_ready(h->sock))
                        return 0;
                if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
                        h->pid = 0;
                        return -ECHILD;
                }
                (void) nanosleep(&(struct timespec){.tv_nsec = 10L * 1000 * 1000}, NULL);
        }
        return -ETIMEDOUT;
}

static inline int helper_start(HelperProc *h, const char *binary) {
        return helper_start_in(h, binary, NULL);
}

/* Stop the helper (SIGTERM, then SIGKILL) but keep the directory. */
static inline void helper_kill(HelperProc *h) {
        if (h->pid > 0) {
                (void) kill(h->pid, SIGTERM);
                for (int i = 0; i < 200; i++) {
                        if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
                                h->pid = 0;
                                return;
                        }
                        (void) nanosleep(&(struct timespec){.tv_nsec = 10L * 1000 * 1000}, NULL);
                }
                (void) kill(h->pid, SIGKILL);
                (void) waitpid(h->pid, NULL, 0);
                h->pid = 0;
        }
}

/* Stop the helper and remove its directory. */
static inline void helper_stop(HelperProc *h) {
        char cmd[160];

        helper_kill(h);
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", h->dir);
        /* NOLINTNEXTLINE(cert-env33-c): test code; the path is the test's own mkdtemp() directory */
        if (system(cmd) != 0)
                fprintf(stderr, "failed to remove %s\n", h->dir);
}
