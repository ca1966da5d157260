/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Execution of one validated request: the fd check (fd-check.h: only fds
 * that cover a whole logical unit), the read-only check for PR OUT,
 * then dm-multipath (libmpathpersist) when the fd is a multipath map and
 * multipath support is active, else SG_IO.  Blocking; thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "scsi.h"

typedef struct BackendConfig {
        uint32_t sgio_timeout_ms;
        bool want_multipath;            /* try to activate multipath support */
        int verbose;                    /* 0..3, passed to libmpathpersist */
        bool unsafe_any_fd;             /* skip the fd check (fd-check.h): testing only */
} BackendConfig;

typedef struct Backend Backend;

/* Fails (-errno) only if /sys/dev cannot be opened while the fd check is on. */
int backend_new(const BackendConfig *config, Backend **ret);
Backend *backend_free(Backend *b);
bool backend_multipath_active(const Backend *b);

/*
 * cdb: the 16 received bytes; data: PR OUT parameter list of xfer_len bytes;
 * inbuf: PRH_DATA_SIZE bytes for PR IN data.  On return ret->data_len bytes
 * of inbuf are the PR IN payload (at most the allocation length).
 */
void backend_execute(Backend *b, int fd, const uint8_t cdb[16], const uint8_t *data, uint32_t xfer_len,
                     uint8_t *inbuf, ProtoResult *ret);
