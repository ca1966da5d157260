/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "notify.h"

int notify_send(const char *state) {
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        size_t n;

        if (!path || !*path)
                return 0;
        n = strlen(path);
        if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path)
                return -EINVAL;
        memcpy(sa.sun_path, path, n);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = 0;     /* abstract namespace */

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *) &sa,
                   (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n)) < 0)
                return -errno;
        return 0;
}

int daemonize_fork(void) {
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        if (pid > 0) {
                unsigned char status = EXIT_FAILURE;
                ssize_t k;

                safe_close(p[1]);
                do
                        k = read(p[0], &status, 1);
                while (k < 0 && errno == EINTR);
                if (k != 1) {
                        /* The child died before reporting: its stderr already said why. */
                        int ws;
                        (void) waitpid(pid, &ws, 0);
                        _exit(EXIT_FAILURE);
                }
                _exit(status);
        }

        safe_close(p[0]);
        if (setsid() < 0)
                return -errno;
        return p[1];
}

void daemonize_report(int fd, int exit_status) {
        unsigned char b = (unsigned char) exit_status;

        if (fd < 0)
                return;
        (void) !write(fd, &b, 1);
        safe_close(fd);
}
