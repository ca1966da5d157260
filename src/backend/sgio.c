/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SG_IO execution.  The header is zeroed and filled exactly as the reference
 * does (interface 'S', 96-byte sense buffer, no flags), except for the
 * timeout, which is the caller's (the reference's 1 ms only works because
 * the block layer enforces a 7 s floor, and would time out sg nodes at once).
 */
#include <errno.h>
#include <scsi/sg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include "sgio.h"

void sgio_execute(int fd, const uint8_t *cdb, uint8_t cmd_len, SgioDirection dir, void *buf, uint32_t len,
                  uint32_t timeout_ms, ProtoResult *ret) {
        struct sg_io_hdr hdr;
        ProtoSgioOutcome o = {};
        int r;

        proto_result_init(ret);
        memset(&hdr, 0, sizeof hdr);
        hdr.interface_id = 'S';
        hdr.cmd_len = cmd_len;
        hdr.cmdp = (unsigned char *) (uintptr_t) cdb;
        hdr.sbp = ret->sense;
        hdr.mx_sb_len = PRH_SENSE_SIZE;
        hdr.timeout = timeout_ms;
        hdr.dxfer_direction = (int) dir;
        hdr.dxferp = len > 0 ? buf : NULL;
        hdr.dxfer_len = len;

        r = ioctl(fd, SG_IO, &hdr);
        if (r < 0)
                o.ioctl_errno = errno ? errno : EIO;
        o.host_status = hdr.host_status;
        o.driver_status = hdr.driver_status;
        o.status = hdr.status;
        o.resid = hdr.resid;
        o.dxfer_len = len;
        proto_result_from_sgio(ret, &o);
        if (dir != SGIO_FROM_DEV)
                ret->data_len = 0;
}
