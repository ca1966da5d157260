/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A programmable SCSI "device" for the rig: a CUSE character device whose
 * SG_IO ioctl records what the helper sent and answers what a test wrote.
 * It lets a test give the helpers the device replies a real disk gives only
 * when something is wrong (a host_status, a bogus resid, fewer data bytes
 * than claimed), which LIO never produces on demand.
 *
 *   sgio-cuse DEVNAME STATEDIR        (needs the cuse module: /dev/cuse)
 *
 * Creates /dev/DEVNAME and serves it in the foreground, one request at a
 * time, until killed.  SG_IO is an unrestricted CUSE ioctl: the handler asks
 * the kernel (fuse_reply_ioctl_retry) first for the caller's sg_io_hdr, then
 * for the CDB and PR OUT data it points to, and writes back the header, the
 * sense buffer and the data, in that order, so that a reply can stop part of
 * the way into the data buffer.  Any other ioctl gets ENOTTY.
 *
 * Side channel, two files in STATEDIR:
 *
 *   answer   read at every SG_IO (a missing file: GOOD, nothing written);
 *            one "key value" per line, numbers in C syntax:
 *              errno N          fail the ioctl with errno N (nothing else applies)
 *              status N         SCSI status byte
 *              host_status N, driver_status N
 *              resid N          signed, reported as is
 *              sense HEX        sense bytes (sb_len_wr = their count)
 *              data HEX         first data bytes written to the buffer
 *              fill N           bytes after "data", up to "written": a pattern
 *                               seeded by N that is never zero (default: zeros)
 *              written N        data bytes written (default: the length of
 *                               "data"); never more than dxfer_len
 *   request  written (atomically) before the reply, for every SG_IO:
 *              seq, tid (the calling thread: FUSE passes its id), interface_id,
 *              dxfer_direction, cmd_len, cdb (hex), dxfer_len, mx_sb_len,
 *              timeout, flags, iovec_count, data (hex, PR OUT only)
 *
 * fill_byte() below is the pattern; tests compute the same bytes.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fuse3/cuse_lowlevel.h>
#include <limits.h>
#include <scsi/sg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "macro.h"
#include "sgio-cuse.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);

static const char *state_dir;
static unsigned long seq;

typedef struct Answer {
        int err;
        int status, host_status, driver_status;
        int resid;
        uint8_t sense[256];
        size_t sense_len;
        uint8_t data[SGIO_CUSE_MAX_DATA];
        size_t data_len;
        bool have_fill;
        unsigned fill;
        long written;                   /* -1: data_len */
} Answer;

static void answer_load(Answer *a) {
        static char line[2 * SGIO_CUSE_MAX_DATA + 64];
        char path[PATH_MAX];
        _cleanup_(fclosep) FILE *f = NULL;

        memset(a, 0, sizeof *a);
        a->written = -1;
        snprintf(path, sizeof path, "%s/answer", state_dir);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                char *v = strchr(line, ' ');
                long long n;

                if (!v)
                        continue;
                *v++ = 0;
                n = strtoll(v, NULL, 0);
                if (strcmp(line, "errno") == 0)
                        a->err = (int) n;
                else if (strcmp(line, "status") == 0)
                        a->status = (int) n;
                else if (strcmp(line, "host_status") == 0)
                        a->host_status = (int) n;
                else if (strcmp(line, "driver_status") == 0)
                        a->driver_status = (int) n;
                else if (strcmp(line, "resid") == 0)
                        a->resid = (int) n;
                else if (strcmp(line, "sense") == 0)
                        a->sense_len = sgio_cuse_hex_parse(v, a->sense, sizeof a->sense);
                else if (strcmp(line, "data") == 0)
                        a->data_len = sgio_cuse_hex_parse(v, a->data, sizeof a->data);
                else if (strcmp(line, "fill") == 0) {
                        a->have_fill = true;
                        a->fill = (unsigned) n;
                } else if (strcmp(line, "written") == 0)
                        a->written = (long) n;
                else
                        fprintf(stderr, "sgio-cuse: unknown answer key '%s'\n", line);
        }
}

