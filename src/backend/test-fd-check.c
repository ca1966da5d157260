/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit test of the fd check's classification (fd-check.h) against a /sys/dev
 * tree built in a temporary directory the way the kernel lays it out (links
 * into a devices/ tree, "partition" on partitions, "device/scsi_disk" on sd
 * disks, "dm" on device-mapper maps), and against real fds of this process
 * for the kinds that need no device: regular file, pipe, socket, /dev/null.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fd-check.h"
#include "macro.h"
#include "tests.h"

static char root[64];

static void mk(const char *rel, bool dir) {
        char p[512];

        snprintf(p, sizeof p, "%s/%s", root, rel);
        if (dir) {
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        abort();
        } else {
                int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0)
                        abort();
                close(fd);
        }
}

static void ln(const char *target, const char *rel) {
        char p[512];

        snprintf(p, sizeof p, "%s/%s", root, rel);
        if (symlink(target, p) < 0)
                abort();
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        (void) remove(p);
        return 0;
}

static FdInfo classify(int sys_fd, mode_t type, unsigned maj, unsigned min, int expect_r) {
        struct stat st = { .st_mode = type | 0600, .st_rdev = makedev(maj, min) };
        FdInfo info = { .class = _FD_CLASS_MAX };
        int r = fd_check_classify(sys_fd, &st, &info);

        CHECK_EQ(r, expect_r);
        return info;
}

