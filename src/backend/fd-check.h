/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which received fds prhd acts on.  prhd holds CAP_SYS_RAWIO, and the kernel
 * skips its own scope checks for such a caller (the CVE-2011-4127 boundary):
 * SG_IO on a partition or on a device-mapper map of part of a disk would reach
 * the whole logical unit.  So prhd accepts exactly what the kernel would let an
 * unprivileged opener send SG_IO through: whole SCSI disks (sd, not a
 * partition), device-mapper maps the kernel passes ioctls through for an
 * unprivileged caller (one target mapping one whole device), and sg nodes.
 * Everything else is refused before any ioctl reaches it.
 */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef enum FdClass {
        FD_CLASS_SG,                    /* sg character node: accepted */
        FD_CLASS_SCSI_DISK,             /* whole sd disk: accepted */
        FD_CLASS_DM,                    /* device-mapper map: accepted iff the kernel would pass SG_IO */
        FD_CLASS_PARTITION,
        FD_CLASS_OTHER_BLOCK,           /* loop, virtio-blk, nvme, sr, ... */
        FD_CLASS_OTHER_CHAR,            /* /dev/null, ttys, ... */
        FD_CLASS_REGULAR,               /* also every FUSE file */
        FD_CLASS_FIFO,
        FD_CLASS_SOCKET,
        FD_CLASS_OTHER,                 /* directories and anything else */
        _FD_CLASS_MAX,
} FdClass;

typedef struct FdInfo {
        FdClass class;
        dev_t rdev;                     /* block and character devices */
        char name[64];                  /* the device's name in /sys ("sdb1", "dm-3", "sg0"), or "" */
} FdInfo;

/* Prose for log lines: "a partition", "a regular file", ... */
const char *fd_class_to_string(FdClass c);

/*
 * Classify from fstat() data and sysfs alone, never touching the fd.
 * sys_dev_fd: a directory fd of /sys/dev (a copy of it in tests).
 * Returns 0 and fills ret, or -errno when sysfs could not be read.
 */
int fd_check_classify(int sys_dev_fd, const struct stat *st, FdInfo *ret);

/*
 * Ask the kernel whether it would pass an ioctl on this device-mapper fd to
 * the device below for a caller without CAP_SYS_RAWIO: the calling thread
 * lowers CAP_SYS_RAWIO from its effective set (capabilities are per thread),
 * issues SG_GET_VERSION_NUM, which goes through dm's prepare_ioctl (one
 * target, whole device) and the SCSI disk's partition check exactly as SG_IO
 * would, and raises the capability again.  Returns 1 if passed, 0 if refused,
 * -errno on any other failure (e.g. -EAGAIN for a suspended map).
 */
int fd_check_dm_probe(int fd);

/*
 * The whole check for a received fd.  Returns 1 if prhd may act on it, 0 if
 * refused (ret describes it), -errno if it could not be decided.
 */
int fd_check(int sys_dev_fd, int fd, FdInfo *ret);
