/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the daemon's request state machine (proto_request_wanted() and
 * proto_request_advance(), src/proto/wire.c) the way the server drives it:
 * reads of 1..wanted bytes, any number of fds riding on any read, several
 * requests on one connection, a fresh connection after a violation.  An
 * independent model of the protocol (QEMU's pr-helper.rst and the
 * reference's check order R2-R5) predicts every step; after every step the
 * harness checks:
 *  - never more bytes wanted than the phase allows, into the right buffer
 *    (the PR OUT data buffer is exactly xfer_len bytes, so ASan sees any
 *    overflow), and fds offered only while the CDB is read;
 *  - the step is the model's; a complete request is well-formed (opcode,
 *    exactly one fd, the bytes sent, transfer length <= 8192);
 *  - fds are accounted for: each fd handed over is, after the step, either
 *    the request's own one or closed exactly once, and after the reset the
 *    server does, closed exactly once.
 *
 * Fds are numbers no process can hold (FAKE_FD_BASE + serial); close() is
 * wrapped at link time (-Wl,--wrap=close, see meson.build) so that every
 * close of one is counted; every other close goes to the C library.
 *
 * Input: a sequence of reads, each an op byte, a 16-bit chunk size and the
 * bytes read.  Op bits 0-1: fds attached (0-3); bit 2: after a complete
 * request, hand the fd out with proto_request_take_fd() and close it as a
 * caller would (else proto_request_reset()); bit 3: after a complete
 * request, advance once more with the read's fds (they must be closed).
 * Chunk size 0 means everything wanted, else 1 + size % wanted.  An input
 * that ends inside a read is EOF: the server resets the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "wire.h"

#define FAKE_FD_BASE (1 << 28)
#define MAX_FDS 4096

static unsigned n_handed;               /* fds handed over in this input */
static uint8_t closes[MAX_FDS];         /* closes counted per fd serial */
static unsigned stray_closes;           /* closes of fake fds never handed over */

int __real_close(int fd);
int __wrap_close(int fd);

int __wrap_close(int fd) {
        if (fd < FAKE_FD_BASE)
                return __real_close(fd);
        unsigned serial = (unsigned) (fd - FAKE_FD_BASE);
        if (serial >= n_handed) {
                stray_closes++;
                return -1;
        }
        if (closes[serial] < UINT8_MAX)
                closes[serial]++;
        return 0;
}

static void check_closed_once(unsigned from, unsigned to, int except) {
        for (unsigned i = from; i < to; i++) {
                if ((int) (FAKE_FD_BASE + i) == except)
                        FUZZ_ASSERT(closes[i] == 0);
                else
                        FUZZ_ASSERT(closes[i] == 1);
        }
        FUZZ_ASSERT(stray_closes == 0);
}

/* What the model expects of a connection's current request. */
typedef struct Model {
        uint8_t cdb[PRH_CDB_SIZE];
        uint32_t have;                  /* bytes of the current phase */
        bool data_phase;
        int fd;                         /* the request's fd, -EBADF until one came with the CDB */
        unsigned first_fd;              /* serial of the first fd handed over in this request */
        uint8_t *data;                  /* our copy of the PR OUT data sent */
        uint32_t xfer_len;
} Model;

static void model_init(Model *m) {
        free(m->data);
        memset(m, 0, sizeof(*m));
        m->fd = -EBADF;
        m->first_fd = n_handed;
}

/* The model's answer to a read of n bytes with n_fds fds. */
static ProtoStep model_step(Model *m, const uint8_t *bytes, size_t n, size_t n_fds, int first_fd) {
        if (m->data_phase) {
                memcpy(m->data + m->have, bytes, n);
                m->have += (uint32_t) n;
                return m->have < m->xfer_len ? PROTO_NEED_MORE : PROTO_COMPLETE;
        }
        if (n_fds > 1 || (n_fds == 1 && m->fd >= 0))
                return PROTO_ERR_TOO_MANY_FDS;
        if (n_fds == 1)
                m->fd = first_fd;
        memcpy(m->cdb + m->have, bytes, n);
        m->have += (uint32_t) n;
        if (m->have < PRH_CDB_SIZE)
                return PROTO_NEED_MORE;
        if (m->fd < 0)
                return PROTO_ERR_NO_FD;
        if (m->cdb[0] != 0x5e && m->cdb[0] != 0x5f)
                return PROTO_ERR_BAD_OPCODE;
        m->xfer_len = (uint32_t) ((m->cdb[7] << 8) | m->cdb[8]);
        if (m->xfer_len > 8192)
                return PROTO_ERR_TOO_LONG;
        if (m->cdb[0] == 0x5f && m->xfer_len > 0) {
                m->data_phase = true;
                m->have = 0;
                m->data = malloc(m->xfer_len);
                FUZZ_ASSERT(m->data);
                return PROTO_NEED_MORE;
        }
        return PROTO_COMPLETE;
}

