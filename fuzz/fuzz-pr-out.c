/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Round-trip the PR OUT encoder (proto_pr_out_encode(), src/proto/pr-codec.c)
 * through the decoders: the fuzzer chooses every field of a PrhOutParams
 * (action, keys, scope, type, flags, relative target port, up to 40
 * transport IDs of any protocol, format, name and ISID) and the size of
 * the parameter buffer, which ends at an unmapped page in the replay build
 * and is exactly sized under ASan.
 *
 * The harness predicts the outcome from the header's contract (-EINVAL for
 * parameters the action cannot carry or an ID that cannot be encoded,
 * -E2BIG beyond the buffer or 8192 bytes) with its own length arithmetic.
 * An accepted list is read back field by field from the SPC-4 layout
 * (6.14 PR OUT, 7.6.4 transport IDs) and every transport ID is decoded
 * with proto_tid_decode(), then compared with what was asked.  The CDB must
 * carry the length both ways QEMU and SPC read it.
 *
 * Input: action, scope, type, flags, key (8), sa_key (8), rel_tgt_port (2),
 * param_size (2), n_tids; then per ID: protocol/format byte, port name (8),
 * name length, ISID length, then name and ISID bytes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pr-codec.h"
#include "wire.h"

#define MAX_TIDS 40

/* Encoded size of one ID per SPC-4, or -EINVAL when the ID cannot be encoded. */
static long expected_tid_size(const PrhTransportId *t) {
        switch (t->protocol) {
        case PRH_PROTO_FC:
        case PRH_PROTO_SAS:
                return 24;
        case PRH_PROTO_ISCSI: {
                size_t name_len = strnlen(t->iscsi_name, sizeof(t->iscsi_name));
                size_t isid_len = strnlen(t->iscsi_isid, sizeof(t->iscsi_isid));
                if (name_len == 0 || name_len >= PRH_ISCSI_NAME_MAX || t->format > 1)
                        return -EINVAL;
                if (isid_len >= sizeof(t->iscsi_isid) || (t->format == 1) != (isid_len > 0))
                        return -EINVAL;
                for (size_t i = 0; i < name_len; i++)
                        if (!isgraph((unsigned char) t->iscsi_name[i]) || t->iscsi_name[i] == ',')
                                return -EINVAL;
                for (size_t i = 0; i < isid_len; i++)
                        if (!isxdigit((unsigned char) t->iscsi_isid[i]))
                                return -EINVAL;
                size_t text = name_len + (t->format ? 5 + isid_len : 0) + 1;
                size_t n = (text + 3) / 4 * 4;
                n = 4 + (n < 20 ? 20 : n);
                /* The decoder reads back at most PRH_TID_MAX bytes; the encoder must not write more. */
                return n > PRH_TID_MAX ? -EINVAL : (long) n;
        }
        default:
                return -EINVAL;
        }
}

/* The outcome the header promises: the list length, -EINVAL or -E2BIG. */
static long expected_result(PrhOutAction action, const PrhOutParams *p, size_t param_size) {
        bool move = action == PRH_OUT_REGISTER_AND_MOVE;
        size_t limit = param_size < PRH_DATA_SIZE ? param_size : PRH_DATA_SIZE;
        size_t len = 24;

        if ((unsigned) action > PRH_OUT_REPLACE_LOST || p->scope > 15 || p->type > 15)
                return -EINVAL;
        if (p->flags & ~(PRH_FLAG_APTPL | PRH_FLAG_ALL_TG_PT | PRH_FLAG_SPEC_I_PT | PRH_FLAG_UNREG))
                return -EINVAL;
        if (move && (p->n_tids != 1 || (p->flags & (PRH_FLAG_ALL_TG_PT | PRH_FLAG_SPEC_I_PT))))
                return -EINVAL;
        if (!move && ((p->n_tids > 0 && !(p->flags & PRH_FLAG_SPEC_I_PT)) || (p->flags & PRH_FLAG_UNREG)))
                return -EINVAL;
        if (limit < 24)
                return -E2BIG;
        if (!move && !(p->flags & PRH_FLAG_SPEC_I_PT))
                return 24;
        if (!move) {
                if (limit < 28)
                        return -E2BIG;
                len = 28;
        }
        /* IDs are encoded in order; the first that fails decides. */
        for (size_t i = 0; i < p->n_tids; i++) {
                long n = expected_tid_size(&p->tids[i]);
                if (n < 0)
                        return n;
                if ((size_t) n > limit - len)
                        return -E2BIG;
                len += (size_t) n;
        }
        return (long) len;
}

