/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Request execution; see backend.h.  The PR IN SG_IO uses the full 8192-byte
 * buffer like the reference (the device limits itself to the CDB's
 * allocation length) and the payload is cut to the allocation length.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "macro.h"
#include "mpath.h"
#include "sgio.h"
#include "wire.h"

#define PRH_CDB_LEN_SENT 16     /* the reference always sends cmd_len 16 */

struct Backend {
        BackendConfig config;
        Mpath *mpath;
};

int backend_new(const BackendConfig *config, Backend **ret) {
        Backend *b = calloc(1, sizeof *b);
        int r;

        if (!b)
                return -ENOMEM;
        b->config = *config;
        if (config->want_multipath) {
                r = mpath_new(config->verbose, &b->mpath);
                if (r < 0) {
                        /* No device-mapper or no library at all is the common case of a host without
                         * multipath: say so only with -v.  Anything else deserves attention. */
                        log_full_errno(r == -ENOENT || r == -ELIBACC || r == -EOPNOTSUPP ? LOG_INFO : LOG_NOTICE, r,
                                       "Multipath support not active (%m); serving plain SCSI devices only.");
                        b->mpath = NULL;
                }
        }
        *ret = b;
        return 0;
}

Backend *backend_free(Backend *b) {
        if (!b)
                return NULL;
        mpath_free(b->mpath);
        free(b);
        return NULL;
}

bool backend_multipath_active(const Backend *b) {
        return b && b->mpath;
}

void backend_execute(Backend *b, int fd, const uint8_t cdb[16], const uint8_t *data, uint32_t xfer_len,
                     uint8_t *inbuf, ProtoResult *ret) {
        bool out = proto_cdb_is_pr_out(cdb);

        if (out) {
                int flags = fcntl(fd, F_GETFL);
                /* A failing fcntl is not taken as read-only, as in the reference. */
                if (flags >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
                        proto_result_init(ret);
                        proto_result_set_check(ret, SENSE_INVALID_OPCODE);
                        return;
                }
        }

        if (b->mpath) {
                int r = mpath_detect(b->mpath, fd);
                if (r > 0) {
                        mpath_execute(b->mpath, fd, cdb, data, xfer_len, inbuf, b->config.sgio_timeout_ms, ret);
                        return;
                }
                if (r < 0) {
                        /* Never fall back to one path of a map we could not classify. */
                        log_error_errno(r, "Cannot tell whether fd is a multipath device: %m");
                        proto_result_init(ret);
                        proto_result_set_check(ret, SENSE_LUN_COMM_FAILURE);
                        return;
                }
        }

        if (out)
                sgio_execute(fd, cdb, PRH_CDB_LEN_SENT, SGIO_TO_DEV, (void *) (uintptr_t) data, xfer_len,
                             b->config.sgio_timeout_ms, ret);
        else {
                /* The buffer is shared by every connection a thread serves: what may be sent must never
                 * be an earlier request's data, whatever resid the device reports. */
                memset(inbuf, 0, xfer_len);
                sgio_execute(fd, cdb, PRH_CDB_LEN_SENT, SGIO_FROM_DEV, inbuf, PRH_DATA_SIZE,
                             b->config.sgio_timeout_ms, ret);
                if (ret->data_len > xfer_len)
                        ret->data_len = xfer_len;
        }
}
