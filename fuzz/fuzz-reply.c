/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the client's view of a helper reply: the reply header validation
 * (proto_reply_decode) for a PR IN or PR OUT CDB, and every decoder a PR IN
 * payload goes through (keys, reservation, capabilities, full status with
 * transport IDs), plus the sense texts.
 *
 * Input: byte 0 selects the CDB (bit 7: PR OUT, bits 0-1: PR IN service
 * action), bytes 1-2 the allocation length (big-endian), then the 104-byte
 * reply header and the payload as a helper would send them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pr-codec.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t cdb[PRH_CDB_SIZE] = {}, payload[PRH_DATA_SIZE];
        ProtoResult res;
        char text[256];
        size_t avail;

        if (size < 3 + PRH_REPLY_HEADER_SIZE)
                return 0;
        if (data[0] & 0x80) {
                cdb[0] = SCSI_OP_PR_OUT;
                cdb[1] = data[0] & 0x1f;
        } else {
                cdb[0] = SCSI_OP_PR_IN;
                cdb[1] = data[0] & 0x03;
        }
        cdb[7] = data[1];
        cdb[8] = data[2];

        if (proto_reply_decode(data + 3, cdb, &res) < 0)
                return 0;

        /* What a client may rely on once the header is accepted. */
        FUZZ_ASSERT(res.data_len <= PRH_DATA_SIZE);
        FUZZ_ASSERT(res.data_len <= proto_cdb_xfer_len(cdb));
        if (cdb[0] == SCSI_OP_PR_OUT || res.status != SCSI_STATUS_GOOD)
                FUZZ_ASSERT(res.data_len == 0);

        proto_sense_describe(res.sense, sizeof(res.sense), text, sizeof(text));
        FUZZ_ASSERT(strlen(text) < sizeof(text));
        (void) proto_status_name(res.status);

        /* The payload is what follows, cut short if the "helper" sent less (as at EOF). */
        avail = size - 3 - PRH_REPLY_HEADER_SIZE;
        if (avail > res.data_len)
                avail = res.data_len;
        /* Copy into a buffer of exactly that size's worth: decoders must use len, not the 8 KiB. */
        memcpy(payload, data + 3 + PRH_REPLY_HEADER_SIZE, avail);

        static PrhKeys keys;
        PrhReservation rsv;
        PrhCapabilities caps;
        PrhFullStatus fs;
        static PrhFullStatusEntry entries[PRH_DATA_SIZE / 24 + 1];

        if (proto_pr_decode_keys(payload, avail, &keys) == 0) {
                FUZZ_ASSERT(keys.n_keys * 8 + 8 <= avail);
                FUZZ_ASSERT(keys.n_keys <= PRH_MAX_KEYS);
        }
        if (proto_pr_decode_reservation(payload, avail, &rsv) == 0 && rsv.reserved) {
                FUZZ_ASSERT(avail >= 24);
                (void) proto_pr_type_name(rsv.type);
        }
        if (proto_pr_decode_capabilities(payload, avail, &caps) == 0)
                FUZZ_ASSERT(caps.allow_commands <= 7);
        int n = proto_pr_decode_full_status(payload, avail, &fs, entries, sizeof(entries) / sizeof(entries[0]));
        if (n >= 0) {
                FUZZ_ASSERT((size_t) n * 24 + 8 <= avail);
                for (int i = 0; i < n; i++) {
                        FUZZ_ASSERT(entries[i].tid.raw_len <= PRH_TID_MAX);
                        if (entries[i].tid_valid) {
                                /* A decoded transport ID survives text formatting and parsing. */
                                PrhTransportId again;
                                char tid[400];
                                proto_tid_format(&entries[i].tid, tid, sizeof(tid));
                                FUZZ_ASSERT(proto_tid_parse(tid, &again) == 0);
                                FUZZ_ASSERT(again.protocol == entries[i].tid.protocol);
                                FUZZ_ASSERT(again.port_name == entries[i].tid.port_name);
                                FUZZ_ASSERT(strcmp(again.iscsi_name, entries[i].tid.iscsi_name) == 0);
                        }
                }
        }
        return 0;
}
