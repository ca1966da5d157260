/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fd check; see fd-check.h.  What the kernel does for a caller without
 * CAP_SYS_RAWIO, and how it is reproduced here:
 *  - sd refuses SG_IO on a partition (sd_ioctl: bdev_is_partition); the
 *    block device's sysfs directory has a "partition" attribute exactly for
 *    partitions, so sysfs answers without touching the device.
 *  - device-mapper passes an ioctl down only if the live table has one
 *    target whose prepare_ioctl accepts it (linear: offset 0 and the whole
 *    device; multipath: the whole current path), and the device below then
 *    applies its own checks (a linear map over a partition is refused by sd).
 *    Reading the table takes CAP_SYS_ADMIN, which prhd does not hold when
 *    multipath support is off, and would still leave the checks below to
 *    reimplement, so the kernel is asked instead: a harmless ioctl sent with
 *    CAP_SYS_RAWIO lowered takes the same path as SG_IO would.
 *  - sg nodes (major 21) are the whole logical unit.
 * Everything else (regular files, which includes FUSE files, pipes, sockets,
 * other character and block devices) is refused on fstat() alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <scsi/sg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fd-check.h"
#include "macro.h"

#define SG_MAJOR 21     /* SCSI_GENERIC_MAJOR */

const char *fd_class_to_string(FdClass c) {
        static const char *const table[_FD_CLASS_MAX] = {
                [FD_CLASS_SG] = "an sg node",
                [FD_CLASS_SCSI_DISK] = "a whole SCSI disk",
                [FD_CLASS_DM] = "a device-mapper map",
                [FD_CLASS_PARTITION] = "a partition",
                [FD_CLASS_OTHER_BLOCK] = "a block device that is not a SCSI disk",
                [FD_CLASS_OTHER_CHAR] = "a character device that is not an sg node",
                [FD_CLASS_REGULAR] = "a regular file",
                [FD_CLASS_FIFO] = "a pipe",
                [FD_CLASS_SOCKET] = "a socket",
                [FD_CLASS_OTHER] = "neither a file nor a device",
        };

        return (unsigned) c < _FD_CLASS_MAX ? table[c] : "unknown";
}

/* 1 if "<kind>/<maj>:<min>/<attr>" exists under /sys/dev, 0 if not, -errno. */
static int sysfs_has(int sys_dev_fd, const char *kind, dev_t d, const char *attr) {
        char p[96];

        snprintf(p, sizeof p, "%s/%u:%u/%s", kind, major(d), minor(d), attr);
        if (faccessat(sys_dev_fd, p, F_OK, AT_EACCESS) == 0)
                return 1;
        if (errno == ENOENT)
                return 0;
        return negative_errno();
}

/* The device's name: the last component of the /sys/dev link's target. */
static void sysfs_name(int sys_dev_fd, const char *kind, dev_t d, char name[64]) {
        char p[64], target[512];
        const char *base;
        ssize_t n;

        name[0] = 0;
        snprintf(p, sizeof p, "%s/%u:%u", kind, major(d), minor(d));
        n = readlinkat(sys_dev_fd, p, target, sizeof target - 1);
        if (n <= 0)
                return;
        target[n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strlen(base) < 64)
                memcpy(name, base, strlen(base) + 1);
}

int fd_check_classify(int sys_dev_fd, const struct stat *st, FdInfo *ret) {
        FdInfo info = { .class = FD_CLASS_OTHER };
        int r;

        switch (st->st_mode & S_IFMT) {
        case S_IFREG:
                info.class = FD_CLASS_REGULAR;
                break;
        case S_IFIFO:
                info.class = FD_CLASS_FIFO;
                break;
        case S_IFSOCK:
                info.class = FD_CLASS_SOCKET;
                break;
        case S_IFCHR:
                info.rdev = st->st_rdev;
                sysfs_name(sys_dev_fd, "char", st->st_rdev, info.name);
                info.class = major(st->st_rdev) == SG_MAJOR ? FD_CLASS_SG : FD_CLASS_OTHER_CHAR;
                break;
        case S_IFBLK:
                info.rdev = st->st_rdev;
                sysfs_name(sys_dev_fd, "block", st->st_rdev, info.name);
                if ((r = sysfs_has(sys_dev_fd, "block", st->st_rdev, "partition")) != 0) {
                        if (r < 0)
                                return r;
                        info.class = FD_CLASS_PARTITION;
                } else if ((r = sysfs_has(sys_dev_fd, "block", st->st_rdev, "device/scsi_disk")) != 0) {
                        if (r < 0)
                                return r;
                        info.class = FD_CLASS_SCSI_DISK;
                } else if ((r = sysfs_has(sys_dev_fd, "block", st->st_rdev, "dm")) != 0) {
                        if (r < 0)
                                return r;
                        info.class = FD_CLASS_DM;
                } else {
                        /* Nothing under /sys/dev/block at all: a device we cannot describe is not trusted. */
                        r = sysfs_has(sys_dev_fd, "block", st->st_rdev, ".");
                        if (r <= 0)
                                return r < 0 ? r : -ENODEV;
                        info.class = FD_CLASS_OTHER_BLOCK;
                }
                break;
        }
        *ret = info;
        return 0;
}

static int caps_get(struct __user_cap_data_struct data[2]) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

        return syscall(SYS_capget, &hdr, data) < 0 ? negative_errno() : 0;
}

static int caps_set(struct __user_cap_data_struct data[2]) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

        /* pid 0: the calling thread only; the other threads keep their sets. */
        return syscall(SYS_capset, &hdr, data) < 0 ? negative_errno() : 0;
}

int fd_check_dm_probe(int fd) {
        struct __user_cap_data_struct caps[2];
        const uint32_t bit = UINT32_C(1) << CAP_SYS_RAWIO;       /* CAP_SYS_RAWIO < 32: word 0 */
        bool lowered = false;
        int version = 0, r, k, saved;

        r = caps_get(caps);
        if (r < 0)
                return r;
        if (caps[0].effective & bit) {
                caps[0].effective &= ~bit;
                r = caps_set(caps);
                if (r < 0)
                        return r;
                lowered = true;
        }

        k = ioctl(fd, SG_GET_VERSION_NUM, &version);
        saved = errno;

        if (lowered) {
                caps[0].effective |= bit;
                /* Raising back within the permitted set cannot be refused; if it were, SG_IO would fail with
                 * EPERM on this thread, which is safe. */
                r = caps_set(caps);
                if (r < 0)
                        return r;
        }

        if (k == 0)
                return 1;
        /* dm's refusals (not one target, no prepare_ioctl, part of a device, a partition below) all reach
         * user space as ENOTTY; a device below without the SCSI ioctls answers ENOTTY or EINVAL. */
        if (saved == ENOTTY || saved == EINVAL)
                return 0;
        return -saved;
}

int fd_check(int sys_dev_fd, int fd, FdInfo *ret) {
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        r = fd_check_classify(sys_dev_fd, &st, ret);
        if (r < 0)
                return r;
        switch (ret->class) {
        case FD_CLASS_SG:
        case FD_CLASS_SCSI_DISK:
                return 1;
        case FD_CLASS_DM:
                return fd_check_dm_probe(fd);
        default:
                return 0;
        }
}