static void test_sysfs(void) {
        _cleanup_close_ int sys_fd = -EBADF;
        FdInfo i;

        snprintf(root, sizeof root, "/tmp/test-fd-check-XXXXXX");
        if (!mkdtemp(root))
                abort();
        mk("block", true);
        mk("char", true);
        mk("devices", true);
        /* sda: an sd disk; sda1: its partition (a subdirectory of the disk, as in sysfs). */
        mk("devices/sda", true);
        mk("devices/sda/device", true);
        mk("devices/sda/device/scsi_disk", true);
        mk("devices/sda/device/scsi_disk/0:0:0:0", true);
        mk("devices/sda/sda1", true);
        mk("devices/sda/sda1/partition", false);
        ln("../devices/sda", "block/8:0");
        ln("../devices/sda/sda1", "block/8:1");
        /* dm-3: a device-mapper map. */
        mk("devices/dm-3", true);
        mk("devices/dm-3/dm", true);
        mk("devices/dm-3/dm/name", false);
        ln("../devices/dm-3", "block/253:3");
        /* loop0: a block device that is not a SCSI disk; sr0: SCSI, but not a disk. */
        mk("devices/loop0", true);
        ln("../devices/loop0", "block/7:0");
        mk("devices/sr0", true);
        mk("devices/sr0/device", true);
        ln("../devices/sr0", "block/11:0");
        /* Character devices: sg0 and null. */
        mk("devices/sg0", true);
        ln("../devices/sg0", "char/21:0");
        mk("devices/null", true);
        ln("../devices/null", "char/1:3");

        sys_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(sys_fd >= 0);

        i = classify(sys_fd, S_IFBLK, 8, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_SCSI_DISK);
        CHECK(strcmp(i.name, "sda") == 0);
        CHECK_EQ(i.rdev, makedev(8, 0));

        i = classify(sys_fd, S_IFBLK, 8, 1, 0);
        CHECK_EQ(i.class, FD_CLASS_PARTITION);
        CHECK(strcmp(i.name, "sda1") == 0);

        i = classify(sys_fd, S_IFBLK, 253, 3, 0);
        CHECK_EQ(i.class, FD_CLASS_DM);
        CHECK(strcmp(i.name, "dm-3") == 0);

        i = classify(sys_fd, S_IFBLK, 7, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_OTHER_BLOCK);
        CHECK(strcmp(i.name, "loop0") == 0);

        i = classify(sys_fd, S_IFBLK, 11, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_OTHER_BLOCK);

        /* A block device sysfs does not know is not trusted. */
        (void) classify(sys_fd, S_IFBLK, 8, 16, -ENODEV);

        i = classify(sys_fd, S_IFCHR, 21, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_SG);
        CHECK(strcmp(i.name, "sg0") == 0);

        i = classify(sys_fd, S_IFCHR, 1, 3, 0);
        CHECK_EQ(i.class, FD_CLASS_OTHER_CHAR);
        CHECK(strcmp(i.name, "null") == 0);

        /* The sg major decides, whatever sysfs says (sg nodes have no partitions). */
        i = classify(sys_fd, S_IFCHR, 21, 7, 0);
        CHECK_EQ(i.class, FD_CLASS_SG);
        CHECK(i.name[0] == 0);

        i = classify(sys_fd, S_IFREG, 0, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_REGULAR);
        i = classify(sys_fd, S_IFIFO, 0, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_FIFO);
        i = classify(sys_fd, S_IFSOCK, 0, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_SOCKET);
        i = classify(sys_fd, S_IFDIR, 0, 0, 0);
        CHECK_EQ(i.class, FD_CLASS_OTHER);

        (void) nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* fd_check() on real fds: every kind that is not a device is refused without any ioctl. */
static void test_real_fds(void) {
        _cleanup_close_ int sys_fd = open("/sys/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int file = -EBADF, null = -EBADF, dir = -EBADF;
        int pipefd[2], sv[2];
        char path[] = "/tmp/test-fd-check-file-XXXXXX";
        FdInfo i;

        if (sys_fd < 0) {
                fprintf(stderr, "no /sys/dev: real fds not checked\n");
                return;
        }
        file = mkostemp(path, O_CLOEXEC);
        CHECK(file >= 0);
        (void) unlink(path);
        CHECK_EQ(fd_check(sys_fd, file, &i), 0);
        CHECK_EQ(i.class, FD_CLASS_REGULAR);

        CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
        CHECK_EQ(fd_check(sys_fd, pipefd[0], &i), 0);
        CHECK_EQ(i.class, FD_CLASS_FIFO);
        close(pipefd[0]);
        close(pipefd[1]);

        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK_EQ(fd_check(sys_fd, sv[0], &i), 0);
        CHECK_EQ(i.class, FD_CLASS_SOCKET);
        close(sv[0]);
        close(sv[1]);

        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        CHECK(null >= 0);
        CHECK_EQ(fd_check(sys_fd, null, &i), 0);
        CHECK_EQ(i.class, FD_CLASS_OTHER_CHAR);
        CHECK_EQ(i.rdev, makedev(1, 3));
        CHECK(strcmp(i.name, "null") == 0);

        dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dir >= 0);
        CHECK_EQ(fd_check(sys_fd, dir, &i), 0);
        CHECK_EQ(i.class, FD_CLASS_OTHER);

        CHECK_EQ(fd_check(sys_fd, 1000, &i), -EBADF);
}

/* The probe on something that is not a dm map must say "refused" and leave the thread's capabilities as they were. */
static void test_probe(void) {
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        char before[4096] = "", after[4096] = "";
        FILE *f;

        f = fopen("/proc/thread-self/status", "re");
        if (f) {
                size_t n = fread(before, 1, sizeof before - 1, f);
                before[n] = 0;
                (void) fclose(f);
        }
        CHECK_EQ(fd_check_dm_probe(null), 0);
        f = fopen("/proc/thread-self/status", "re");
        if (f) {
                size_t n = fread(after, 1, sizeof after - 1, f);
                after[n] = 0;
                (void) fclose(f);
        }
        CHECK(strstr(before, "CapEff:") != NULL);
        CHECK(strstr(after, "CapEff:") != NULL);
        /* "CapEff:\t" and 16 hex digits: the rest of the file (memory figures) may change. */
        if (strstr(before, "CapEff:") && strstr(after, "CapEff:"))
                CHECK(strncmp(strstr(before, "CapEff:"), strstr(after, "CapEff:"), 24) == 0);
}

int main(void) {
        test_sysfs();
        test_real_fds();
        test_probe();
        fprintf(stderr, "%d checks, %d failed\n", tests_checked, tests_failed);
        return tests_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
