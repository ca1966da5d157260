/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pidfile: see pidfile.h.  The guard exists because the lock is
 * process-associated (pidfile.h says why), and such a lock cannot be
 * protected from a close() of another fd of the same file: the received fd
 * is swapped for /dev/null, which closes the pidfile's description, and the
 * lock is taken again through our own fd.  Between the two, for a few
 * system calls, the file is unlocked; a client able to open the pidfile can
 * at worst cause that, never a lasting loss of the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "pidfile.h"

int pidfile_write(const char *path) {
        for (;;) {
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                struct stat a, b;
                char buf[32];
                int n, r;

                if (fd < 0)
                        return log_error_errno(-errno, "Could not create '%s': %m", path);
                if (fstat(fd, &a) < 0)
                        return log_error_errno(-errno, "Cannot stat file: %m");

                struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
                if (fcntl(fd, F_SETLK, &lk) < 0)
                        return log_error_errno(-errno, "Cannot lock pid file: %m");

                /* The file we locked must still be the one at the path. */
                if (stat(path, &b) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return log_error_errno(-errno, "Cannot stat file: %m");
                }
                if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                        continue;

                if (ftruncate(fd, 0) < 0) {
                        r = log_error_errno(-errno, "Failed to truncate pid file: %m");
                        (void) unlink(path);
                        return r;
                }
                n = snprintf(buf, sizeof buf, "%ld\n", (long) getpid());
                r = loop_write(fd, buf, (size_t) n);
                if (r < 0) {
                        log_error("Failed to write pid file");
                        (void) unlink(path);
                        return r;
                }
                return TAKE_FD(fd);
        }
}

static int guard_pid_fd = -EBADF, guard_null_fd = -EBADF;
static dev_t guard_dev;
static ino_t guard_ino;

int pidfile_guard_init(int pid_fd) {
        struct stat st;

        if (fstat(pid_fd, &st) < 0)
                return -errno;
        guard_null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (guard_null_fd < 0)
                return -errno;
        guard_dev = st.st_dev;
        guard_ino = st.st_ino;
        guard_pid_fd = pid_fd;
        return 0;
}

int pidfile_guard_fd(int fd) {
        struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        struct stat st;

        if (guard_pid_fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != guard_dev ||
            st.st_ino != guard_ino)
                return 0;
        if (dup3(guard_null_fd, fd, O_CLOEXEC) < 0) {
                log_error_errno(-errno, "Failed to neutralise a received fd of the pid file: %m");
                return 1;
        }
        if (fcntl(guard_pid_fd, F_SETLK, &lk) < 0)
                log_error_errno(-errno, "A client sent an fd of the pid file; its lock could not be taken again: %m");
        else
                log_warning("A client sent an fd of the pid file as its device; the pid file stays locked.");
        return 1;
}
