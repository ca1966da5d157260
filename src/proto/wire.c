/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Wire protocol codecs and the request state machine; see wire.h.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

const char *proto_step_message(ProtoStep step) {
        switch (step) {
        case PROTO_ERR_NO_FD:
                return "No file descriptor in request.";
        case PROTO_ERR_BAD_OPCODE:
                return "Invalid CDB, closing socket.";
        default:
                /* The reference closes silently on R2 and R5. */
                return NULL;
        }
}

void proto_handshake_encode(uint8_t out[PRH_HANDSHAKE_SIZE], uint32_t features) {
        proto_put_be32(out, features);
}

uint32_t proto_handshake_decode(const uint8_t in[PRH_HANDSHAKE_SIZE]) {
        return proto_get_be32(in);
}

uint32_t proto_cdb_xfer_len(const uint8_t cdb[PRH_CDB_SIZE]) {
        /* scsi_cdb_xfer() for group-2 opcodes: bytes 7-8 only, also for PR OUT. */
        return proto_get_be16(cdb + 7);
}

void proto_request_init(ProtoRequest *r) {
        memset(r, 0, sizeof(*r));
        r->fd = -EBADF;
}

void proto_request_reset(ProtoRequest *r) {
        if (r->fd >= 0)
                (void) close(r->fd);
        proto_request_init(r);
}

int proto_request_take_fd(ProtoRequest *r) {
        int fd = r->fd;

        r->fd = -EBADF;
        return fd;
}

size_t proto_request_wanted(ProtoRequest *r, uint8_t **ret_buf, bool *ret_fds_allowed) {
        switch (r->phase) {
        case PROTO_PHASE_CDB:
                *ret_buf = r->cdb + r->have;
                *ret_fds_allowed = true;
                return PRH_CDB_SIZE - r->have;
        case PROTO_PHASE_DATA:
                *ret_buf = r->data + r->have;
                *ret_fds_allowed = false;
                return r->xfer_len - r->have;
        default:
                *ret_buf = NULL;
                *ret_fds_allowed = false;
                return 0;
        }
}

static void close_fds(const int *fds, size_t n_fds) {
        for (size_t i = 0; i < n_fds; i++)
                if (fds[i] >= 0)
                        (void) close(fds[i]);
}

ProtoStep proto_request_advance(ProtoRequest *r, size_t n, const int *fds, size_t n_fds) {
        if (r->phase == PROTO_PHASE_DATA) {
                /* Fds that ride on the data are not the request's (the reference reads without a control buffer). */
                close_fds(fds, n_fds);
                r->have += (uint32_t) n;
                if (r->have < r->xfer_len)
                        return PROTO_NEED_MORE;
                r->phase = PROTO_PHASE_DONE;
                return PROTO_COMPLETE;
        }
        if (r->phase != PROTO_PHASE_CDB) {
                close_fds(fds, n_fds);
                return PROTO_COMPLETE;
        }

        /* R2: exactly one fd over all chunks of the CDB. */
        if (n_fds > 1 || (n_fds == 1 && r->fd >= 0)) {
                close_fds(fds, n_fds);
                return PROTO_ERR_TOO_MANY_FDS;
        }
        if (n_fds == 1)
                r->fd = fds[0];

        r->have += (uint32_t) n;
        if (r->have < PRH_CDB_SIZE)
                return PROTO_NEED_MORE;

        if (r->fd < 0)
                return PROTO_ERR_NO_FD;                                 /* R3 */
        if (r->cdb[0] != SCSI_OP_PR_IN && r->cdb[0] != SCSI_OP_PR_OUT)
                return PROTO_ERR_BAD_OPCODE;                            /* R4 */
        r->xfer_len = proto_cdb_xfer_len(r->cdb);
        if (r->xfer_len > PRH_DATA_SIZE)
                return PROTO_ERR_TOO_LONG;                              /* R5 */

        r->have = 0;
        if (proto_cdb_is_pr_out(r->cdb) && r->xfer_len > 0) {
                r->phase = PROTO_PHASE_DATA;
                return PROTO_NEED_MORE;
        }
        r->phase = PROTO_PHASE_DONE;
        return PROTO_COMPLETE;
}

void proto_reply_encode(uint8_t out[PRH_REPLY_HEADER_SIZE], const ProtoResult *res) {
        proto_put_be32(out, (uint32_t) res->status);
        proto_put_be32(out + 4, res->data_len);
        memcpy(out + 8, res->sense, PRH_SENSE_SIZE);
}

int proto_reply_decode(const uint8_t in[PRH_REPLY_HEADER_SIZE], const uint8_t cdb[PRH_CDB_SIZE], ProtoResult *ret) {
        int32_t status = (int32_t) proto_get_be32(in);
        int32_t sz = (int32_t) proto_get_be32(in + 4);

        if (sz < 0)
                return -EBADMSG;
        if (sz > 0) {
                if (cdb[0] != SCSI_OP_PR_IN || status != SCSI_STATUS_GOOD)
                        return -EBADMSG;
                if ((uint32_t) sz > proto_cdb_xfer_len(cdb) || (uint32_t) sz > PRH_DATA_SIZE)
                        return -EBADMSG;
        }
        ret->status = status;
        ret->data_len = (uint32_t) sz;
        memcpy(ret->sense, in + 8, PRH_SENSE_SIZE);
        return 0;
}
