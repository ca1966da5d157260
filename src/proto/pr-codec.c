/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PERSISTENT RESERVE IN/OUT codecs and SCSI texts; see pr-codec.h.
 * Layouts follow SPC-4 (6.13 PR IN, 6.14 PR OUT, 7.6.4 transport IDs).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pr-codec.h"
#include "scsi.h"
#include "wire.h"

#define PR_FULL_STATUS_DESC_SIZE 24u
#define TID_FIXED_SIZE 24u

void proto_pr_in_cdb(uint8_t cdb[PROTO_PR_CDB_SIZE], PrhInAction action, uint16_t alloc_len) {
        memset(cdb, 0, PROTO_PR_CDB_SIZE);
        cdb[0] = SCSI_OP_PR_IN;
        cdb[1] = (uint8_t) (action & 0x1f);
        proto_put_be16(cdb + 7, alloc_len);
}

int proto_tid_encode(const PrhTransportId *t, uint8_t *out, size_t size) {
        size_t n;

        switch (t->protocol) {
        case PRH_PROTO_FC:
        case PRH_PROTO_SAS:
                if (size < TID_FIXED_SIZE)
                        return -E2BIG;
                memset(out, 0, TID_FIXED_SIZE);
                out[0] = t->protocol;
                proto_put_be64(out + (t->protocol == PRH_PROTO_FC ? 8 : 4), t->port_name);
                return TID_FIXED_SIZE;
        case PRH_PROTO_ISCSI: {
                size_t name_len = strnlen(t->iscsi_name, sizeof(t->iscsi_name));
                size_t isid_len = strnlen(t->iscsi_isid, sizeof(t->iscsi_isid));
                size_t text;

                if (name_len == 0 || name_len >= PRH_ISCSI_NAME_MAX || t->format > 1 ||
                    isid_len >= sizeof(t->iscsi_isid) || (t->format == 1) != (isid_len > 0))
                        return -EINVAL;
                for (size_t i = 0; i < name_len; i++)
                        if (!isgraph((unsigned char) t->iscsi_name[i]) || t->iscsi_name[i] == ',')
                                return -EINVAL;
                for (size_t i = 0; i < isid_len; i++)
                        if (!isxdigit((unsigned char) t->iscsi_isid[i]))
                                return -EINVAL;
                /* Format 1 is "<name>,i,0x<ISID>"; the text is NUL-terminated and padded to a multiple of 4, >= 20. */
                text = name_len + (t->format == 1 ? 5 + isid_len : 0) + 1;
                n = (text + 3) & ~(size_t) 3;
                if (n < 20)
                        n = 20;
                /* A long name with a long ISID: nothing proto_tid_decode() (and so we) would read back. */
                if (4 + n > PRH_TID_MAX)
                        return -EINVAL;
                if (size < 4 + n)
                        return -E2BIG;
                memset(out, 0, 4 + n);
                out[0] = (uint8_t) ((t->format << 6) | PRH_PROTO_ISCSI);
                proto_put_be16(out + 2, (uint16_t) n);
                memcpy(out + 4, t->iscsi_name, name_len);
                if (t->format == 1) {
                        /* Wire bytes, not a C string: the memset above pads the field with NULs. */
                        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
                        memcpy(out + 4 + name_len, ",i,0x", 5);
                        memcpy(out + 4 + name_len + 5, t->iscsi_isid, isid_len);
                }
                return (int) (4 + n);
        }
        default:
                return -EINVAL;
        }
}

/* The ",i,0x" separator of format-1 iSCSI names within the first n bytes of s, or NULL. */
static const char *find_isid_sep(const char *s, size_t n) {
        for (size_t i = 0; i + 5 <= n; i++)
                if (strncasecmp(s + i, ",i,0x", 5) == 0)
                        return s + i;
        return NULL;
}