static void check_complete(ProtoRequest *r, const Model *m) {
        uint8_t *dst = (uint8_t *) 1;
        bool fds_ok = true;

        FUZZ_ASSERT(r->phase == PROTO_PHASE_DONE);
        FUZZ_ASSERT(proto_request_wanted(r, &dst, &fds_ok) == 0);
        FUZZ_ASSERT(!dst && !fds_ok);
        FUZZ_ASSERT(r->cdb[0] == SCSI_OP_PR_IN || r->cdb[0] == SCSI_OP_PR_OUT);
        FUZZ_ASSERT(memcmp(r->cdb, m->cdb, PRH_CDB_SIZE) == 0);
        FUZZ_ASSERT(r->fd >= 0 && r->fd == m->fd);
        FUZZ_ASSERT(r->xfer_len == proto_cdb_xfer_len(r->cdb) && r->xfer_len <= PRH_DATA_SIZE);
        if (r->cdb[0] == SCSI_OP_PR_OUT && r->xfer_len > 0) {
                FUZZ_ASSERT(r->data && r->have == r->xfer_len);
                FUZZ_ASSERT(memcmp(r->data, m->data, r->xfer_len) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzInput in = { data, size };
        static uint8_t chunk[PRH_DATA_SIZE];
        ProtoRequest r;
        Model m = {};

        n_handed = 0;
        stray_closes = 0;
        memset(closes, 0, sizeof(closes));
        proto_request_init(&r);
        model_init(&m);

        while (fuzz_input_left(&in) > 0) {
                uint8_t op = fuzz_take_u8(&in);
                uint16_t size_sel = fuzz_take_u16(&in);
                size_t n_fds = op & 3;
                uint8_t *dst = NULL;
                bool fds_ok = false;
                int fds[3];

                size_t want = proto_request_wanted(&r, &dst, &fds_ok);
                /* Never more than the phase allows, into the phase's buffer. */
                if (r.phase == PROTO_PHASE_CDB) {
                        FUZZ_ASSERT(!m.data_phase);
                        FUZZ_ASSERT(want > 0 && want == PRH_CDB_SIZE - m.have && fds_ok);
                        FUZZ_ASSERT(dst == r.cdb + m.have);
                } else {
                        FUZZ_ASSERT(r.phase == PROTO_PHASE_DATA && m.data_phase && r.data);
                        FUZZ_ASSERT(want > 0 && want == m.xfer_len - m.have && !fds_ok);
                        FUZZ_ASSERT(dst == r.data + m.have && m.xfer_len <= PRH_DATA_SIZE);
                }

                size_t n = size_sel == 0 ? want : 1 + size_sel % want;
                if (fuzz_take_bytes(&in, chunk, n) < n)
                        break;          /* EOF within a read */
                memcpy(dst, chunk, n);
                if (n_handed + n_fds > MAX_FDS)
                        break;
                for (size_t i = 0; i < n_fds; i++)
                        fds[i] = FAKE_FD_BASE + (int) n_handed++;
                unsigned call_first = n_handed - (unsigned) n_fds;

                ProtoStep expect = model_step(&m, chunk, n, n_fds, n_fds ? fds[0] : -EBADF);
                ProtoStep step = proto_request_advance(&r, n, fds, n_fds);
                FUZZ_ASSERT(step == expect);
                /* The fds of this read: the request keeps the one it accepts, closes the others once. */
                check_closed_once(call_first, n_handed, r.fd);
                FUZZ_ASSERT(r.fd == m.fd || (step != PROTO_NEED_MORE && step != PROTO_COMPLETE));

                if (step == PROTO_NEED_MORE) {
                        if (r.phase == PROTO_PHASE_DATA && !r.data) {
                                FUZZ_ASSERT(r.xfer_len == m.xfer_len && r.xfer_len > 0 && r.have == 0);
                                r.data = malloc(r.xfer_len);    /* exactly what was promised, as server.c */
                                FUZZ_ASSERT(r.data);
                        }
                        continue;
                }

                uint8_t *buf = r.data;
                if (step == PROTO_COMPLETE) {
                        check_complete(&r, &m);
                        if (op & 8) {
                                /* A stray read after completion: its fds are not the request's. */
                                int more[3];
                                unsigned f = n_handed;
                                if (n_handed + n_fds > MAX_FDS)
                                        break;
                                for (size_t i = 0; i < n_fds; i++)
                                        more[i] = FAKE_FD_BASE + (int) n_handed++;
                                FUZZ_ASSERT(proto_request_advance(&r, 0, more, n_fds) == PROTO_COMPLETE);
                                check_closed_once(f, n_handed, -1);
                                check_complete(&r, &m);
                        }
                        if (op & 4) {
                                int fd = proto_request_take_fd(&r);
                                FUZZ_ASSERT(fd == m.fd && r.fd < 0);
                                (void) close(fd);
                        }
                }
                /* Executed, or a violation closing the connection: the server resets either way. */
                proto_request_reset(&r);
                FUZZ_ASSERT(r.fd == -EBADF && r.phase == PROTO_PHASE_CDB && r.have == 0);
                check_closed_once(m.first_fd, n_handed, -1);
                free(buf);
                model_init(&m);
        }

        /* EOF: the connection is closed and the request with it. */
        free(r.data);
        proto_request_reset(&r);
        check_closed_once(0, n_handed, -1);
        free(m.data);
        return 0;
}