static void check_tid(const uint8_t *in, size_t len, const PrhTransportId *want) {
        PrhTransportId got;
        long n = expected_tid_size(want);

        FUZZ_ASSERT(n > 0 && (size_t) n <= len);
        FUZZ_ASSERT(proto_tid_decode(in, (size_t) n, &got) == n);
        FUZZ_ASSERT(got.protocol == want->protocol);
        FUZZ_ASSERT(got.raw_len == (size_t) n && memcmp(got.raw, in, (size_t) n) == 0);
        if (want->protocol == PRH_PROTO_ISCSI) {
                FUZZ_ASSERT(got.format == want->format);
                FUZZ_ASSERT(strcmp(got.iscsi_name, want->iscsi_name) == 0);
                FUZZ_ASSERT(strcmp(got.iscsi_isid, want->iscsi_isid) == 0);
                /* Padding after the NUL-terminated text is zero. */
                size_t text = strlen((const char *) in + 4) + 1;
                for (size_t i = 4 + text; i < (size_t) n; i++)
                        FUZZ_ASSERT(in[i] == 0);
        } else {
                /* FC and SAS have format 0 only; the struct's format field is not encoded. */
                FUZZ_ASSERT(got.format == 0);
                FUZZ_ASSERT(got.port_name == want->port_name);
                for (size_t i = 1; i < 24; i++)
                        if (i < (want->protocol == PRH_PROTO_FC ? 8u : 4u) ||
                            i >= (want->protocol == PRH_PROTO_FC ? 16u : 12u))
                                FUZZ_ASSERT(in[i] == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static PrhTransportId tids[MAX_TIDS];
        FuzzInput in = { data, size };
        PrhOutParams p = {};
        uint8_t cdb[PROTO_PR_CDB_SIZE];

        PrhOutAction action = (PrhOutAction) fuzz_take_u8(&in);
        p.scope = fuzz_take_u8(&in);
        p.type = fuzz_take_u8(&in);
        p.flags = fuzz_take_u8(&in);
        p.key = fuzz_take_u64(&in);
        p.sa_key = fuzz_take_u64(&in);
        p.rel_tgt_port = fuzz_take_u16(&in);
        size_t param_size = fuzz_take_u16(&in);
        p.n_tids = fuzz_take_u8(&in) % (MAX_TIDS + 1);
        for (size_t i = 0; i < p.n_tids; i++) {
                PrhTransportId *t = &tids[i];
                memset(t, 0, sizeof(*t));
                uint8_t b = fuzz_take_u8(&in);
                /* Mostly the three protocols the codec knows, sometimes anything. */
                static const uint8_t protos[] = { PRH_PROTO_FC, PRH_PROTO_SAS, PRH_PROTO_ISCSI };
                t->protocol = (b & 0x80) ? (b & 0x0f) : protos[(b & 0x0f) % 3];
                t->format = (b >> 4) & 0x03;
                t->port_name = fuzz_take_u64(&in);
                size_t name_len = fuzz_take_u8(&in) % PRH_ISCSI_NAME_MAX;
                size_t isid_len = fuzz_take_u8(&in) % sizeof(t->iscsi_isid);
                fuzz_take_bytes(&in, t->iscsi_name, name_len);
                fuzz_take_bytes(&in, t->iscsi_isid, isid_len);
        }
        p.tids = p.n_tids ? tids : NULL;

        uint8_t *param = malloc(param_size ? param_size : 1);
        FUZZ_ASSERT(param);
        long expect = expected_result(action, &p, param_size);
        int r = proto_pr_out_encode(action, &p, cdb, param, param_size);
        FUZZ_ASSERT(r == expect);
        if (r < 0) {
                free(param);
                return 0;
        }

        /* CDB: opcode, action, scope/type; the length in bytes 5-8, of which QEMU reads 7-8. */
        bool move = action == PRH_OUT_REGISTER_AND_MOVE;
        FUZZ_ASSERT(r >= 24 && r <= (int) PRH_DATA_SIZE && (size_t) r <= param_size);
        FUZZ_ASSERT(cdb[0] == SCSI_OP_PR_OUT && cdb[1] == action && cdb[2] == ((p.scope << 4) | p.type));
        FUZZ_ASSERT(cdb[3] == 0 && cdb[4] == 0 && cdb[9] == 0);
        FUZZ_ASSERT(proto_get_be32(cdb + 5) == (uint32_t) r);
        uint8_t cdb16[PRH_CDB_SIZE] = {};
        memcpy(cdb16, cdb, sizeof(cdb));
        FUZZ_ASSERT(proto_cdb_xfer_len(cdb16) == (uint32_t) r);

        /* Parameter list header. */
        FUZZ_ASSERT(proto_get_be64(param) == p.key);
        FUZZ_ASSERT(proto_get_be64(param + 8) == p.sa_key);
        if (move) {
                FUZZ_ASSERT(param[16] == 0);
                FUZZ_ASSERT(param[17] == (((p.flags & PRH_FLAG_UNREG) ? 2 : 0) | ((p.flags & PRH_FLAG_APTPL) ? 1 : 0)));
                FUZZ_ASSERT(proto_get_be16(param + 18) == p.rel_tgt_port);
                uint32_t tl = proto_get_be32(param + 20);
                FUZZ_ASSERT(24 + (size_t) tl == (size_t) r);
                check_tid(param + 24, tl, &p.tids[0]);
                FUZZ_ASSERT(expected_tid_size(&p.tids[0]) == (long) tl);
        } else {
                for (size_t i = 16; i < 20; i++)
                        FUZZ_ASSERT(param[i] == 0);
                FUZZ_ASSERT(param[20] == (((p.flags & PRH_FLAG_SPEC_I_PT) ? 8 : 0) |
                                          ((p.flags & PRH_FLAG_ALL_TG_PT) ? 4 : 0) |
                                          ((p.flags & PRH_FLAG_APTPL) ? 1 : 0)));
                FUZZ_ASSERT(param[21] == 0 && param[22] == 0 && param[23] == 0);
                if (!(p.flags & PRH_FLAG_SPEC_I_PT))
                        FUZZ_ASSERT(r == 24);
                else {
                        /* SPEC_I_PT: TRANSPORTID PARAMETER DATA LENGTH, then the IDs back to back. */
                        size_t off = 28, end = 28 + (size_t) proto_get_be32(param + 24);
                        FUZZ_ASSERT(end == (size_t) r);
                        for (size_t i = 0; i < p.n_tids; i++) {
                                check_tid(param + off, end - off, &p.tids[i]);
                                off += (size_t) expected_tid_size(&p.tids[i]);
                        }
                        FUZZ_ASSERT(off == end);
                }
        }
        free(param);
        return 0;
}