int proto_tid_decode(const uint8_t *in, size_t len, PrhTransportId *ret) {
        PrhTransportId t = {};
        size_t n;

        if (len < 4)
                return -EBADMSG;
        t.protocol = in[0] & 0x0f;
        t.format = (uint8_t) (in[0] >> 6);
        switch (t.protocol) {
        case PRH_PROTO_FC:
        case PRH_PROTO_SAS:
                if (len < TID_FIXED_SIZE || t.format != 0)
                        return -EBADMSG;
                n = TID_FIXED_SIZE;
                t.port_name = proto_get_be64(in + (t.protocol == PRH_PROTO_FC ? 8 : 4));
                break;
        case PRH_PROTO_ISCSI: {
                const char *text = (const char *) in + 4;
                size_t tlen, name_len;

                n = 4 + (size_t) proto_get_be16(in + 2);
                if (n > len || n > PRH_TID_MAX || t.format > 1)
                        return -EBADMSG;
                tlen = strnlen(text, n - 4);
                if (tlen == n - 4 || tlen == 0)
                        return -EBADMSG; /* not NUL-terminated inside its length, or empty */
                name_len = tlen;
                if (t.format == 1) {
                        const char *sep = find_isid_sep(text, tlen);
                        if (!sep)
                                return -EBADMSG;
                        name_len = (size_t) (sep - text);
                        size_t isid_len = tlen - name_len - 5;
                        if (isid_len >= sizeof(t.iscsi_isid))
                                return -EBADMSG;
                        memcpy(t.iscsi_isid, sep + 5, isid_len);
                }
                if (name_len == 0 || name_len >= PRH_ISCSI_NAME_MAX)
                        return -EBADMSG;
                /* Device-provided text ends up on terminals and in JSON: printable, no separators. */
                for (size_t i = 0; i < name_len; i++)
                        if (!isgraph((unsigned char) text[i]) || text[i] == ',')
                                return -EBADMSG;
                for (size_t i = 0; t.iscsi_isid[i]; i++)
                        if (!isxdigit((unsigned char) t.iscsi_isid[i]))
                                return -EBADMSG;
                if (t.format == 1 && !t.iscsi_isid[0])
                        return -EBADMSG;
                memcpy(t.iscsi_name, text, name_len);
                break;
        }
        default:
                return -EPROTONOSUPPORT;
        }
        t.raw_len = n;
        memcpy(t.raw, in, n);
        *ret = t;
        return (int) n;
}

