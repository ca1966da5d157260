/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
