/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny FUSE file system whose files answer ioctls in controlled ways, so
 * that the helper's SG_IO path can be exercised without a SCSI device.
 *
 * SG_IO (0x2285) carries no size in its number, so on a FUSE file it
 * reaches this file system as a "restricted" ioctl with no data in or out:
 * the sg_io_hdr the helper zeroed stays untouched, and only the return
 * value / errno comes back.  Files (flat, in the root directory):
 *
 *   good        ioctl returns 0      -> the helper sees GOOD, resid 0
 *   slow        sleeps SLOW seconds, then returns 0
 *   e<N>        ioctl fails with errno N (e.g. e33 = EDOM)
 *   slow-e<N>   sleeps, then fails with errno N
 *
 * Usage: fuse-sgio MOUNTPOINT [SLOW_SECONDS]
 * Runs in the foreground, multi-threaded (a sleeping ioctl must not stall
 * other requests), until unmounted or killed.  Every ioctl is counted
 * in the read-only file "count" (decimal), so tests can tell that the
 * helper did (or did not) issue SG_IO.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fuse3/fuse_lowlevel.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define INO_COUNT 2u
#define INO_GOOD 3u
#define INO_SLOW 4u
#define INO_ERRNO_BASE 1000u      /* 1000 + N: e<N> */
#define INO_SLOW_ERRNO_BASE 2000u /* 2000 + N: slow-e<N> */

static unsigned slow_seconds = 3;
static atomic_uint ioctl_count;

static int name_to_ino(const char *name, fuse_ino_t *ret) {
        char *end;
        unsigned long n;

        if (strcmp(name, "count") == 0)
                *ret = INO_COUNT;
        else if (strcmp(name, "good") == 0)
                *ret = INO_GOOD;
        else if (strcmp(name, "slow") == 0)
                *ret = INO_SLOW;
        else if (name[0] == 'e' && name[1] >= '0' && name[1] <= '9') {
                n = strtoul(name + 1, &end, 10);
                if (*end || n == 0 || n > 200)
                        return -ENOENT;
                *ret = INO_ERRNO_BASE + n;
        } else if (strncmp(name, "slow-e", 6) == 0 && name[6] >= '0' && name[6] <= '9') {
                n = strtoul(name + 6, &end, 10);
                if (*end || n == 0 || n > 200)
                        return -ENOENT;
                *ret = INO_SLOW_ERRNO_BASE + n;
        } else
                return -ENOENT;
        return 0;
}

static void fill_stat(fuse_ino_t ino, struct stat *st) {
        memset(st, 0, sizeof *st);
        st->st_ino = ino;
        if (ino == FUSE_ROOT_ID) {
                st->st_mode = S_IFDIR | 0755;
                st->st_nlink = 2;
        } else {
                st->st_mode = S_IFREG | (ino == INO_COUNT ? 0444 : 0666);
                st->st_nlink = 1;
                st->st_size = ino == INO_COUNT ? 32 : 0;
        }
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
        struct fuse_entry_param e = {};
        fuse_ino_t ino;

        if (parent != FUSE_ROOT_ID || name_to_ino(name, &ino) < 0) {
                fuse_reply_err(req, ENOENT);
                return;
        }
        e.ino = ino;
        e.attr_timeout = 3600;
        e.entry_timeout = 3600;
        fill_stat(ino, &e.attr);
        fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        struct stat st;

        fill_stat(ino, &st);
        fuse_reply_attr(req, &st, ino == INO_COUNT ? 0 : 3600);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        if (ino == FUSE_ROOT_ID) {
                fuse_reply_err(req, EISDIR);
                return;
        }
        fi->direct_io = 1;
        fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        char buf[32];
        int n;

        if (ino != INO_COUNT) {
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        n = snprintf(buf, sizeof buf, "%u\n", atomic_load(&ioctl_count));
        if (off >= n) {
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        fuse_reply_buf(req, buf + off, (size_t) n - (size_t) off < size ? (size_t) n - (size_t) off : size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
        fuse_reply_write(req, size);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
        struct stat st;

        fill_stat(ino, &st);
        fuse_reply_attr(req, &st, 0);
}

static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                     unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        atomic_fetch_add(&ioctl_count, 1);
        if (ino == INO_SLOW || (ino > INO_SLOW_ERRNO_BASE && ino < INO_SLOW_ERRNO_BASE + 1000))
                sleep(slow_seconds);
        if (ino > INO_SLOW_ERRNO_BASE)
                fuse_reply_err(req, (int) (ino - INO_SLOW_ERRNO_BASE));
        else if (ino > INO_ERRNO_BASE)
                fuse_reply_err(req, (int) (ino - INO_ERRNO_BASE));
        else if (ino == INO_GOOD || ino == INO_SLOW)
                fuse_reply_ioctl(req, 0, NULL, 0);
        else
                fuse_reply_err(req, ENOTTY);
}

static const struct fuse_lowlevel_ops ops = {
        .lookup = op_lookup,
        .getattr = op_getattr,
        .setattr = op_setattr,
        .open = op_open,
        .read = op_read,
        .write = op_write,
        .ioctl = op_ioctl,
};

int main(int argc, char **argv) {
        static char opt_o[] = "-o", opt_allow[] = "allow_other,default_permissions";
        char *fargv[] = { argv[0], opt_o, opt_allow, NULL };
        struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
        struct fuse_loop_config *cfg;
        struct fuse_session *se;
        int r;

        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: %s MOUNTPOINT [SLOW_SECONDS]\n", argv[0]);
                return 2;
        }
        if (argc == 3)
                slow_seconds = (unsigned) strtoul(argv[2], NULL, 10);
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);

        se = fuse_session_new(&args, &ops, sizeof ops, NULL);
        if (!se) {
                fuse_opt_free_args(&args);
                return 1;
        }
        if (fuse_set_signal_handlers(se) < 0 || fuse_session_mount(se, argv[1]) < 0) {
                fuse_session_destroy(se);
                fuse_opt_free_args(&args);
                return 1;
        }
        cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, 0);
        fuse_loop_cfg_set_max_threads(cfg, 64);
        fuse_loop_cfg_set_idle_threads(cfg, 8);
        r = fuse_session_loop_mt(se, cfg);
        fuse_loop_cfg_destroy(cfg);
        fuse_session_unmount(se);
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        fuse_opt_free_args(&args);
        return r < 0 ? 1 : 0;
}
