/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SCSI <-> libmpathpersist translation; see mpath-translate.h for the
 * contract and the deliberate differences from the reference.
 *
 * Invariants: every read of the parameter list is bounds-checked against
 * len (inputs are client data); every read of a library response stays
 * inside resp_size; writes to out never pass out_size.
 */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "mpath-translate.h"
#include "wire.h"

const ProtoSenseCode SENSE_INSUFFICIENT_REGISTRATION_RESOURCES = { SCSI_KEY_ILLEGAL_REQUEST, 0x55, 0x04 };

/* SPC-4 PR CDB byte 1: bits 7-5 reserved, bits 4-0 service action. */
#define PR_SA_MASK 0x1f
#define PR_SA_RESERVED_MASK 0xe0

#define PROUT_SA_REGISTER_AND_MOVE 0x07
#define PROUT_SA_REPLACE_LOST_RESERVATION 0x08

/* Transport IDs: byte 0 = FORMAT CODE (7-6), reserved (5-4), PROTOCOL IDENTIFIER (3-0). */
#define TID_FORMAT_MASK 0xc0
#define TID_PROTOCOL_MASK 0x0f
#define TID_KEY_MASK (TID_FORMAT_MASK | TID_PROTOCOL_MASK)
#define TID_FIXED_LEN 24u               /* FC and SAS TransportIDs */
#define TID_ISCSI_MIN_ADDITIONAL 20u    /* SPC-4: ADDITIONAL LENGTH at least 20 */
/*
 * The library re-encodes an iSCSI ID from iscsi_name[0..1] (the two length
 * bytes) using only the low byte, and copies length + 2 bytes out of the
 * 256-byte iscsi_name: the largest multiple of 4 that survives is 252.
 */
#define TID_ISCSI_MAX_NAME 252u

#define PROUT_HEADER_LEN 24u
#define PROUT_TID_HEADER_LEN 28u        /* header + TRANSPORTID PARAMETER DATA LENGTH */

MpathVerdict mpath_prin_decode(const uint8_t cdb[16], int *ret_sa, ProtoSenseCode *ret_sense) {
        uint8_t b1 = cdb[1];

        if ((b1 & PR_SA_RESERVED_MASK) || (b1 & PR_SA_MASK) > MPATH_PRIN_RFSTAT_SA) {
                *ret_sense = SENSE_INVALID_FIELD;
                return MPATH_VERDICT_REJECT;
        }
        *ret_sa = b1 & PR_SA_MASK;
        return MPATH_VERDICT_CALL;
}

static void put_bytes(uint8_t *out, size_t out_size, size_t pos, const void *src, size_t n) {
        if (pos >= out_size)
                return;
        memcpy(out + pos, src, MIN(n, out_size - pos));
}

static int encode_keys_or_reservation(const void *resp, size_t resp_size, uint8_t *out, size_t out_size) {
        const size_t off_list = offsetof(struct prin_readdescr, key_list);
        uint32_t generation, additional;
        uint8_t hdr[8];
        size_t n;

        if (resp_size < off_list)
                return -EINVAL;
        memcpy(&generation, (const uint8_t *) resp + offsetof(struct prin_readdescr, prgeneration), 4);
        memcpy(&additional, (const uint8_t *) resp + offsetof(struct prin_readdescr, additional_length), 4);

        /* The library converted both to host order; the wire wants them big-endian. */
        proto_put_be32(hdr, generation);
        proto_put_be32(hdr + 4, additional);
        put_bytes(out, out_size, 0, hdr, sizeof hdr);

        /* Never trust the device's length: what the library received is at most 8192 - 8 bytes. */
        n = MIN((size_t) additional, (size_t) MPATH_MAX_PARAM_LEN - 8);
        n = MIN(n, resp_size - off_list);
        put_bytes(out, out_size, 8, (const uint8_t *) resp + off_list, n);
        return (int) MIN(8 + n, out_size);
}

static int encode_capabilities(const void *resp, size_t resp_size, uint8_t *out, size_t out_size) {
        struct prin_capdescr cap;
        uint8_t b[8] = {};

        if (resp_size < sizeof cap)
                return -EINVAL;
        memcpy(&cap, resp, sizeof cap);
        /* length and pr_type_mask were converted to host order by the library. */
        proto_put_be16(b, cap.length);
        b[2] = cap.flags[0];
        b[3] = cap.flags[1];
        proto_put_be16(b + 4, cap.pr_type_mask);
        put_bytes(out, out_size, 0, b, sizeof b);
        return (int) MIN(sizeof b, out_size);
}