static void hex_put(FILE *f, const char *key, const uint8_t *p, size_t n) {
        fprintf(f, "%s ", key);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%02x", p[i]);
        fputc('\n', f);
}

static void request_record(fuse_req_t req, const struct sg_io_hdr *h, const uint8_t *cdb, const uint8_t *out,
                           size_t out_len) {
        char path[PATH_MAX], tmp[PATH_MAX];
        _cleanup_(fclosep) FILE *f = NULL;

        snprintf(path, sizeof path, "%s/request", state_dir);
        snprintf(tmp, sizeof tmp, "%s/request.tmp", state_dir);
        f = fopen(tmp, "we");
        if (!f) {
                fprintf(stderr, "sgio-cuse: cannot write %s: %m\n", tmp);
                return;
        }
        fprintf(f, "seq %lu\ntid %ld\ninterface_id %d\ndxfer_direction %d\ncmd_len %u\n", ++seq,
                (long) fuse_req_ctx(req)->pid, h->interface_id, h->dxfer_direction, h->cmd_len);
        hex_put(f, "cdb", cdb, h->cmd_len);
        fprintf(f, "dxfer_len %u\nmx_sb_len %u\ntimeout %u\nflags %u\niovec_count %u\n", h->dxfer_len,
                h->mx_sb_len, h->timeout, h->flags, h->iovec_count);
        if (out)
                hex_put(f, "data", out, out_len);
        if (fclose(TAKE_PTR(f)) != 0 || rename(tmp, path) < 0)
                fprintf(stderr, "sgio-cuse: cannot write %s: %m\n", path);
}

/* Second call: the header is known; ask for what it points to. */
static void sgio_fetch(fuse_req_t req, void *arg, const struct sg_io_hdr *h) {
        struct iovec in[3], out[3];
        size_t n_in = 0, n_out = 0;

        if (h->interface_id != 'S' || h->cmd_len == 0 || h->iovec_count != 0 ||
            h->dxfer_len > SGIO_CUSE_MAX_DATA || (h->dxfer_len > 0 && !h->dxferp)) {
                fuse_reply_err(req, EINVAL);
                return;
        }
        in[n_in++] = (struct iovec) { arg, sizeof *h };
        in[n_in++] = (struct iovec) { h->cmdp, h->cmd_len };
        if (h->dxfer_direction == SG_DXFER_TO_DEV && h->dxfer_len > 0)
                in[n_in++] = (struct iovec) { h->dxferp, h->dxfer_len };
        out[n_out++] = (struct iovec) { arg, sizeof *h };
        if (h->sbp && h->mx_sb_len > 0)
                out[n_out++] = (struct iovec) { h->sbp, h->mx_sb_len };
        if (h->dxfer_direction == SG_DXFER_FROM_DEV && h->dxfer_len > 0)
                out[n_out++] = (struct iovec) { h->dxferp, h->dxfer_len };
        fuse_reply_ioctl_retry(req, in, n_in, out, n_out);
}

