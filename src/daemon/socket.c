/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * See socket.h.  Messages are the reference's where it has one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "parse-util.h"
#include "socket.h"

#define SD_LISTEN_FDS_START 3

int activation_listen_fds(void) {
        const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
        uint64_t pid, n;

        if (!pid_s || safe_atou64(pid_s, &pid) < 0 || pid != (uint64_t) getpid())
                return 0;
        if (!fds_s || safe_atou64(fds_s, &n) < 0)
                return 0;

        (void) unsetenv("LISTEN_FDS");
        (void) unsetenv("LISTEN_PID");
        (void) unsetenv("LISTEN_FDNAMES");

        for (uint64_t i = 0; i < n && i < 1024; i++) {
                int fd = SD_LISTEN_FDS_START + (int) i;
                int r = fd_set_cloexec(fd, true);
                if (r < 0)
                        return log_error_errno(r, "Socket activation failed: invalid file descriptor fd = %d: %m", fd);
        }
        return n > 1024 ? 1024 : (int) n;
}

int activation_check_socket(int fd) {
        int type = 0, listening = 0;
        struct sockaddr_storage ss = {};
        socklen_t l = sizeof type, al = sizeof ss;

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
                return log_error_errno(-errno, "Failed to use socket activation: %m");
        l = sizeof listening;
        if (getsockname(fd, (struct sockaddr *) &ss, &al) < 0)
                return log_error_errno(-errno, "Failed to use socket activation: %m");
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0)
                return log_error_errno(-errno, "Failed to use socket activation: %m");
        if (ss.ss_family != AF_UNIX || type != SOCK_STREAM || !listening)
                return log_error_errno(-EPROTOTYPE,
                                       "Failed to use socket activation: fd 3 is not a listening AF_UNIX stream socket");
        return 0;
}

/*
 * 0 if the socket file at addr is stale (nobody listens: ECONNREFUSED),
 * 1 if something accepts on it, -errno if connect() says anything else
 * (EACCES, EPROTOTYPE for a datagram socket, ...): we cannot tell, so the
 * file is not ours to replace.
 */
static int socket_is_live(const struct sockaddr_un *sa, socklen_t len) {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) sa, len) == 0)
                return 1;
        if (errno == ECONNREFUSED)
                return 0;
        /* A full backlog still means a live listener. */
        return errno == EAGAIN ? 1 : -errno;
}

/*
 * Serialise probe, unlink and bind with other prhd instances starting on a
 * socket in the same directory: flock() on the directory itself, so that
 * no lock file is left behind in directories libvirt or systemd own.  The
 * lock is advisory (the reference does not take it) and held only until
 * listen().  Without read access to the directory there is no lock.
 */
static int socket_dir_lock(const char *path) {
        /* The caller checked that path fits a sockaddr_un: no allocation needed. */
        char dir[sizeof ((struct sockaddr_un *) NULL)->sun_path];
        const char *slash = strrchr(path, '/');
        int fd;

        if (!slash)
                snprintf(dir, sizeof dir, ".");
        else if (slash == path)
                snprintf(dir, sizeof dir, "/");
        else
                snprintf(dir, sizeof dir, "%.*s", (int) (slash - path), path);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(-errno, "Cannot open %s to lock it: %m", dir);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        int r = log_debug_errno(-errno, "Cannot lock %s: %m", dir);
                        safe_close(fd);
                        return r;
                }
        return fd;
}

int socket_listen_unix(const char *path, int backlog) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF, lock_fd = -EBADF;
        size_t n = strlen(path);
        socklen_t len;
        struct stat st;
        int r;

        if (n >= sizeof sa.sun_path) {
                log_error("UNIX socket path '%s' is too long", path);
                log_error("Path must be less than %zu bytes", sizeof sa.sun_path);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, n + 1);
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to create socket: %m");

        lock_fd = socket_dir_lock(path);
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return log_error_errno(-EEXIST, "Failed to bind socket to %s: '%s' exists and is not a socket",
                                               path, path);
                r = socket_is_live(&sa, len);
                if (r > 0)
                        return log_error_errno(-EADDRINUSE,
                                               "Failed to bind socket to %s: another helper is listening on it",
                                               path);
                if (r < 0)
                        return log_error_errno(r, "Failed to bind socket to %s: it exists and connecting to it "
                                               "failed (%m), so it is not known to be stale", path);
                if (unlink(path) < 0 && errno != ENOENT)
                        return log_error_errno(-errno, "Failed to unlink socket %s: %m", path);
        }

        if (bind(fd, (const struct sockaddr *) &sa, len) < 0)
                return log_error_errno(-errno, "Failed to bind socket to %s: %m", path);
        if (listen(fd, backlog) < 0) {
                r = log_error_errno(-errno, "Failed to listen on socket %s: %m", path);
                (void) unlink(path);
                return r;
        }
        /* Listening: another instance's probe now sees a live socket, so the lock can go. */
        safe_close(TAKE_FD(lock_fd));
        return TAKE_FD(fd);
}
