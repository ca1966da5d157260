/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the libmpathpersist translation (src/backend/mpath-translate.c) in
 * both directions.
 *
 * Input: byte 0 selects the direction.
 *  - bit 7 set: PR OUT.  Bytes 1-2 are CDB bytes 1 (service action) and 2
 *    (scope/type); the rest, up to 8192 bytes, is the parameter list, used
 *    in place (it ends at the input's end, so an over-read faults).
 *  - bit 7 clear: PR IN.  Bits 0-1 are the service action; bytes 1-2 the
 *    output size (big-endian, at most 8192); the rest is the image of the
 *    struct prin_resp the library filled (zero-extended to the size
 *    mpath.c allocates).  The output buffer ends at an unmapped page.
 * Bytes 1-4 also feed the return-code mapping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mpath-translate.h"
#include "tests.h"
#include "wire.h"

static void fuzz_prout(const uint8_t *data, size_t size) {
        static MpathProut p;
        uint8_t cdb[16] = { SCSI_OP_PR_OUT };
        ProtoSenseCode sense = {};
        uint32_t len = (uint32_t) (size - 3 > PRH_DATA_SIZE ? PRH_DATA_SIZE : size - 3);

        cdb[1] = data[1];
        cdb[2] = data[2];
        proto_put_be16(cdb + 7, (uint16_t) len);
        /* Use the list's tail so that it still ends where the input ends. */
        const uint8_t *list = data + size - len;

        if (mpath_prout_decode(cdb, len ? list : NULL, len, &p, &sense) == MPATH_VERDICT_REJECT) {
                FUZZ_ASSERT(sense.key == SCSI_KEY_ILLEGAL_REQUEST);
                return;
        }
        struct prout_param_descriptor *param = mpath_prout_param(&p);
        FUZZ_ASSERT(p.service_action >= 0 && p.service_action <= MPATH_PROUT_REG_IGN_SA);
        FUZZ_ASSERT(p.n_tids <= MPATH_MX_TIDS);
        FUZZ_ASSERT(param->num_transportid == p.n_tids);
        FUZZ_ASSERT(memcmp(param->key, list, 16) == 0);
        FUZZ_ASSERT(param->sa_flags == list[20]);
        if (!(param->sa_flags & MPATH_F_SPEC_I_PT_MASK))
                FUZZ_ASSERT(len == 24 && p.n_tids == 0);
        else
                FUZZ_ASSERT(p.service_action == MPATH_PROUT_REG_SA);
        for (unsigned i = 0; i < p.n_tids; i++) {
                FUZZ_ASSERT(param->trnptid_list[i] == &p.tids[i]);
                /* What the library's encoder will read must be what it can carry. */
                if (p.tids[i].protocol_id == MPATH_PROTOCOL_ID_ISCSI) {
                        FUZZ_ASSERT(p.tids[i].iscsi_name[0] == 0);
                        FUZZ_ASSERT(p.tids[i].iscsi_name[1] % 4 == 0 && p.tids[i].iscsi_name[1] <= 252);
                } else
                        FUZZ_ASSERT(p.tids[i].protocol_id == MPATH_PROTOCOL_ID_FC ||
                                    p.tids[i].protocol_id == MPATH_PROTOCOL_ID_SAS);
        }
}

static void fuzz_prin(const uint8_t *data, size_t size) {
        static uint8_t resp[MPATH_PRIN_RESP_SIZE] __attribute__((aligned(8)));
        size_t out_size = proto_get_be16(data + 1), n = size - 3;
        int sa = data[0] & 0x03, r;

        if (out_size > PRH_DATA_SIZE)
                out_size = PRH_DATA_SIZE;
        if (n > sizeof resp)
                n = sizeof resp;
        memset(resp, 0, sizeof resp);
        memcpy(resp, data + 3, n);

        uint8_t *out = guarded_copy(resp, out_size);   /* contents irrelevant: overwritten */
        r = mpath_prin_encode(sa, resp, sizeof resp, out, out_size);
        FUZZ_ASSERT(r <= (int) out_size);
        if (r < 0)
                FUZZ_ASSERT(sa == MPATH_PRIN_RFSTAT_SA && (r == -E2BIG || r == -EPROTONOSUPPORT));
        guarded_free(out, out_size);

        uint8_t cdb[16] = { SCSI_OP_PR_IN, data[0] & 0x7f };
        ProtoSenseCode sense;
        int got = -1;
        if (mpath_prin_decode(cdb, &got, &sense) == MPATH_VERDICT_CALL)
                FUZZ_ASSERT(got == (data[0] & 0x7f) && got <= MPATH_PRIN_RFSTAT_SA);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoResult res;

        if (size < 3)
                return 0;
        if (size >= 5) {
                int code = (int) proto_get_be32(data + 1);
                (void) mpath_result_from_code(code, &res);
                FUZZ_ASSERT(res.data_len == 0);
        }
        if (data[0] & 0x80)
                fuzz_prout(data, size);
        else
                fuzz_prin(data, size);
        return 0;
}