/* Third call: header, CDB and PR OUT data are in; record them and answer. */
static void sgio_answer(fuse_req_t req, const uint8_t *in, size_t in_len) {
        static Answer a;
        static uint8_t sense[256], data[SGIO_CUSE_MAX_DATA];
        struct sg_io_hdr h;
        const uint8_t *cdb, *out_data = NULL;
        struct iovec iov[3];
        size_t n = 0, written = 0, sense_n;

        memcpy(&h, in, sizeof h);
        if (in_len < sizeof h + h.cmd_len) {
                fuse_reply_err(req, EIO);
                return;
        }
        cdb = in + sizeof h;
        if (h.dxfer_direction == SG_DXFER_TO_DEV && h.dxfer_len > 0) {
                if (in_len < sizeof h + h.cmd_len + h.dxfer_len) {
                        fuse_reply_err(req, EIO);
                        return;
                }
                out_data = cdb + h.cmd_len;
        }
        request_record(req, &h, cdb, out_data, out_data ? h.dxfer_len : 0);

        answer_load(&a);
        fprintf(stderr, "sgio-cuse: #%lu cdb %02x/%02x timeout %u: errno %d status 0x%x host 0x%x driver 0x%x "
                "resid %d sense %zu written %ld\n", seq, cdb[0], h.cmd_len > 1 ? cdb[1] : 0, h.timeout, a.err,
                a.status, a.host_status, a.driver_status, a.resid, a.sense_len, a.written);
        if (a.err) {
                fuse_reply_err(req, a.err);
                return;
        }

        if (h.dxfer_direction == SG_DXFER_FROM_DEV) {
                written = a.written < 0 ? a.data_len : (size_t) a.written;
                if (written > h.dxfer_len)
                        written = h.dxfer_len;
                for (size_t i = 0; i < written; i++)
                        data[i] = i < a.data_len ? a.data[i] : a.have_fill ? sgio_cuse_fill_byte(a.fill, i) : 0;
        }
        sense_n = a.sense_len < h.mx_sb_len ? a.sense_len : h.mx_sb_len;
        memset(sense, 0, sizeof sense);
        memcpy(sense, a.sense, sense_n);

        h.status = (unsigned char) a.status;
        h.masked_status = (unsigned char) ((a.status >> 1) & 0x7f);
        h.msg_status = 0;
        h.host_status = (unsigned short) a.host_status;
        h.driver_status = (unsigned short) a.driver_status;
        h.resid = a.resid;
        h.sb_len_wr = (unsigned char) sense_n;
        h.duration = 0;
        h.info = a.status || a.host_status || a.driver_status ? SG_INFO_CHECK : SG_INFO_OK;

        /* The kernel copies the reply into the caller's buffers in the order fetched above:
         * header, sense (all mx_sb_len bytes when data follows), data. */
        iov[n++] = (struct iovec) { &h, sizeof h };
        if (h.sbp && h.mx_sb_len > 0)
                iov[n++] = (struct iovec) { sense, written > 0 ? h.mx_sb_len : sense_n };
        if (written > 0)
                iov[n++] = (struct iovec) { data, written };
        fuse_reply_ioctl_iov(req, 0, iov, (int) n);
}

static void dev_open(fuse_req_t req, struct fuse_file_info *fi) {
        fuse_reply_open(req, fi);
}

static void dev_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi, unsigned flags,
                      const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
        (void) fi;
        (void) flags;
        (void) out_bufsz;

        if ((unsigned) cmd != SG_IO) {
                fuse_reply_err(req, ENOTTY);
                return;
        }
        if (in_bufsz == 0) {
                struct iovec iov = { arg, sizeof(struct sg_io_hdr) };
                fuse_reply_ioctl_retry(req, &iov, 1, &iov, 1);
        } else if (in_bufsz == sizeof(struct sg_io_hdr)) {
                struct sg_io_hdr h;
                memcpy(&h, in_buf, sizeof h);
                sgio_fetch(req, arg, &h);
        } else
                sgio_answer(req, in_buf, in_bufsz);
}

static const struct cuse_lowlevel_ops ops = {
        .open = dev_open,
        .ioctl = dev_ioctl,
};

int main(int argc, char **argv) {
        char devname[256];
        const char *dev_info[] = { devname };
        struct cuse_info ci = {
                .dev_info_argc = 1,
                .dev_info_argv = dev_info,
                .flags = CUSE_UNRESTRICTED_IOCTL,
        };
        static char opt_foreground[] = "-f", opt_single[] = "-s";
        char *fargv[] = { argv[0], opt_foreground, opt_single, NULL };
        struct fuse_session *se;
        int mt, r;

        if (argc != 3) {
                fprintf(stderr, "usage: %s DEVNAME STATEDIR\n", argv[0]);
                return 2;
        }
        snprintf(devname, sizeof devname, "DEVNAME=%s", argv[1]);
        state_dir = argv[2];
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);

        se = cuse_lowlevel_setup(3, fargv, &ci, &ops, &mt, NULL);
        if (!se) {
                fprintf(stderr, "sgio-cuse: cannot set up /dev/%s (is the cuse module loaded?)\n", argv[1]);
                return 1;
        }
        r = fuse_session_loop(se);
        cuse_lowlevel_teardown(se);
        return r == 0 ? 0 : 1;
}