/* Offsets of the library's READ FULL STATUS storage inside struct prin_resp. */
#define RFSTAT_OFF_DESCR offsetof(struct print_fulldescr_list, private_buffer)
#define RFSTAT_OFF_PTRS offsetof(struct print_fulldescr_list, descriptors)

bool mpath_rfstat_intact(uint32_t n) {
        const size_t dsz = sizeof(struct prin_fulldescr), psz = sizeof(struct prin_fulldescr *);

        /*
         * The decoder stores descriptor j at RFSTAT_OFF_DESCR + j * dsz, then
         * pointer j at RFSTAT_OFF_PTRS + j * psz.  Descriptor j survives when no
         * pointer k >= j (stored after it) overlaps it; pointers k < j were
         * stored before and merely get overwritten, and we never use them.
         */
        for (uint32_t j = 0; j < n; j++) {
                size_t cs = RFSTAT_OFF_DESCR + (size_t) j * dsz, ce = cs + dsz;
                size_t k = j;

                /* First pointer (index >= j) ending after cs. */
                if (RFSTAT_OFF_PTRS + (k + 1) * psz <= cs)
                        k = (cs - RFSTAT_OFF_PTRS) / psz;
                if (k < j)
                        k = j;
                if (k < n && RFSTAT_OFF_PTRS + k * psz < ce && RFSTAT_OFF_PTRS + (k + 1) * psz > cs)
                        return false;
        }
        return true;
}

/* Re-encode one library transport ID to its SPC-4 form; returns its length or -EPROTONOSUPPORT. */
static int encode_transport_id(const struct transportid *t, uint8_t out[4 + 260]) {
        uint8_t fmt, proto = t->protocol_id & TID_PROTOCOL_MASK;
        size_t name_len, add;
        const uint8_t *nul;

        /*
         * The library's decoder stores the format code shifted down to 0..3;
         * accept the unshifted form too in case a release stops shifting.
         */
        fmt = (t->format_code & TID_FORMAT_MASK) ? (t->format_code & TID_FORMAT_MASK)
                                                 : (uint8_t) ((t->format_code & 0x03) << 6);
        memset(out, 0, 4 + 260);
        out[0] = fmt | proto;

        switch (proto) {
        case MPATH_PROTOCOL_ID_FC:
                memcpy(out + 8, t->n_port_name, 8);
                return TID_FIXED_LEN;
        case MPATH_PROTOCOL_ID_SAS:
                memcpy(out + 4, t->sas_address, 8);
                return TID_FIXED_LEN;
        case MPATH_PROTOCOL_ID_ISCSI:
                /*
                 * The decoder copied the null-terminated, null-padded name but
                 * not its length: rebuild the smallest SPC-4 length (name + NUL,
                 * multiple of 4, at least 20).
                 */
                nul = memchr(t->iscsi_name, 0, sizeof t->iscsi_name);
                name_len = nul ? (size_t) (nul - t->iscsi_name) : sizeof t->iscsi_name;
                add = (name_len + 1 + 3) & ~(size_t) 3;
                if (add < TID_ISCSI_MIN_ADDITIONAL)
                        add = TID_ISCSI_MIN_ADDITIONAL;
                proto_put_be16(out + 2, (uint16_t) add);
                memcpy(out + 4, t->iscsi_name, name_len);
                return (int) (4 + add);
        default:
                return -EPROTONOSUPPORT;
        }
}

static int encode_full_status(const void *resp, size_t resp_size, uint8_t *out, size_t out_size) {
        const uint8_t *base = resp;
        uint32_t generation, n;
        size_t pos = 8, total = 0;
        uint8_t hdr[8];

        if (resp_size < RFSTAT_OFF_DESCR)
                return -EINVAL;
        memcpy(&generation, base + offsetof(struct print_fulldescr_list, prgeneration), 4);
        memcpy(&n, base + offsetof(struct print_fulldescr_list, number_of_descriptor), 4);

        if (n > MPATH_RFSTAT_MAX_DESCRIPTORS || !mpath_rfstat_intact(n) ||
            RFSTAT_OFF_DESCR + (size_t) n * sizeof(struct prin_fulldescr) > resp_size)
                return -E2BIG;

        for (uint32_t j = 0; j < n; j++) {
                struct prin_fulldescr d;
                uint8_t desc[24 + 4 + 260];
                int tl;

                memcpy(&d, base + RFSTAT_OFF_DESCR + (size_t) j * sizeof d, sizeof d);
                memset(desc, 0, 24);
                tl = encode_transport_id(&d.trnptid, desc + 24);
                if (tl < 0)
                        return tl;
                memcpy(desc, d.key, 8);
                desc[12] = d.flag;              /* ALL_TG_PT, R_HOLDER: the device's byte */
                desc[13] = d.scope_type;
                proto_put_be16(desc + 18, d.rtpi);      /* converted to host order by the library */
                proto_put_be32(desc + 20, (uint32_t) tl);
                put_bytes(out, out_size, pos, desc, 24 + (size_t) tl);
                pos += 24 + (size_t) tl;
                total += 24 + (size_t) tl;
        }

        /* Like a device, report the full length even when the list is cut at the buffer's end. */
        proto_put_be32(hdr, generation);
        proto_put_be32(hdr + 4, (uint32_t) total);
        put_bytes(out, out_size, 0, hdr, sizeof hdr);
        return (int) MIN(pos, out_size);
}

