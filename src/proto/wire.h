/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pr-helper wire protocol (QEMU docs/interop/pr-helper.rst): handshake,
 * request framing and validation, reply header.  Shared by the daemon, the
 * client library and the tests; there is no other copy of it.
 *
 * Pure over bytes: the caller does the socket I/O.  The request parser
 * tells the caller how many bytes to read next and whether file
 * descriptors may arrive with them; reading exactly that many bytes keeps
 * fd-to-request attribution identical to the reference, which reads the
 * 16 CDB bytes with an ancillary buffer and the PR OUT data without one.
 *
 * Ownership: file descriptors handed to proto_request_advance() belong to
 * the request from then on; a violation closes every one of them, and
 * proto_request_reset() closes the request's fd.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi.h"

#define PRH_CDB_SIZE 16u
#define PRH_DATA_SIZE 8192u
#define PRH_REPLY_HEADER_SIZE 104u
#define PRH_HANDSHAKE_SIZE 4u
#define PRH_PR_OUT_HEADER_SIZE 24u

/* No feature bits have ever been defined. */
#define PRH_SUPPORTED_FEATURES 0u

typedef enum ProtoStep {
        PROTO_NEED_MORE = 0,            /* read proto_request_wanted() more bytes */
        PROTO_COMPLETE,                 /* request ready to execute */
        /* Violations: the connection must be closed.  Order = reference check order. */
        PROTO_ERR_TOO_MANY_FDS,         /* R2: more than one fd with the CDB */
        PROTO_ERR_NO_FD,                /* R3 */
        PROTO_ERR_BAD_OPCODE,           /* R4 */
        PROTO_ERR_TOO_LONG,             /* R5: transfer length > 8192 */
        _PROTO_STEP_MAX,
} ProtoStep;

typedef enum ProtoPhase {
        PROTO_PHASE_CDB = 0,
        PROTO_PHASE_DATA,
        PROTO_PHASE_DONE,
} ProtoPhase;

typedef struct ProtoRequest {
        uint8_t cdb[PRH_CDB_SIZE];
        ProtoPhase phase;
        uint32_t have;                  /* bytes of the current phase received */
        uint32_t xfer_len;              /* CDB bytes 7-8: PR IN allocation / PR OUT parameter length */
        int fd;                         /* the device fd, -EBADF until received */
        uint8_t *data;                  /* PR OUT parameter list, xfer_len bytes, caller-provided */
} ProtoRequest;

/* Message the reference logs for a violation (NULL when it logs none). */
const char *proto_step_message(ProtoStep step);

/* Handshake: 4 bytes big-endian feature mask each way. */
void proto_handshake_encode(uint8_t out[PRH_HANDSHAKE_SIZE], uint32_t features);
uint32_t proto_handshake_decode(const uint8_t in[PRH_HANDSHAKE_SIZE]);

/* The SCSI transfer length QEMU derives from a PR CDB: big-endian bytes 7-8. */
uint32_t proto_cdb_xfer_len(const uint8_t cdb[PRH_CDB_SIZE]);
static inline bool proto_cdb_is_pr_out(const uint8_t cdb[PRH_CDB_SIZE]) {
        return cdb[0] == SCSI_OP_PR_OUT;
}

void proto_request_init(ProtoRequest *r);
/* Close the request's fd (if any) and start over for the next request. */
void proto_request_reset(ProtoRequest *r);
/* Give the fd to the caller; the request no longer closes it. */
int proto_request_take_fd(ProtoRequest *r);

/*
 * Where the next bytes go and how many: returns the count (0 once the
 * request is complete), *ret_buf the destination, *ret_fds_allowed whether
 * the read should carry an ancillary buffer (only in the CDB phase).  In the
 * data phase r->data must point to xfer_len bytes before this is called.
 */
size_t proto_request_wanted(ProtoRequest *r, uint8_t **ret_buf, bool *ret_fds_allowed);

/*
 * Account for n bytes just placed at the buffer returned by
 * proto_request_wanted(), and the fds that came with them.  Returns
 * PROTO_NEED_MORE, PROTO_COMPLETE (after the CDB for PR IN and for PR OUT
 * with no data; after the data otherwise), or a violation.  When the CDB is
 * complete and the request is PR OUT with data, the phase becomes
 * PROTO_PHASE_DATA and PROTO_NEED_MORE is returned: the caller must then
 * set r->data.
 */
ProtoStep proto_request_advance(ProtoRequest *r, size_t n, const int *fds, size_t n_fds);

/* Reply header: result, payload size, 96 sense bytes; all integers big-endian. */
void proto_reply_encode(uint8_t out[PRH_REPLY_HEADER_SIZE], const ProtoResult *res);

/*
 * Decode and validate a reply header for the request whose CDB is given:
 * PR OUT must carry no payload, non-GOOD results no payload, and a PR IN
 * payload may not exceed the allocation length nor 8192 bytes.  Returns 0,
 * or -EBADMSG for a reply the protocol forbids.
 */
int proto_reply_decode(const uint8_t in[PRH_REPLY_HEADER_SIZE], const uint8_t cdb[PRH_CDB_SIZE], ProtoResult *ret);

/* Big-endian helpers, unaligned-safe. */
static inline uint16_t proto_get_be16(const uint8_t *p) {
        return (uint16_t) ((p[0] << 8) | p[1]);
}
static inline uint32_t proto_get_be32(const uint8_t *p) {
        return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}
static inline uint64_t proto_get_be64(const uint8_t *p) {
        return ((uint64_t) proto_get_be32(p) << 32) | proto_get_be32(p + 4);
}
static inline void proto_put_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}
static inline void proto_put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}
static inline void proto_put_be64(uint8_t *p, uint64_t v) {
        proto_put_be32(p, (uint32_t) (v >> 32));
        proto_put_be32(p + 4, (uint32_t) v);
}
