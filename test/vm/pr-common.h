/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pr-common.h: the small pieces the rig's C programs share (pr-matrix,
 * pr-faults): a monotonic clock, big-endian fields, one-line sysfs/configfs
 * files, and one SG_IO call that keeps everything the kernel reported
 * (errno, status, host_status, driver_status, sense, data length).
 * Header-only (static functions): each program is one translation unit.
 */
#ifndef PRH_TEST_VM_PR_COMMON_H
#define PRH_TEST_VM_PR_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <scsi/sg.h>

#define PR_SENSE_LEN 96u

static inline double pr_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static inline void pr_sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static inline void pr_put_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static inline void pr_put_be32(uint8_t *p, uint32_t v) {
        pr_put_be16(p, (uint16_t) (v >> 16));
        pr_put_be16(p + 2, (uint16_t) v);
}

static inline void pr_put_be64(uint8_t *p, uint64_t v) {
        pr_put_be32(p, (uint32_t) (v >> 32));
        pr_put_be32(p + 4, (uint32_t) v);
}

static inline uint32_t pr_get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline uint64_t pr_get_be64(const uint8_t *p) {
        return (uint64_t) pr_get_be32(p) << 32 | pr_get_be32(p + 4);
}

/* Write TEXT to a sysfs/configfs file; -errno on failure. */
static inline int pr_write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        int r = n < 0 ? -errno : 0;
        close(fd);
        return r;
}

/* The first line of PATH, without its newline; -errno on failure. */
static inline int pr_read_line(const char *path, char *buf, size_t size) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, (int) size, f)) {
                fclose(f);
                return -EIO;
        }
        fclose(f);
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

/* What one SG_IO call gave. */
typedef struct PrSgio {
        int err;                        /* negative errno of the ioctl, 0 if it returned 0 */
        int status;
        int host_status;
        int driver_status;
        size_t data_len;                /* FROM_DEV with GOOD: bytes transferred */
} PrSgio;

/* One SG_IO call with a TIMEOUT_MS timeout; SENSE gets PR_SENSE_LEN bytes. */
static inline void pr_sgio(int fd, const uint8_t *cdb_in, int cdb_len, int dir, void *buf, size_t len,
                           unsigned timeout_ms, uint8_t sense[PR_SENSE_LEN], PrSgio *r) {
        /* sg_io_hdr wants non-const pointers; the kernel only reads the CDB */
        uint8_t cdb[16] = { 0 };
        memcpy(cdb, cdb_in, (size_t) cdb_len);
        struct sg_io_hdr h = {
                .interface_id = 'S',
                .cmd_len = (unsigned char) cdb_len,
                .cmdp = cdb,
                .dxfer_direction = dir,
                .dxferp = len ? buf : NULL,
                .dxfer_len = (unsigned) len,
                .sbp = sense,
                .mx_sb_len = PR_SENSE_LEN,
                .timeout = timeout_ms,
        };
        memset(r, 0, sizeof *r);
        memset(sense, 0, PR_SENSE_LEN);
        if (ioctl(fd, SG_IO, &h) < 0) {
                r->err = -errno;
                return;
        }
        r->status = h.status;
        r->host_status = h.host_status;
        r->driver_status = h.driver_status;
        if (h.status == 0 && dir == SG_DXFER_FROM_DEV && len >= (size_t) h.resid)
                r->data_len = len - (size_t) h.resid;
}

#endif
