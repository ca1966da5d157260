/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Issue one SCSI command with the SG_IO ioctl and map the outcome to a
 * ProtoResult (docs/protocol.md, "SG_IO").  Blocking: call it from
 * a worker thread, never from an event loop.
 */
#pragma once

#include <stdint.h>

#include "scsi.h"

typedef enum SgioDirection {
        SGIO_NONE = -1,         /* SG_DXFER_NONE */
        SGIO_TO_DEV = -2,       /* SG_DXFER_TO_DEV */
        SGIO_FROM_DEV = -3,     /* SG_DXFER_FROM_DEV */
} SgioDirection;

/*
 * Send cdb (cmd_len bytes, 6..16) to fd.  buf/len is the data buffer in the
 * given direction.  timeout_ms goes to sg_io_hdr.timeout (milliseconds; the
 * block layer raises anything below 7 s to 7 s on block device nodes).
 * The result's sense holds the device's sense (zero-filled first) or the
 * synthesised one; data_len is the bytes transferred on GOOD.
 */
void sgio_execute(int fd, const uint8_t *cdb, uint8_t cmd_len, SgioDirection dir, void *buf, uint32_t len,
                  uint32_t timeout_ms, ProtoResult *ret);