int mpath_prin_encode(int sa, const void *resp, size_t resp_size, uint8_t *out, size_t out_size) {
        memset(out, 0, out_size);

        switch (sa) {
        case MPATH_PRIN_RKEY_SA:
        case MPATH_PRIN_RRES_SA:
                /* READ RESERVATION's descriptor is copied raw through the READ KEYS view, as the reference does. */
                return encode_keys_or_reservation(resp, resp_size, out, out_size);
        case MPATH_PRIN_RCAP_SA:
                return encode_capabilities(resp, resp_size, out, out_size);
        case MPATH_PRIN_RFSTAT_SA:
                return encode_full_status(resp, resp_size, out, out_size);
        default:
                return -EINVAL;
        }
}

/*
 * Parse the transport IDs of [PROUT_TID_HEADER_LEN, end) (end <= len
 * already checked).  All of them are validated; at most MPATH_MX_TIDS are
 * stored.  Returns the count, or -EINVAL for a malformed ID.
 */
static long parse_transport_ids(const uint8_t *data, uint32_t end, MpathProut *p) {
        uint32_t off = PROUT_TID_HEADER_LEN;
        long count = 0;

        while (off < end) {
                uint32_t left = end - off, l, need;
                uint8_t b0 = data[off];
                struct transportid t = {
                        .format_code = b0 & TID_FORMAT_MASK,
                        .protocol_id = b0 & TID_PROTOCOL_MASK,
                };

                switch (b0 & TID_KEY_MASK) {
                case MPATH_PROTOCOL_ID_FC:
                        if (left < TID_FIXED_LEN)
                                return -EINVAL;
                        memcpy(t.n_port_name, data + off + 8, 8);
                        need = TID_FIXED_LEN;
                        break;
                case MPATH_PROTOCOL_ID_SAS:
                        if (left < TID_FIXED_LEN)
                                return -EINVAL;
                        memcpy(t.sas_address, data + off + 4, 8);
                        need = TID_FIXED_LEN;
                        break;
                case MPATH_PROTOCOL_ID_ISCSI:
                case MPATH_WWUI_PORT_IDENTIFIER | MPATH_PROTOCOL_ID_ISCSI:
                        if (left < 4)
                                return -EINVAL;
                        l = proto_get_be16(data + off + 2);
                        if (l > TID_ISCSI_MAX_NAME || l % 4 != 0 || l > left - 4)
                                return -EINVAL;
                        if (!memchr(data + off + 4, 0, l))
                                return -EINVAL;
                        /* The two length bytes and the name, as the library's encoder expects. */
                        memcpy(t.iscsi_name, data + off + 2, l + 2);
                        need = 4 + l;
                        break;
                default:
                        /* Formats the library cannot encode (FC/SAS format 01, SRP, SBP, SOP, ...). */
                        return -EINVAL;
                }

                if (count < MPATH_MX_TIDS)
                        p->tids[count] = t;
                count++;
                off += need;
        }
        return count;
}

