/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stallfs: a FUSE file system with one file, /stall, whose ioctl handler
 * sleeps before failing with ENOTTY.  An fd on it stands in for a device
 * that hangs: SG_IO on it blocks the caller for the configured time, which
 * is what the isolation benchmark needs (one client's device stalls, the
 * others must keep their throughput).
 *
 * The kernel forwards SG_IO (0x2285, _IOC_NONE) to FUSE as a "restricted"
 * ioctl with no data, so the handler sees only the command number.
 *
 *   stallfs [-s SECONDS] MOUNTPOINT [FUSE options, e.g. -f]
 */
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double stall_seconds = 3.0;

static int stallfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
        memset(st, 0, sizeof *st);
        if (strcmp(path, "/") == 0) {
                st->st_mode = S_IFDIR | 0755;
                st->st_nlink = 2;
                return 0;
        }
        if (strcmp(path, "/stall") == 0) {
                st->st_mode = S_IFREG | 0666;
                st->st_nlink = 1;
                return 0;
        }
        return -ENOENT;
}

static int stallfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                           enum fuse_readdir_flags flags) {
        if (strcmp(path, "/") != 0)
                return -ENOENT;
        fill(buf, ".", NULL, 0, 0);
        fill(buf, "..", NULL, 0, 0);
        fill(buf, "stall", NULL, 0, 0);
        return 0;
}

static int stallfs_open(const char *path, struct fuse_file_info *fi) {
        return strcmp(path, "/stall") == 0 ? 0 : -ENOENT;
}

static int stallfs_ioctl(const char *path, unsigned int cmd, void *arg, struct fuse_file_info *fi, unsigned int flags,
                         void *data) {
        struct timespec ts = {
                .tv_sec = (time_t) stall_seconds,
                .tv_nsec = (long) ((stall_seconds - (double) (time_t) stall_seconds) * 1e9),
        };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        return -ENOTTY;
}

static const struct fuse_operations ops = {
        .getattr = stallfs_getattr,
        .readdir = stallfs_readdir,
        .open = stallfs_open,
        .ioctl = stallfs_ioctl,
};

int main(int argc, char *argv[]) {
        if (argc > 2 && strcmp(argv[1], "-s") == 0) {
                stall_seconds = strtod(argv[2], NULL);
                argv[2] = argv[0];
                argv += 2;
                argc -= 2;
        }
        return fuse_main(argc, argv, &ops, NULL);
}
