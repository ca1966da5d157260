/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Translation between the helper's SCSI view of a persistent-reservation
 * command (16-byte CDB, PR OUT parameter list, PR IN payload, status and
 * sense) and libmpathpersist's C structures and return codes
 * (docs/protocol.md, "Multipath"; docs/multipath.md).  Pure functions over bytes:
 * no I/O, no logging, no library calls, so that every malformed parameter
 * list can be exercised by unit tests and fuzzers without a device.
 *
 * Deliberate differences from the reference, each a fix of one of its bugs
 * (docs/protocol.md, "Bugs of the reference"):
 *  - CDB byte 1: the service action is bits 4-0; bits 7-5 are reserved and
 *    set ones give INVALID FIELD IN CDB (the reference compared the whole
 *    byte, which rejected them too, so the answer is unchanged).
 *  - PR OUT parameter lists follow SPC-4: without SPEC_I_PT the length must
 *    be exactly 24 (PARAMETER LIST LENGTH ERROR otherwise; the reference
 *    parsed and then dropped whatever followed); SPEC_I_PT is accepted only
 *    with REGISTER (INVALID FIELD IN PARAMETER LIST otherwise); transport
 *    IDs are parsed only when SPEC_I_PT is set.
 *  - The TRANSPORTID PARAMETER DATA LENGTH is unsigned: a value that does
 *    not fit in the list is INVALID FIELD IN PARAMETER LIST (the reference
 *    read it as a signed int, so 0xFFFFFFE4..0xFFFFFFFF meant "none").
 *  - Any number of transport IDs is parsed and validated; more than the
 *    library's MPATH_MX_TIDS (32) is refused with ILLEGAL REQUEST /
 *    INSUFFICIENT REGISTRATION RESOURCES (55/04), the code SPC-4 gives a
 *    device server that cannot hold that many registrations (the reference
 *    asserted and aborted the daemon at the 33rd).
 *  - REGISTER AND MOVE (7) and REPLACE LOST RESERVATION (8) are refused
 *    with INVALID FIELD IN CDB: libmpathpersist has no way to express them
 *    (its REGISTER AND MOVE branch returns MPATH_PR_OTHER), and sending them
 *    down one path would move or replace the reservation behind the back of
 *    the per-path registrations multipathd maintains.
 *  - READ FULL STATUS is answered from the library's decoded descriptors,
 *    re-encoded to the SPC-4 wire format (the reference refused it).
 *  - READ KEYS / READ RESERVATION clamp the device's ADDITIONAL LENGTH
 *    before adding 8 (no wrap, no over-read of the library's buffer).
 */
#pragma once

#include <mpath_persist.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi.h"

/* Extra sense code used only here (SPC-4: ILLEGAL REQUEST 55/04). */
extern const ProtoSenseCode SENSE_INSUFFICIENT_REGISTRATION_RESOURCES;

/* PR OUT parameter descriptor with room for the library's maximum transport-ID pointers. */
#define MPATH_PROUT_PARAM_SIZE \
        (sizeof(struct prout_param_descriptor) + MPATH_MX_TIDS * sizeof(struct transportid *))

/*
 * Most descriptors the library's READ FULL STATUS decoder can produce from
 * an 8192-byte response: it steps through ADDITIONAL LENGTH (at most 8192
 * bytes) by at least 24 bytes per descriptor.
 */
#define MPATH_RFSTAT_MAX_DESCRIPTORS (MPATH_MAX_PARAM_LEN / 24 + 1)

/*
 * Bytes to allocate for a struct prin_resp handed to the library.  Its
 * READ FULL STATUS decoder writes one struct prin_fulldescr per descriptor
 * from private_buffer onwards (past the 8192-byte buffer when there are
 * more than 30) and a pointer per descriptor into the flexible
 * descriptors[] array after the union; both must stay inside our buffer.
 */
#define MPATH_PRIN_RESP_SIZE                                                    \
        (sizeof(struct prin_resp) +                                             \
         MPATH_RFSTAT_MAX_DESCRIPTORS * (sizeof(struct prin_fulldescr) + sizeof(struct prin_fulldescr *)))

/* Outcome of a decode step. */
typedef enum MpathVerdict {
        MPATH_VERDICT_CALL = 0,         /* call the library */
        MPATH_VERDICT_REJECT = 1,       /* answer with *ret_sense as CHECK CONDITION */
} MpathVerdict;

/* A PR OUT request ready for mpath_persistent_reserve_out(). */
typedef struct MpathProut {
        int service_action;
        int scope;
        unsigned type;
        unsigned n_tids;
        struct transportid tids[MPATH_MX_TIDS];
        /* struct prout_param_descriptor + MPATH_MX_TIDS pointers into tids[]; 8-aligned. */
        uint64_t param_storage[(MPATH_PROUT_PARAM_SIZE + 7) / 8];
} MpathProut;

static inline struct prout_param_descriptor *mpath_prout_param(MpathProut *p) {
        return (struct prout_param_descriptor *) (void *) p->param_storage;
}

/*
 * PR IN: validate the CDB.  Returns MPATH_VERDICT_CALL with *ret_sa the
 * library service action (0..3), or MPATH_VERDICT_REJECT with *ret_sense.
 */
MpathVerdict mpath_prin_decode(const uint8_t cdb[16], int *ret_sa, ProtoSenseCode *ret_sense);

/*
 * PR IN: encode the library's successful response for service action sa
 * (resp_size bytes at resp) as SPC-4 parameter data into out, which holds
 * out_size bytes and is zero-filled first.  Returns the number of
 * meaningful bytes (the full length including what did not fit is in the
 * data's own length fields), or:
 *   -EINVAL  unknown service action;
 *   -E2BIG   READ FULL STATUS with more descriptors than the library decodes
 *            without corrupting them (its pointer array overlaps its
 *            descriptor storage past 30 or so) or than resp_size holds;
 *   -EPROTONOSUPPORT  READ FULL STATUS with a transport ID whose protocol
 *            the library's decoder does not keep (only FC, iSCSI and SAS).
 * For the last two the caller answers otherwise (see mpath.c).
 */
int mpath_prin_encode(int sa, const void *resp, size_t resp_size, uint8_t *out, size_t out_size);

/*
 * True when the library's READ FULL STATUS decoding of n descriptors leaves
 * every descriptor intact (no later pointer store lands on it).
 */
bool mpath_rfstat_intact(uint32_t n);

/*
 * PR OUT: validate the CDB and the len-byte parameter list and fill *ret.
 * Returns MPATH_VERDICT_CALL, or MPATH_VERDICT_REJECT with *ret_sense.
 * Reads exactly len bytes of data (data may be NULL when len is 0).
 */
MpathVerdict mpath_prout_decode(const uint8_t cdb[16], const uint8_t *data, uint32_t len, MpathProut *ret,
                                ProtoSenseCode *ret_sense);

/*
 * Map a libmpathpersist return code to a SCSI result (the table in
 * docs/protocol.md, "Multipath").
 * Returns true when the code is one for which the reference first probes
 * the device with TEST UNIT READY and prefers the probe's failure.
 */
bool mpath_result_from_code(int code, ProtoResult *ret);

/* Short name of a PR OUT service action for log messages. */
const char *mpath_prout_sa_name(int sa);
