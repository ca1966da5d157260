/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mpath-pr: one PERSISTENT RESERVE command, sent either through a PR
 * helper socket (libprh's raw call, the way QEMU sends it) or directly with
 * SG_IO, with the reply printed on one line in a form the multipath rig
 * scenario (mpath.sh) compares:
 *
 *   mpath-pr (-k SOCKET | --direct) DEVICE in SA [ALLOC]
 *   mpath-pr (-k SOCKET | --direct) DEVICE out SA TYPE KEY SAKEY [FLAGS]
 *   mpath-pr -k SOCKET DEVICE out-tids COUNT KEY SAKEY     REGISTER, SPEC_I_PT, COUNT iSCSI IDs
 *
 * SA and TYPE are numbers, keys hex.  Output:
 *   status=0xSS sense=K/ASC/ASCQ len=N data=HEX
 * where data is cut to the length the PR IN data itself declares (so that
 * a helper's zero padding up to the allocation length compares equal to a
 * device's short transfer), and, for PR IN, a decoded line:
 *   keys gen=0xG 0xK1 0xK2 ...      (READ KEYS)
 *   resv gen=0xG none | 0xK type=T  (READ RESERVATION)
 * Exit status: 0 when a reply arrived (whatever its SCSI status), 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <scsi/sg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <prh/prh.h>

#define DATA_MAX 8192u

static uint64_t get_be(const uint8_t *p, int n) {
        uint64_t v = 0;

        for (int i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

static void put_be(uint8_t *p, uint64_t v, int n) {
        for (int i = n - 1; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t) v;
}

static int direct(int fd, uint8_t cdb[10], bool in, uint8_t *buf, size_t len, PrhResult *ret) {
        struct sg_io_hdr h = {
                .interface_id = 'S',
                .cmd_len = 10,
                .cmdp = cdb,
                .mx_sb_len = sizeof ret->sense,
                .sbp = ret->sense,
                .timeout = 20000,
                .dxfer_direction = len ? (in ? SG_DXFER_FROM_DEV : SG_DXFER_TO_DEV) : SG_DXFER_NONE,
                .dxferp = buf,
                .dxfer_len = (unsigned) len,
        };

        memset(ret, 0, sizeof *ret);
        if (ioctl(fd, SG_IO, &h) < 0)
                return -errno;
        if (h.host_status || (h.driver_status & ~0x08))
                return -EIO;
        ret->status = h.status;
        ret->data_len = in && h.status == 0 ? len - (size_t) h.resid : 0;
        return 0;
}

static size_t declared_len(int sa, const uint8_t *d, size_t n) {
        size_t want;

        if (n < 8)
                return n;
        if (sa == 2)
                want = (size_t) get_be(d, 2);
        else
                want = 8 + (size_t) get_be(d + 4, 4);
        return want < n ? want : n;
}

static void print_reply(const PrhResult *r, int sa, bool in, const uint8_t *data) {
        uint8_t key = 0, asc = 0, ascq = 0;
        size_t n = in ? declared_len(sa, data, r->data_len) : 0;

        if (r->status == 2) {
                if ((r->sense[0] & 0x7f) >= 0x72) {
                        key = r->sense[1] & 0xf;
                        asc = r->sense[2];
                        ascq = r->sense[3];
                } else {
                        key = r->sense[2] & 0xf;
                        asc = r->sense[12];
                        ascq = r->sense[13];
                }
        }
        printf("status=0x%02x sense=%x/%02x/%02x len=%zu data=", r->status, key, asc, ascq, n);
        for (size_t i = 0; i < n; i++)
                printf("%02x", data[i]);
        printf("\n");
        if (!in || r->status != 0 || n < 8)
                return;
        if (sa == 0) {
                printf("keys gen=0x%" PRIx64, get_be(data, 4));
                for (size_t o = 8; o + 8 <= n; o += 8)
                        printf(" 0x%" PRIx64, get_be(data + o, 8));
                printf("\n");
        } else if (sa == 1) {
                printf("resv gen=0x%" PRIx64, get_be(data, 4));
                if (n >= 24)
                        printf(" 0x%" PRIx64 " type=%u\n", get_be(data + 8, 8), data[21] & 0xf);
                else
                        printf(" none\n");
        }
}

int main(int argc, char **argv) {
        static uint8_t data[DATA_MAX], param[DATA_MAX];
        const char *sock = NULL;
        uint8_t cdb[10] = {};
        PrhClient *c = NULL;
        PrhResult res;
        size_t plen = 0, alloc = DATA_MAX;
        bool use_direct = false, in;
        int a = 1, fd, r, sa;

        if (argc > 2 && strcmp(argv[1], "-k") == 0) {
                sock = argv[2];
                a = 3;
        } else if (argc > 1 && strcmp(argv[1], "--direct") == 0) {
                use_direct = true;
                a = 2;
        }
        if (argc - a < 3) {
                fprintf(stderr, "usage: see the comment at the top of mpath-pr.c\n");
                return 1;
        }
        const char *dev = argv[a], *cmd = argv[a + 1];
        char **p = argv + a + 2;
        int np = argc - a - 2;

        in = strcmp(cmd, "in") == 0;
        if (in) {
                sa = atoi(p[0]);
                if (np > 1)
                        alloc = strtoul(p[1], NULL, 0);
                cdb[0] = 0x5e;
                cdb[1] = (uint8_t) sa;
                put_be(cdb + 7, alloc, 2);
        } else if (strcmp(cmd, "out") == 0 && np >= 4) {
                sa = atoi(p[0]);
                cdb[0] = 0x5f;
                cdb[1] = (uint8_t) sa;
                cdb[2] = (uint8_t) atoi(p[1]);
                put_be(param, strtoull(p[2], NULL, 16), 8);
                put_be(param + 8, strtoull(p[3], NULL, 16), 8);
                if (np > 4)
                        param[20] = (uint8_t) strtoul(p[4], NULL, 0);
                plen = 24;
        } else if (strcmp(cmd, "out-tids") == 0 && np >= 3) {
                unsigned count = (unsigned) atoi(p[0]);
                sa = 0;
                cdb[0] = 0x5f;
                put_be(param, strtoull(p[1], NULL, 16), 8);
                put_be(param + 8, strtoull(p[2], NULL, 16), 8);
                param[20] = 0x08;       /* SPEC_I_PT */
                plen = 28;
                for (unsigned i = 0; i < count && plen + 8 <= DATA_MAX; i++) {
                        /* minimal iSCSI TransportID: "iqn" + NUL, additional length 4 */
                        param[plen] = 0x05;
                        put_be(param + plen + 2, 4, 2);
                        memcpy(param + plen + 4, "iqn", 4);
                        plen += 8;
                }
                put_be(param + 24, plen - 28, 4);
        } else {
                fprintf(stderr, "bad command\n");
                return 1;
        }
        if (!in)
                put_be(cdb + 7, plen, 2);

        fd = open(dev, (in ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "open %s: %s\n", dev, strerror(errno));
                return 1;
        }
        if (use_direct)
                r = direct(fd, cdb, in, in ? data : param, in ? alloc : plen, &res);
        else {
                r = prh_client_new(sock, &c);
                if (r >= 0)
                        r = prh_client_set_timeouts(c, 5000, 120000);
                if (r >= 0)
                        r = prh_call_raw(c, fd, cdb, sizeof cdb, in ? NULL : param, in ? 0 : plen,
                                         in ? data : NULL, in ? alloc : 0, &res);
                prh_client_free(c);
        }
        close(fd);
        if (r < 0) {
                fprintf(stderr, "mpath-pr: %s %s failed: %s\n", dev, cmd, strerror(-r));
                printf("error=%s\n", strerror(-r));
                return 1;
        }
        print_reply(&res, sa, in, data);
        return 0;
}
