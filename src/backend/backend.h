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

/* Which backend a request's fd goes to, decided before it waits for an execution slot. */
typedef enum BackendLane {
        BACKEND_LANE_PLAIN = 0,         /* SG_IO (or refused by the fd check) */
        BACKEND_LANE_MULTIPATH = 1,     /* libmpathpersist, serialised by its one lock */
} BackendLane;

/*
 * The lane of fd: BACKEND_LANE_MULTIPATH for a dm-multipath map while
 * multipath support is active, else BACKEND_LANE_PLAIN, or -errno when the
 * map could not be classified (backend_execute() then answers with an
 * error, never touching one path of a map).  An fstat and at most one
 * device-mapper ioctl; never blocks on the device.
 */
int backend_classify(Backend *b, int fd);

/*
 * lane: what backend_classify() returned for fd.
 * cdb: the 16 received bytes; data: PR OUT parameter list of xfer_len bytes;
 * inbuf: PRH_DATA_SIZE bytes for PR IN data.  On return ret->data_len bytes
 * of inbuf are the PR IN payload (at most the allocation length).
 */
void backend_execute(Backend *b, int fd, int lane, const uint8_t cdb[16], const uint8_t *data, uint32_t xfer_len,
                     uint8_t *inbuf, ProtoResult *ret);
