/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Builds without the multipath header: support is never active. */
#include <errno.h>
#include <stddef.h>

#include "mpath.h"

int mpath_new(int verbose, Mpath **ret) {
        (void) verbose;
        *ret = NULL;
        return -EOPNOTSUPP;
}

Mpath *mpath_free(Mpath *m) {
        (void) m;
        return NULL;
}

int mpath_detect(Mpath *m, int fd) {
        (void) m;
        (void) fd;
        return 0;
}

void mpath_execute(Mpath *m, int fd, const uint8_t cdb[16], const uint8_t *data, uint32_t xfer_len,
                   uint8_t *inbuf, uint32_t sgio_timeout_ms, ProtoResult *ret) {
        (void) m, (void) fd, (void) cdb, (void) data, (void) xfer_len, (void) inbuf, (void) sgio_timeout_ms;
        proto_result_set_check(ret, SENSE_INVALID_OPCODE);
}