static int parse_hex64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        size_t n = 0;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                s += 2;
        for (; *s; s++, n++) {
                int d;
                if (*s >= '0' && *s <= '9')
                        d = *s - '0';
                else if (*s >= 'a' && *s <= 'f')
                        d = *s - 'a' + 10;
                else if (*s >= 'A' && *s <= 'F')
                        d = *s - 'A' + 10;
                else
                        return -EINVAL;
                if (n >= 16)
                        return -EINVAL;
                v = (v << 4) | (uint64_t) d;
        }
        if (n == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_iscsi(const char *s, PrhTransportId *t) {
        const char *sep = find_isid_sep(s, strlen(s));
        size_t name_len = sep ? (size_t) (sep - s) : strlen(s);

        if (name_len == 0 || name_len >= PRH_ISCSI_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < name_len; i++)
                if (!isgraph((unsigned char) s[i]) || s[i] == ',')
                        return -EINVAL;
        t->protocol = PRH_PROTO_ISCSI;
        memcpy(t->iscsi_name, s, name_len);
        if (sep) {
                const char *isid = sep + 5;
                size_t l = strlen(isid);
                if (l == 0 || l >= sizeof(t->iscsi_isid))
                        return -EINVAL;
                for (size_t i = 0; i < l; i++)
                        if (!isxdigit((unsigned char) isid[i]))
                                return -EINVAL;
                memcpy(t->iscsi_isid, isid, l);
                t->format = 1;
        }
        return 0;
}

int proto_tid_parse(const char *s, PrhTransportId *ret) {
        PrhTransportId t = {};
        int r;

        if (!s)
                return -EINVAL;
        if (strncasecmp(s, "fc,", 3) == 0 || strncasecmp(s, "fcp,", 4) == 0) {
                t.protocol = PRH_PROTO_FC;
                r = parse_hex64(strchr(s, ',') + 1, &t.port_name);
        } else if (strncasecmp(s, "sas,", 4) == 0) {
                t.protocol = PRH_PROTO_SAS;
                r = parse_hex64(s + 4, &t.port_name);
        } else if (strncasecmp(s, "iscsi,", 6) == 0)
                r = parse_iscsi(s + 6, &t);
        else if (strncasecmp(s, "iqn.", 4) == 0 || strncasecmp(s, "eui.", 4) == 0 || strncasecmp(s, "naa.", 4) == 0)
                r = parse_iscsi(s, &t);
        else
                r = -EINVAL;
        if (r < 0)
                return r;
        /* Fill raw[] so that parsed and decoded IDs compare alike. */
        r = proto_tid_encode(&t, t.raw, sizeof(t.raw));
        if (r < 0)
                return r;
        t.raw_len = (size_t) r;
        *ret = t;
        return 0;
}

int proto_tid_format(const PrhTransportId *t, char *buf, size_t size) {
        switch (t->protocol) {
        case PRH_PROTO_FC:
                return snprintf(buf, size, "fc,0x%016llx", (unsigned long long) t->port_name);
        case PRH_PROTO_SAS:
                return snprintf(buf, size, "sas,0x%016llx", (unsigned long long) t->port_name);
        case PRH_PROTO_ISCSI:
                if (t->format == 1)
                        return snprintf(buf, size, "iscsi,%.*s,i,0x%.*s", (int) PRH_ISCSI_NAME_MAX, t->iscsi_name,
                                        (int) sizeof(t->iscsi_isid), t->iscsi_isid);
                return snprintf(buf, size, "iscsi,%.*s", (int) PRH_ISCSI_NAME_MAX, t->iscsi_name);
        default:
                return snprintf(buf, size, "protocol-0x%x", t->protocol);
        }
}

int proto_pr_out_encode(PrhOutAction action, const PrhOutParams *p, uint8_t cdb[PROTO_PR_CDB_SIZE], uint8_t *param,
                        size_t param_size) {
        size_t len = PRH_PR_OUT_HEADER_SIZE, limit = param_size < PRH_DATA_SIZE ? param_size : PRH_DATA_SIZE;
        bool move = action == PRH_OUT_REGISTER_AND_MOVE;
        int r;

        if ((unsigned) action > PRH_OUT_REPLACE_LOST || p->scope > 0xf || p->type > 0xf)
                return -EINVAL;
        if (p->flags & ~(PRH_FLAG_APTPL | PRH_FLAG_ALL_TG_PT | PRH_FLAG_SPEC_I_PT | PRH_FLAG_UNREG))
                return -EINVAL;
        if (move ? (p->n_tids != 1 || (p->flags & (PRH_FLAG_ALL_TG_PT | PRH_FLAG_SPEC_I_PT)))
                 : ((p->n_tids > 0 && !(p->flags & PRH_FLAG_SPEC_I_PT)) || (p->flags & PRH_FLAG_UNREG)))
                return -EINVAL;
        if (p->n_tids > 0 && !p->tids)
                return -EINVAL;
        if (limit < PRH_PR_OUT_HEADER_SIZE)
                return -E2BIG;

        memset(param, 0, PRH_PR_OUT_HEADER_SIZE);
        proto_put_be64(param, p->key);
        proto_put_be64(param + 8, p->sa_key);
        if (move) {
                param[17] =
                        (uint8_t) (((p->flags & PRH_FLAG_UNREG) ? 0x02 : 0) | ((p->flags & PRH_FLAG_APTPL) ? 0x01 : 0));
                proto_put_be16(param + 18, p->rel_tgt_port);
        } else
                param[20] = (uint8_t) (((p->flags & PRH_FLAG_SPEC_I_PT) ? 0x08 : 0) |
                                       ((p->flags & PRH_FLAG_ALL_TG_PT) ? 0x04 : 0) |
                                       ((p->flags & PRH_FLAG_APTPL) ? 0x01 : 0));

        /* REGISTER AND MOVE: TransportID length at 20-23; SPEC_I_PT: a 4-byte length at 24-27 before the IDs. */
        if (move || (p->flags & PRH_FLAG_SPEC_I_PT)) {
                size_t len_at = move ? 20 : 24, start;
                if (!move) {
                        if (limit < 28)
                                return -E2BIG;
                        memset(param + 24, 0, 4);
                        len = 28;
                }
                start = len;
                for (size_t i = 0; i < p->n_tids; i++) {
                        r = proto_tid_encode(&p->tids[i], param + len, limit - len);
                        if (r < 0)
                                return r;
                        len += (size_t) r;
                }
                proto_put_be32(param + len_at, (uint32_t) (len - start));
        }

        memset(cdb, 0, PROTO_PR_CDB_SIZE);
        cdb[0] = SCSI_OP_PR_OUT;
        cdb[1] = (uint8_t) (action & 0x1f);
        cdb[2] = (uint8_t) ((p->scope << 4) | p->type);
        /* SPC's 32-bit length in 5-8; len <= 8192 keeps 5-6 zero, which is all QEMU reads (7-8). */
        proto_put_be32(cdb + 5, (uint32_t) len);
        return (int) len;
}

int proto_pr_decode_keys(const uint8_t *in, size_t len, PrhKeys *ret) {
        size_t avail, n;

        if (len < 8)
                return -EBADMSG;
        ret->generation = proto_get_be32(in);
        ret->additional_length = proto_get_be32(in + 4);
        avail = len - 8;
        n = ret->additional_length < avail ? ret->additional_length : avail;
        n /= 8;
        if (n > PRH_MAX_KEYS)
                n = PRH_MAX_KEYS;
        ret->truncated = ret->additional_length > n * 8;
        ret->n_keys = n;
        for (size_t i = 0; i < n; i++)
                ret->keys[i] = proto_get_be64(in + 8 + 8 * i);
        return 0;
}

int proto_pr_decode_reservation(const uint8_t *in, size_t len, PrhReservation *ret) {
        PrhReservation res = {};
        uint32_t addl;

        if (len < 8)
                return -EBADMSG;
        res.generation = proto_get_be32(in);
        addl = proto_get_be32(in + 4);
        if (addl != 0) {
                /* One reservation descriptor of 16 bytes; anything shorter cannot be interpreted. */
                if (addl < 16 || len < 24)
                        return -EBADMSG;
                res.reserved = true;
                res.key = proto_get_be64(in + 8);
                res.scope = in[21] >> 4;
                res.type = in[21] & 0x0f;
        }
        *ret = res;
        return 0;
}

int proto_pr_decode_capabilities(const uint8_t *in, size_t len, PrhCapabilities *ret) {
        PrhCapabilities c = {};

        if (len < 6)
                return -EBADMSG;
        c.length = proto_get_be16(in);
        if (c.length < 6)
                return -EBADMSG;
        c.rlr_c = in[2] & 0x80;
        c.crh = in[2] & 0x10;
        c.sip_c = in[2] & 0x08;
        c.atp_c = in[2] & 0x04;
        c.ptpl_c = in[2] & 0x01;
        c.tmv = in[3] & 0x80;
        c.allow_commands = (in[3] >> 4) & 0x07;
        c.ptpl_a = in[3] & 0x01;
        /* Byte 4 bit N is type N (1..7), byte 5 bit 0 is type 8: a little-endian 16-bit mask. */
        c.type_mask = (uint16_t) (in[4] | (in[5] << 8));
        *ret = c;
        return 0;
}

int proto_pr_decode_full_status(const uint8_t *in, size_t len, PrhFullStatus *ret, PrhFullStatusEntry *entries,
                                size_t max_entries) {
        size_t off = 8, end, n = 0;

        if (len < 8)
                return -EBADMSG;
        ret->generation = proto_get_be32(in);
        ret->additional_length = proto_get_be32(in + 4);
        ret->truncated = false;
        end = len - 8 < ret->additional_length ? len : 8 + (size_t) ret->additional_length;
        if (end < 8 + (size_t) ret->additional_length)
                ret->truncated = true;

        while (off < end) {
                const uint8_t *d = in + off;
                size_t dlen;

                if (end - off < PR_FULL_STATUS_DESC_SIZE) {
                        ret->truncated = true;
                        break;
                }
                dlen = proto_get_be32(d + 20);
                if (dlen > end - off - PR_FULL_STATUS_DESC_SIZE) {
                        ret->truncated = true;
                        break;
                }
                if (n == max_entries) {
                        ret->truncated = true;
                        break;
                }

                PrhFullStatusEntry *e = &entries[n++];
                memset(e, 0, sizeof(*e));
                e->key = proto_get_be64(d);
                e->all_tg_pt = d[12] & 0x02;
                e->holder = d[12] & 0x01;
                e->scope = d[13] >> 4;
                e->type = d[13] & 0x0f;
                e->rel_tgt_port = proto_get_be16(d + 18);
                e->tid_valid = proto_tid_decode(d + 24, dlen, &e->tid) > 0;
                if (!e->tid_valid) {
                        e->tid.protocol = dlen > 0 ? d[24] & 0x0f : 0;
                        e->tid.format = dlen > 0 ? (uint8_t) (d[24] >> 6) : 0;
                        e->tid.raw_len = dlen < PRH_TID_MAX ? dlen : PRH_TID_MAX;
                        memcpy(e->tid.raw, d + 24, e->tid.raw_len);
                }
                off += PR_FULL_STATUS_DESC_SIZE + dlen;
        }
        ret->n_entries = n;
        return (int) n;
}

const char *proto_status_name(int status) {
        switch (status) {
        case 0x00:
                return "GOOD";
        case 0x02:
                return "CHECK CONDITION";
        case 0x04:
                return "CONDITION MET";
        case 0x08:
                return "BUSY";
        case 0x18:
                return "RESERVATION CONFLICT";
        case 0x28:
                return "TASK SET FULL";
        case 0x30:
                return "ACA ACTIVE";
        case 0x40:
                return "TASK ABORTED";
        default:
                return "UNKNOWN STATUS";
        }
}

const char *proto_sense_key_name(uint8_t key) {
        static const char *const names[16] = {
                "NO SENSE",       "RECOVERED ERROR", "NOT READY",      "MEDIUM ERROR",
                "HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
                "BLANK CHECK",    "VENDOR SPECIFIC", "COPY ABORTED",   "ABORTED COMMAND",
                "RESERVED",       "VOLUME OVERFLOW", "MISCOMPARE",     "COMPLETED",
        };
        return names[key & 0x0f];
}

static const struct {
        uint8_t asc, ascq;
        const char *text;
} asc_table[] = {
        {0x00, 0x00, "no additional sense information"},
        {0x00, 0x06, "I/O process terminated"},
        {0x04, 0x00, "logical unit not ready, cause not reportable"},
        {0x04, 0x01, "logical unit is in process of becoming ready"},
        {0x04, 0x02, "logical unit not ready, initializing command required"},
        {0x04, 0x03, "logical unit not ready, manual intervention required"},
        {0x04, 0x0a, "logical unit not accessible, asymmetric access state transition"},
        {0x04, 0x0b, "logical unit not accessible, target port in standby state"},
        {0x04, 0x0c, "logical unit not accessible, target port in unavailable state"},
        {0x05, 0x00, "logical unit does not respond to selection"},
        {0x08, 0x00, "logical unit communication failure"},
        {0x11, 0x00, "unrecovered read error"},
        {0x1a, 0x00, "parameter list length error"},
        {0x20, 0x00, "invalid command operation code"},
        {0x24, 0x00, "invalid field in CDB"},
        {0x25, 0x00, "logical unit not supported"},
        {0x26, 0x00, "invalid field in parameter list"},
        {0x26, 0x01, "parameter not supported"},
        {0x26, 0x02, "parameter value invalid"},
        {0x27, 0x07, "space allocation failed write protect"},
        {0x29, 0x00, "power on, reset, or bus device reset occurred"},
        {0x29, 0x01, "power on occurred"},
        {0x29, 0x02, "SCSI bus reset occurred"},
        {0x29, 0x03, "bus device reset function occurred"},
        {0x29, 0x07, "I_T nexus loss occurred"},
        {0x2a, 0x01, "mode parameters changed"},
        {0x2a, 0x03, "reservations preempted"},
        {0x2a, 0x04, "reservations released"},
        {0x2a, 0x05, "registrations preempted"},
        {0x2a, 0x06, "asymmetric access state changed"},
        {0x2e, 0x02, "command timeout during processing"},
        {0x2f, 0x00, "commands cleared by another initiator"},
        {0x2f, 0x02, "commands cleared by device server"},
        {0x3a, 0x00, "medium not present"},
        {0x3f, 0x0e, "reported LUNs data has changed"},
        {0x44, 0x00, "internal target failure"},
        {0x55, 0x02, "insufficient reservation resources"},
        {0x55, 0x03, "insufficient resources"},
        {0x55, 0x04, "insufficient registration resources"},
};

const char *proto_asc_text(uint8_t asc, uint8_t ascq) {
        for (size_t i = 0; i < sizeof(asc_table) / sizeof(asc_table[0]); i++)
                if (asc_table[i].asc == asc && asc_table[i].ascq == ascq)
                        return asc_table[i].text;
        return NULL;
}

const char *proto_pr_type_name(uint8_t type) {
        switch (type) {
        case PRH_TYPE_WRITE_EXCLUSIVE:
                return "Write Exclusive";
        case PRH_TYPE_EXCLUSIVE_ACCESS:
                return "Exclusive Access";
        case PRH_TYPE_WRITE_EXCLUSIVE_RO:
                return "Write Exclusive, registrants only";
        case PRH_TYPE_EXCLUSIVE_ACCESS_RO:
                return "Exclusive Access, registrants only";
        case PRH_TYPE_WRITE_EXCLUSIVE_AR:
                return "Write Exclusive, all registrants";
        case PRH_TYPE_EXCLUSIVE_ACCESS_AR:
                return "Exclusive Access, all registrants";
        default:
                return "obsolete or reserved type";
        }
}

const char *proto_pr_in_action_name(PrhInAction a) {
        switch (a) {
        case PRH_IN_READ_KEYS:
                return "READ KEYS";
        case PRH_IN_READ_RESERVATION:
                return "READ RESERVATION";
        case PRH_IN_REPORT_CAPABILITIES:
                return "REPORT CAPABILITIES";
        case PRH_IN_READ_FULL_STATUS:
                return "READ FULL STATUS";
        default:
                return "unknown PR IN service action";
        }
}

const char *proto_pr_out_action_name(PrhOutAction a) {
        switch (a) {
        case PRH_OUT_REGISTER:
                return "REGISTER";
        case PRH_OUT_RESERVE:
                return "RESERVE";
        case PRH_OUT_RELEASE:
                return "RELEASE";
        case PRH_OUT_CLEAR:
                return "CLEAR";
        case PRH_OUT_PREEMPT:
                return "PREEMPT";
        case PRH_OUT_PREEMPT_AND_ABORT:
                return "PREEMPT AND ABORT";
        case PRH_OUT_REGISTER_AND_IGNORE:
                return "REGISTER AND IGNORE EXISTING KEY";
        case PRH_OUT_REGISTER_AND_MOVE:
                return "REGISTER AND MOVE";
        case PRH_OUT_REPLACE_LOST:
                return "REPLACE LOST RESERVATION";
        default:
                return "unknown PR OUT service action";
        }
}

PrhSense proto_sense_decode(const uint8_t *sense, size_t len) {
        ProtoSenseInfo i = proto_sense_parse(sense, len > UINT32_MAX ? UINT32_MAX : (uint32_t) len);

        return (PrhSense){.valid = i.valid, .descriptor = i.descriptor, .key = i.key, .asc = i.asc, .ascq = i.ascq};
}

int proto_sense_describe(const uint8_t *sense, size_t len, char *buf, size_t size) {
        PrhSense s = proto_sense_decode(sense, len);
        const char *t;

        if (!s.valid)
                return snprintf(buf, size, "no valid sense data");
        t = proto_asc_text(s.asc, s.ascq);
        if (t)
                return snprintf(buf, size, "%s: %s (asc 0x%02x, ascq 0x%02x)", proto_sense_key_name(s.key), t, s.asc,
                                s.ascq);
        return snprintf(buf, size, "%s: asc 0x%02x, ascq 0x%02x", proto_sense_key_name(s.key), s.asc, s.ascq);
}