MpathVerdict mpath_prout_decode(const uint8_t cdb[16], const uint8_t *data, uint32_t len, MpathProut *ret,
                                ProtoSenseCode *ret_sense) {
        struct prout_param_descriptor *param;
        uint8_t b1 = cdb[1], flags;
        int sa;

        memset(ret, 0, sizeof *ret);
        param = mpath_prout_param(ret);

        if (len < PROUT_HEADER_LEN) {
                *ret_sense = SENSE_INVALID_PARAM_LEN;
                return MPATH_VERDICT_REJECT;
        }

        sa = b1 & PR_SA_MASK;
        if ((b1 & PR_SA_RESERVED_MASK) || sa > MPATH_PROUT_REG_IGN_SA) {
                /* Includes REGISTER AND MOVE and REPLACE LOST RESERVATION; see the header. */
                *ret_sense = SENSE_INVALID_FIELD;
                return MPATH_VERDICT_REJECT;
        }

        ret->service_action = sa;
        ret->scope = cdb[2] >> 4;
        ret->type = cdb[2] & MPATH_PR_TYPE_MASK;

        /* Keys stay raw big-endian bytes; the library sends the struct's first 24 bytes as they are. */
        memcpy(param->key, data, 8);
        memcpy(param->sa_key, data + 8, 8);
        flags = data[20];
        param->sa_flags = flags;

        if (!(flags & MPATH_F_SPEC_I_PT_MASK)) {
                if (len != PROUT_HEADER_LEN) {
                        *ret_sense = SENSE_INVALID_PARAM_LEN;
                        return MPATH_VERDICT_REJECT;
                }
                return MPATH_VERDICT_CALL;
        }

        if (sa != MPATH_PROUT_REG_SA) {
                *ret_sense = SENSE_INVALID_PARAM;
                return MPATH_VERDICT_REJECT;
        }
        if (len < PROUT_TID_HEADER_LEN) {
                *ret_sense = SENSE_INVALID_PARAM_LEN;
                return MPATH_VERDICT_REJECT;
        }

        uint64_t end = (uint64_t) proto_get_be32(data + PROUT_HEADER_LEN) + PROUT_TID_HEADER_LEN;
        if (end > len) {
                *ret_sense = SENSE_INVALID_PARAM;
                return MPATH_VERDICT_REJECT;
        }

        long n = parse_transport_ids(data, (uint32_t) end, ret);
        if (n < 0) {
                *ret_sense = SENSE_INVALID_PARAM;
                return MPATH_VERDICT_REJECT;
        }
        if (n > MPATH_MX_TIDS) {
                *ret_sense = SENSE_INSUFFICIENT_REGISTRATION_RESOURCES;
                return MPATH_VERDICT_REJECT;
        }

        ret->n_tids = (unsigned) n;
        param->num_transportid = (uint32_t) n;
        for (long i = 0; i < n; i++)
                param->trnptid_list[i] = &ret->tids[i];
        return MPATH_VERDICT_CALL;
}

bool mpath_result_from_code(int code, ProtoResult *ret) {
        proto_result_init(ret);

        switch (code) {
        case MPATH_PR_SUCCESS:
                return false;
        case MPATH_PR_SENSE_NOT_READY:
                proto_result_set_check(ret, SENSE_NOT_READY);
                return true;
        case MPATH_PR_SENSE_MEDIUM_ERROR:
                proto_result_set_check(ret, SENSE_READ_ERROR);
                return true;
        case MPATH_PR_SENSE_HARDWARE_ERROR:
                proto_result_set_check(ret, SENSE_TARGET_FAILURE);
                return true;
        case MPATH_PR_SENSE_ABORTED_COMMAND:
                proto_result_set_check(ret, SENSE_IO_ERROR);
                return true;
        case MPATH_PR_SENSE_UNIT_ATTENTION:
                proto_result_set_check(ret, SENSE_SCSI_BUS_RESET);
                return false;
        case MPATH_PR_SENSE_INVALID_OP:
                proto_result_set_check(ret, SENSE_INVALID_OPCODE);
                return false;
        case MPATH_PR_ILLEGAL_REQ:
                /* The library drops the device's ASC; the reference guesses this one. */
                proto_result_set_check(ret, SENSE_INVALID_PARAM);
                return false;
        case MPATH_PR_NO_SENSE:
                proto_result_set_check(ret, SENSE_NO_SENSE);
                return false;
        case MPATH_PR_RESERV_CONFLICT:
                ret->status = SCSI_STATUS_RESERVATION_CONFLICT;
                return false;
        default:
                /* SKIP, SYNTAX_ERROR, SENSE_MALFORMED, FILE/DMMP/THREAD_ERROR, OTHER, internal codes. */
                proto_result_set_check(ret, SENSE_LUN_COMM_FAILURE);
                return false;
        }
}

const char *mpath_prout_sa_name(int sa) {
        static const char *const names[] = {
                [MPATH_PROUT_REG_SA] = "REGISTER",
                [MPATH_PROUT_RES_SA] = "RESERVE",
                [MPATH_PROUT_REL_SA] = "RELEASE",
                [MPATH_PROUT_CLEAR_SA] = "CLEAR",
                [MPATH_PROUT_PREE_SA] = "PREEMPT",
                [MPATH_PROUT_PREE_AB_SA] = "PREEMPT AND ABORT",
                [MPATH_PROUT_REG_IGN_SA] = "REGISTER AND IGNORE EXISTING KEY",
                [MPATH_PROUT_REG_MOV_SA] = "REGISTER AND MOVE",
        };

        if (sa < 0 || (size_t) sa >= ELEMENTSOF(names) || !names[sa])
                return "unknown";
        return names[sa];
}
