/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the libmpathpersist translation in both directions: CDB
 * and parameter-list validation (short lists, bad transport-ID lengths,
 * 100 transport IDs), the library structures we fill, the SPC-4 data we
 * rebuild from the library's responses, and the return-code table.
 * Every input sits against an unmapped page, so an over-read faults.
 */
#include <errno.h>
#include <stddef.h>

#include "macro.h"
#include "mpath-translate.h"
#include "tests.h"
#include "wire.h"

static void check_sense_code(ProtoSenseCode got, ProtoSenseCode want) {
        CHECK_EQ(got.key, want.key);
        CHECK_EQ(got.asc, want.asc);
        CHECK_EQ(got.ascq, want.ascq);
}

static void cdb_init(uint8_t cdb[16], uint8_t op, uint8_t b1, uint8_t b2, uint16_t len) {
        memset(cdb, 0, 16);
        cdb[0] = op;
        cdb[1] = b1;
        cdb[2] = b2;
        proto_put_be16(cdb + 7, len);
}

/* ---- PR IN ---- */

static void test_prin_decode(void) {
        uint8_t cdb[16];
        ProtoSenseCode s = {};
        int sa = -1;

        for (int i = 0; i <= 3; i++) {
                cdb_init(cdb, SCSI_OP_PR_IN, (uint8_t) i, 0, 8192);
                uint8_t *g = guarded_copy(cdb, 16);
                CHECK_EQ(mpath_prin_decode(g, &sa, &s), MPATH_VERDICT_CALL);
                CHECK_EQ(sa, i);
                guarded_free(g, 16);
        }
        static const uint8_t bad[] = { 0x04, 0x1f, 0x20, 0x23, 0x80, 0xff };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                cdb_init(cdb, SCSI_OP_PR_IN, bad[i], 0, 8192);
                sa = -1;
                CHECK_EQ(mpath_prin_decode(cdb, &sa, &s), MPATH_VERDICT_REJECT);
                CHECK_EQ(sa, -1);
                check_sense_code(s, SENSE_INVALID_FIELD);
        }
}

static void test_prin_read_keys(void) {
        struct prin_resp resp = {};
        uint8_t out[PRH_DATA_SIZE];

        resp.prin_descriptor.prin_readkeys.prgeneration = 0x01020304;   /* host order, as the library leaves it */
        resp.prin_descriptor.prin_readkeys.additional_length = 16;
        for (int i = 0; i < 16; i++)
                resp.prin_descriptor.prin_readkeys.key_list[i] = (uint8_t) (0xa0 + i);
        resp.prin_descriptor.prin_readkeys.key_list[16] = 0x55;        /* beyond the length: not copied */

        void *g = guarded_copy(&resp, sizeof resp);
        memset(out, 0xee, sizeof out);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RKEY_SA, g, sizeof resp, out, sizeof out), 24);
        const uint8_t want[] = { 1, 2, 3, 4, 0, 0, 0, 16 };
        CHECK_MEM(out, want, 8);
        for (int i = 0; i < 16; i++)
                CHECK_EQ(out[8 + i], 0xa0 + i);
        CHECK_EQ(out[24], 0);
        CHECK_EQ(out[PRH_DATA_SIZE - 1], 0);
        guarded_free(g, sizeof resp);

        /* A device claiming ~4 GiB of keys: no wrap, no over-read, length reported as is. */
        resp.prin_descriptor.prin_readkeys.additional_length = 0xfffffff8u;
        memset(resp.prin_descriptor.prin_readkeys.key_list, 0x11, sizeof resp.prin_descriptor.prin_readkeys.key_list);
        g = guarded_copy(&resp, sizeof resp);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RKEY_SA, g, sizeof resp, out, sizeof out), PRH_DATA_SIZE);
        CHECK_EQ(proto_get_be32(out + 4), 0xfffffff8u);
        CHECK_EQ(out[PRH_DATA_SIZE - 1], 0x11);
        guarded_free(g, sizeof resp);

        /* Output smaller than the data: cut, never overrun. */
        uint8_t *small = guarded_copy(out, 12);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RKEY_SA, &resp, sizeof resp, small, 12), 12);
        CHECK_EQ(proto_get_be32(small + 4), 0xfffffff8u);
        guarded_free(small, 12);
}

static void test_prin_read_reservation(void) {
        struct prin_resp resp = {};
        uint8_t out[PRH_DATA_SIZE];
        struct prin_resvdescr *r = &resp.prin_descriptor.prin_readresv;

        r->prgeneration = 7;
        r->additional_length = 16;
        memcpy(r->key, "\x00\x00\x00\x00\x00\x00\x12\x34", 8);
        r->scope_type = 0x01;   /* LU scope, Write Exclusive */
        void *g = guarded_copy(&resp, sizeof resp);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RRES_SA, g, sizeof resp, out, sizeof out), 24);
        const uint8_t want[24] = { 0, 0, 0, 7, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0x01, 0, 0 };
        CHECK_MEM(out, want, 24);
        guarded_free(g, sizeof resp);

        /* No reservation. */
        memset(&resp, 0, sizeof resp);
        r->prgeneration = 9;
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RRES_SA, &resp, sizeof resp, out, sizeof out), 8);
        const uint8_t none[8] = { 0, 0, 0, 9, 0, 0, 0, 0 };
        CHECK_MEM(out, none, 8);
}

static void test_prin_capabilities(void) {
        struct prin_resp resp = {};
        uint8_t out[PRH_DATA_SIZE];
        struct prin_capdescr *c = &resp.prin_descriptor.prin_readcap;

        c->length = 8;
        c->flags[0] = 0x1d;     /* CRH SIP_C ATP_C PTPL_C */
        c->flags[1] = 0x81;     /* TMV, PTPL_A */
        c->pr_type_mask = 0xea01;
        void *g = guarded_copy(&resp, sizeof(struct prin_capdescr));
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RCAP_SA, g, sizeof(struct prin_capdescr), out, sizeof out), 8);
        const uint8_t want[8] = { 0x00, 0x08, 0x1d, 0x81, 0xea, 0x01, 0x00, 0x00 };
        CHECK_MEM(out, want, 8);
        guarded_free(g, sizeof(struct prin_capdescr));

        CHECK_EQ(mpath_prin_encode(9, &resp, sizeof resp, out, sizeof out), -EINVAL);
}

/* ---- READ FULL STATUS ---- */

/*
 * Model of the library's decoded READ FULL STATUS: it stores descriptor k
 * at private_buffer + k * sizeof(struct prin_fulldescr) and then a pointer
 * to it in descriptors[k], past the union.  Stores happen in that order, so
 * the model also reproduces the overlap of the two areas.
 */
static void model_store(uint8_t *resp, uint32_t k, const struct prin_fulldescr *d) {
        uint8_t *slot = resp + offsetof(struct print_fulldescr_list, private_buffer) + (size_t) k * sizeof *d;
        void *ptr = slot;

        memcpy(slot, d, sizeof *d);
        memcpy(resp + offsetof(struct print_fulldescr_list, descriptors) + (size_t) k * sizeof ptr, &ptr, sizeof ptr);
}

static void model_header(uint8_t *resp, uint32_t generation, uint32_t n) {
        memcpy(resp + offsetof(struct print_fulldescr_list, prgeneration), &generation, 4);
        memcpy(resp + offsetof(struct print_fulldescr_list, number_of_descriptor), &n, 4);
}

static struct prin_fulldescr sas_descr(uint32_t i) {
        struct prin_fulldescr d = {};

        proto_put_be64(d.key, 0x1000 + i);
        d.flag = i == 0 ? 0x01 : 0x00;         /* first one holds the reservation */
        d.scope_type = i == 0 ? 0x05 : 0x00;
        d.rtpi = (uint16_t) (i + 1);
        d.trnptid.format_code = 0;
        d.trnptid.protocol_id = MPATH_PROTOCOL_ID_SAS;
        proto_put_be64(d.trnptid.sas_address, 0x5001405000000000ull + i);
        return d;
}

static void check_sas_wire(const uint8_t *p, uint32_t i) {
        CHECK_EQ(proto_get_be64(p), 0x1000 + i);
        CHECK_EQ(proto_get_be32(p + 8), 0);
        CHECK_EQ(p[12], i == 0 ? 0x01 : 0x00);
        CHECK_EQ(p[13], i == 0 ? 0x05 : 0x00);
        CHECK_EQ(proto_get_be32(p + 14), 0);
        CHECK_EQ(proto_get_be16(p + 18), i + 1);
        CHECK_EQ(proto_get_be32(p + 20), 24);
        CHECK_EQ(p[24], 0x06);
        CHECK_EQ(proto_get_be64(p + 28), 0x5001405000000000ull + i);
        CHECK_EQ(proto_get_be32(p + 36), 0);
}

static void test_rfstat_basic(void) {
        uint8_t *resp = calloc(1, MPATH_PRIN_RESP_SIZE);
        uint8_t out[PRH_DATA_SIZE];
        struct prin_fulldescr d;

        /* Two SAS registrations (tcm_loop naa. initiators), one iSCSI, one FC. */
        model_header(resp, 0x42, 4);
        d = sas_descr(0);
        model_store(resp, 0, &d);
        d = sas_descr(1);
        model_store(resp, 1, &d);

        memset(&d, 0, sizeof d);
        proto_put_be64(d.key, 0xabc);
        d.flag = 0x02;          /* ALL_TG_PT */
        d.rtpi = 3;
        d.trnptid.format_code = 1;      /* the library's shifted form of 01b */
        d.trnptid.protocol_id = MPATH_PROTOCOL_ID_ISCSI;
        snprintf((char *) d.trnptid.iscsi_name, sizeof d.trnptid.iscsi_name, "%s", "iqn.1994-05.com.example:a,i,0x23d000000001");
        model_store(resp, 2, &d);

        memset(&d, 0, sizeof d);
        proto_put_be64(d.key, 0xdef);
        d.trnptid.protocol_id = MPATH_PROTOCOL_ID_FC;
        proto_put_be64(d.trnptid.n_port_name, 0x2100001b32000001ull);
        model_store(resp, 3, &d);

        void *g = guarded_copy(resp, MPATH_PRIN_RESP_SIZE);
        size_t name_len = strlen("iqn.1994-05.com.example:a,i,0x23d000000001");     /* 43 -> 44 with NUL */
        size_t total = 48 + 48 + (24 + 4 + 44) + 48;
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RFSTAT_SA, g, MPATH_PRIN_RESP_SIZE, out, sizeof out), 8 + total);
        CHECK_EQ(proto_get_be32(out), 0x42);
        CHECK_EQ(proto_get_be32(out + 4), total);
        check_sas_wire(out + 8, 0);
        check_sas_wire(out + 56, 1);

        const uint8_t *p = out + 104;
        CHECK_EQ(proto_get_be64(p), 0xabc);
        CHECK_EQ(p[12], 0x02);
        CHECK_EQ(proto_get_be16(p + 18), 3);
        CHECK_EQ(proto_get_be32(p + 20), 4 + 44);
        CHECK_EQ(p[24], 0x45);
        CHECK_EQ(proto_get_be16(p + 26), 44);
        CHECK_MEM(p + 28, "iqn.1994-05.com.example:a,i,0x23d000000001", name_len + 1);

        p += 24 + 48;
        CHECK_EQ(proto_get_be64(p), 0xdef);
        CHECK_EQ(proto_get_be32(p + 20), 24);
        CHECK_EQ(p[24], 0x00);
        CHECK_EQ(proto_get_be64(p + 32), 0x2100001b32000001ull);
        CHECK_EQ(p[47], 0);
        guarded_free(g, MPATH_PRIN_RESP_SIZE);

        /* Short iSCSI names are padded to the SPC-4 minimum of 20. */
        memset(resp, 0, MPATH_PRIN_RESP_SIZE);
        model_header(resp, 1, 1);
        memset(&d, 0, sizeof d);
        d.trnptid.protocol_id = MPATH_PROTOCOL_ID_ISCSI;
        snprintf((char *) d.trnptid.iscsi_name, sizeof d.trnptid.iscsi_name, "%s", "iqn.x");
        model_store(resp, 0, &d);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RFSTAT_SA, resp, MPATH_PRIN_RESP_SIZE, out, sizeof out), 8 + 24 + 24);
        CHECK_EQ(proto_get_be32(out + 4), 48);
        CHECK_EQ(proto_get_be16(out + 8 + 26), 20);

        /* Empty list. */
        memset(resp, 0, MPATH_PRIN_RESP_SIZE);
        model_header(resp, 5, 0);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RFSTAT_SA, resp, MPATH_PRIN_RESP_SIZE, out, sizeof out), 8);
        const uint8_t empty[8] = { 0, 0, 0, 5, 0, 0, 0, 0 };
        CHECK_MEM(out, empty, 8);

        /* A protocol the library's decoder drops (SRP = 4): not representable. */
        model_header(resp, 5, 1);
        memset(&d, 0, sizeof d);
        d.trnptid.protocol_id = 4;
        model_store(resp, 0, &d);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RFSTAT_SA, resp, MPATH_PRIN_RESP_SIZE, out, sizeof out),
                 -EPROTONOSUPPORT);

        /* Response buffer too small for the claimed count. */
        model_header(resp, 5, 2);
        CHECK_EQ(mpath_prin_encode(MPATH_PRIN_RFSTAT_SA, resp, 300, out, sizeof out), -E2BIG);
        free(resp);
}

/* The overlap analysis agrees with a simulation of the library's stores, for every possible count. */
static void test_rfstat_overlap(void) {
        uint8_t *resp = malloc(MPATH_PRIN_RESP_SIZE);
        uint8_t out[PRH_DATA_SIZE];
        uint32_t last_intact = 0;

        for (uint32_t n = 1; n <= MPATH_RFSTAT_MAX_DESCRIPTORS; n++) {
                bool all_intact = true;

                memset(resp, 0, MPATH_PRIN_RESP_SIZE);
                model_header(resp, 1, n);
                for (uint32_t k = 0; k < n; k++) {
                        struct prin_fulldescr d = sas_descr(k);
                        memset(d.trnptid.iscsi_name + 8, 0x5a, sizeof d.trnptid.iscsi_name - 8);
                        model_store(resp, k, &d);
                }
                for (uint32_t k = 0; k < n && all_intact; k++) {
                        struct prin_fulldescr d = sas_descr(k);
                        memset(d.trnptid.iscsi_name + 8, 0x5a, sizeof d.trnptid.iscsi_name - 8);
                        /* Both sides start from a zeroed struct; the byte image is what the library keeps. */
                        /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c) */
                        all_intact = memcmp(resp + offsetof(struct print_fulldescr_list, private_buffer) +
                                                    (size_t) k * sizeof d,
                                            &d, sizeof d) == 0;
                }
                CHECK_EQ(mpath_rfstat_intact(n), all_intact);
                if (all_intact)
                        last_intact = n;

                int r = mpath_prin_encode(MPATH_PRIN_RFSTAT_SA, resp, MPATH_PRIN_RESP_SIZE, out, sizeof out);
                if (all_intact) {
                        CHECK_EQ(r, MIN(8 + 48 * n, PRH_DATA_SIZE));
                        CHECK_EQ(proto_get_be32(out + 4), 48 * n);
                        for (uint32_t k = 0; k < n && 8 + 48 * (k + 1) <= PRH_DATA_SIZE; k++)
                                check_sas_wire(out + 8 + (size_t) 48 * k, k);
                } else
                        CHECK_EQ(r, -E2BIG);
        }
        /* 30 descriptors fit in private_buffer; the 31st overlaps only stale pointers. */
        CHECK_EQ(last_intact, 31);
        CHECK(!mpath_rfstat_intact(32));
        CHECK(!mpath_rfstat_intact(MPATH_RFSTAT_MAX_DESCRIPTORS + 1));
        free(resp);
}

/* ---- PR OUT ---- */

typedef struct Prout {
        MpathVerdict verdict;
        ProtoSenseCode sense;
        MpathProut p;
} Prout;

static Prout *prout_run(uint8_t sa_byte, uint8_t scope_type, const uint8_t *data, uint32_t len) {
        static Prout res;
        uint8_t cdb[16];

        cdb_init(cdb, SCSI_OP_PR_OUT, sa_byte, scope_type, (uint16_t) len);
        uint8_t *gc = guarded_copy(cdb, 16);
        uint8_t *gd = guarded_copy(data, len);
        memset(&res, 0xa5, sizeof res);
        res.verdict = mpath_prout_decode(gc, len ? gd : NULL, len, &res.p, &res.sense);
        guarded_free(gd, len);
        guarded_free(gc, 16);
        return &res;
}

static void check_reject(const Prout *r, ProtoSenseCode want) {
        CHECK_EQ(r->verdict, MPATH_VERDICT_REJECT);
        check_sense_code(r->sense, want);
}

static void header(uint8_t *d, uint64_t key, uint64_t sa_key, uint8_t flags) {
        memset(d, 0, 24);
        proto_put_be64(d, key);
        proto_put_be64(d + 8, sa_key);
        d[20] = flags;
}

static void test_prout_basic(void) {
        uint8_t d[64];
        Prout *r;

        header(d, 0, 0x123456789abcdef0ull, 0x05);     /* ALL_TG_PT | APTPL */
        d[16] = 0xff;                                   /* obsolete bytes are dropped */
        r = prout_run(MPATH_PROUT_REG_SA, 0x00, d, 24);
        CHECK_EQ(r->verdict, MPATH_VERDICT_CALL);
        CHECK_EQ(r->p.service_action, MPATH_PROUT_REG_SA);
        struct prout_param_descriptor *pp = mpath_prout_param(&r->p);
        CHECK_EQ(proto_get_be64(pp->key), 0);
        CHECK_EQ(proto_get_be64(pp->sa_key), 0x123456789abcdef0ull);
        CHECK_EQ(pp->sa_flags, 0x05);
        CHECK_EQ(pp->_obsolete, 0);
        CHECK_EQ(pp->num_transportid, 0);
        CHECK_EQ(r->p.n_tids, 0);

        header(d, 0xaa, 0xbb, 0);
        r = prout_run(MPATH_PROUT_PREE_SA, 0x03, d, 24);
        CHECK_EQ(r->verdict, MPATH_VERDICT_CALL);
        CHECK_EQ(r->p.service_action, MPATH_PROUT_PREE_SA);
        CHECK_EQ(r->p.scope, 0);
        CHECK_EQ(r->p.type, 3);
        r = prout_run(MPATH_PROUT_RES_SA, 0x25, d, 24);
        CHECK_EQ(r->p.scope, 2);
        CHECK_EQ(r->p.type, 5);

        for (int sa = 0; sa <= 6; sa++)
                CHECK_EQ(prout_run((uint8_t) sa, 1, d, 24)->verdict, MPATH_VERDICT_CALL);
}

static void test_prout_short_and_bad_cdb(void) {
        uint8_t d[64] = {};

        /* Short parameter lists: length error before anything else (as the reference). */
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, 0), SENSE_INVALID_PARAM_LEN);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, 1), SENSE_INVALID_PARAM_LEN);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, 23), SENSE_INVALID_PARAM_LEN);
        check_reject(prout_run(0x1f, 0, d, 0), SENSE_INVALID_PARAM_LEN);

        /* REGISTER AND MOVE, REPLACE LOST RESERVATION, undefined and reserved-bit service actions. */
        header(d, 1, 2, 0);
        check_reject(prout_run(MPATH_PROUT_REG_MOV_SA, 0, d, 24), SENSE_INVALID_FIELD);
        check_reject(prout_run(0x08, 0, d, 24), SENSE_INVALID_FIELD);
        check_reject(prout_run(0x1f, 0, d, 24), SENSE_INVALID_FIELD);
        check_reject(prout_run(0x20, 0, d, 24), SENSE_INVALID_FIELD);
        check_reject(prout_run(0xe1, 0, d, 24), SENSE_INVALID_FIELD);
        /* REGISTER AND MOVE has its own list format (TID length at 20): still refused, not parsed. */
        check_reject(prout_run(MPATH_PROUT_REG_MOV_SA, 0, d, 64), SENSE_INVALID_FIELD);

        /* Without SPEC_I_PT the list is exactly 24 bytes (SPC-4). */
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, 25), SENSE_INVALID_PARAM_LEN);
        check_reject(prout_run(MPATH_PROUT_RES_SA, 1, d, 28), SENSE_INVALID_PARAM_LEN);
        check_reject(prout_run(MPATH_PROUT_RES_SA, 1, d, 64), SENSE_INVALID_PARAM_LEN);

        /* SPEC_I_PT only with REGISTER. */
        header(d, 1, 2, MPATH_F_SPEC_I_PT_MASK);
        check_reject(prout_run(MPATH_PROUT_RES_SA, 1, d, 24), SENSE_INVALID_PARAM);
        check_reject(prout_run(MPATH_PROUT_REG_IGN_SA, 0, d, 28), SENSE_INVALID_PARAM);

        /* SPEC_I_PT needs the 4-byte TRANSPORTID PARAMETER DATA LENGTH. */
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, 24), SENSE_INVALID_PARAM_LEN);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, 27), SENSE_INVALID_PARAM_LEN);
}

static size_t put_sas(uint8_t *p, uint64_t addr) {
        memset(p, 0, 24);
        p[0] = 0x06;
        proto_put_be64(p + 4, addr);
        return 24;
}

static size_t put_fc(uint8_t *p, uint64_t name) {
        memset(p, 0, 24);
        p[0] = 0x00;
        proto_put_be64(p + 8, name);
        return 24;
}

static size_t put_iscsi(uint8_t *p, uint8_t fmt, const char *name, uint16_t l) {
        memset(p, 0, 4 + (size_t) l);
        p[0] = (uint8_t) (fmt | 0x05);
        proto_put_be16(p + 2, l);
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): wire bytes, NUL-padded by the memset above */
        memcpy(p + 4, name, MIN(strlen(name), (size_t) l));
        return 4 + (size_t) l;
}

static uint32_t spec_list(uint8_t *d, uint32_t tid_bytes) {
        header(d, 0, 0x77, MPATH_F_SPEC_I_PT_MASK);
        proto_put_be32(d + 24, tid_bytes);
        return 28 + tid_bytes;
}

static void test_prout_transport_ids(void) {
        static uint8_t d[PRH_DATA_SIZE];
        size_t off = 28;
        Prout *r;

        /* Zero-length list: no IDs, passed on. */
        uint32_t len = spec_list(d, 0);
        r = prout_run(MPATH_PROUT_REG_SA, 0, d, len);
        CHECK_EQ(r->verdict, MPATH_VERDICT_CALL);
        CHECK_EQ(r->p.n_tids, 0);

        /* One of each protocol the library encodes. */
        off += put_sas(d + off, 0x5001405aabbccdd0ull);
        off += put_fc(d + off, 0x2100001b32aabbccull);
        off += put_iscsi(d + off, 0x00, "iqn.2003-01.org.linux-iscsi:x", 32);
        off += put_iscsi(d + off, 0x40, "iqn.2003-01.org.linux-iscsi:y,i,0x00023d000001", 48);
        len = spec_list(d, (uint32_t) off - 28);
        d[off] = 0xee;  /* trailing byte beyond the TID list is ignored */
        r = prout_run(MPATH_PROUT_REG_SA, 0, d, len + 1);
        CHECK_EQ(r->verdict, MPATH_VERDICT_CALL);
        CHECK_EQ(r->p.n_tids, 4);
        struct prout_param_descriptor *pp = mpath_prout_param(&r->p);
        CHECK_EQ(pp->num_transportid, 4);
        CHECK_EQ(pp->sa_flags, MPATH_F_SPEC_I_PT_MASK);
        for (int i = 0; i < 4; i++)
                CHECK(pp->trnptid_list[i] == &r->p.tids[i]);
        CHECK_EQ(r->p.tids[0].protocol_id, MPATH_PROTOCOL_ID_SAS);
        CHECK_EQ(r->p.tids[0].format_code, 0);
        CHECK_EQ(proto_get_be64(r->p.tids[0].sas_address), 0x5001405aabbccdd0ull);
        CHECK_EQ(r->p.tids[1].protocol_id, MPATH_PROTOCOL_ID_FC);
        CHECK_EQ(proto_get_be64(r->p.tids[1].n_port_name), 0x2100001b32aabbccull);
        CHECK_EQ(r->p.tids[2].protocol_id, MPATH_PROTOCOL_ID_ISCSI);
        CHECK_EQ(r->p.tids[2].format_code, 0x00);
        CHECK_EQ(r->p.tids[2].iscsi_name[0], 0);
        CHECK_EQ(r->p.tids[2].iscsi_name[1], 32);
        CHECK(strcmp((const char *) r->p.tids[2].iscsi_name + 2, "iqn.2003-01.org.linux-iscsi:x") == 0);
        CHECK_EQ(r->p.tids[3].format_code, MPATH_WWUI_PORT_IDENTIFIER);
        CHECK_EQ(r->p.tids[3].iscsi_name[1], 48);

        /* Length field larger than the list, including values the reference read as negative. */
        static const uint32_t bad_lengths[] = { 25, 0x7fffffffu, 0x80000000u, 0xffffffe4u, 0xfffffffcu, 0xffffffffu };
        for (size_t i = 0; i < ELEMENTSOF(bad_lengths); i++) {
                spec_list(d, 24);
                put_sas(d + 28, 1);
                proto_put_be32(d + 24, bad_lengths[i]);
                check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, 52), SENSE_INVALID_PARAM);
        }
}

static void test_prout_bad_transport_ids(void) {
        static uint8_t d[PRH_DATA_SIZE];
        uint32_t len;

        /* Truncated fixed-size IDs. */
        len = spec_list(d, 23);
        put_sas(d + 28, 1);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        len = spec_list(d, 47);
        put_fc(d + 28, 1);
        put_fc(d + 52, 2);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);

        /* Formats and protocols the library cannot carry. */
        static const uint8_t bad_b0[] = { 0x40, 0x46, 0x01, 0x03, 0x04, 0x07, 0x0a, 0x0f, 0x80, 0x85, 0xc5 };
        for (size_t i = 0; i < ELEMENTSOF(bad_b0); i++) {
                len = spec_list(d, 24);
                put_sas(d + 28, 1);
                d[28] = bad_b0[i];
                check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        }
        /* Reserved bits 5-4 of byte 0 are ignored, as in the reference. */
        len = spec_list(d, 24);
        put_sas(d + 28, 1);
        d[28] = 0x36;
        CHECK_EQ(prout_run(MPATH_PROUT_REG_SA, 0, d, len)->verdict, MPATH_VERDICT_CALL);

        /* iSCSI: length not a multiple of 4, above 252, past the list, no NUL, zero. */
        len = spec_list(d, 4 + 30);
        put_iscsi(d + 28, 0, "iqn.a", 30);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        len = spec_list(d, 4 + 256);
        put_iscsi(d + 28, 0, "iqn.a", 256);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        len = spec_list(d, 4 + 252);
        put_iscsi(d + 28, 0, "iqn.a", 252);
        CHECK_EQ(prout_run(MPATH_PROUT_REG_SA, 0, d, len)->verdict, MPATH_VERDICT_CALL);
        len = spec_list(d, 4 + 32);
        put_iscsi(d + 28, 0, "iqn.a", 32);
        proto_put_be16(d + 30, 36);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        proto_put_be16(d + 30, 0xfffc);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        len = spec_list(d, 4 + 8);
        put_iscsi(d + 28, 0, "iqn.abcd", 8);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        len = spec_list(d, 4);
        put_iscsi(d + 28, 0, "", 0);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
        len = spec_list(d, 3);
        put_iscsi(d + 28, 0, "", 0);
        check_reject(prout_run(MPATH_PROUT_REG_SA, 0, d, len), SENSE_INVALID_PARAM);
}

static void test_prout_many_transport_ids(void) {
        static uint8_t d[PRH_DATA_SIZE];
        size_t off;
        Prout *r;

        /* 32 (the library's maximum) pass, every pointer set. */
        off = 28;
        for (int i = 0; i < 32; i++)
                off += put_iscsi(d + off, 0, "iqn", 4);
        r = prout_run(MPATH_PROUT_REG_SA, 0, d, spec_list(d, (uint32_t) off - 28));
        CHECK_EQ(r->verdict, MPATH_VERDICT_CALL);
        CHECK_EQ(r->p.n_tids, 32);
        CHECK(mpath_prout_param(&r->p)->trnptid_list[31] == &r->p.tids[31]);

        /* 33 and 100 minimal IDs (where the reference aborts): a SCSI answer. */
        static const int counts[] = { 33, 100, 1020 };
        for (size_t c = 0; c < ELEMENTSOF(counts); c++) {
                off = 28;
                for (int i = 0; i < counts[c]; i++)
                        off += put_iscsi(d + off, 0, "iqn", 4);
                r = prout_run(MPATH_PROUT_REG_SA, 0, d, spec_list(d, (uint32_t) off - 28));
                check_reject(r, SENSE_INSUFFICIENT_REGISTRATION_RESOURCES);
        }

        /* 100 SAS IDs do not fit 8192 bytes; 100 FC/SAS mixed with iSCSI do. */
        off = 28;
        for (int i = 0; i < 100; i++)
                off += i % 2 ? put_sas(d + off, (uint64_t) i) : put_iscsi(d + off, 0, "iqn.x", 8);
        CHECK(off <= PRH_DATA_SIZE);
        r = prout_run(MPATH_PROUT_REG_SA, 0, d, spec_list(d, (uint32_t) off - 28));
        check_reject(r, SENSE_INSUFFICIENT_REGISTRATION_RESOURCES);

        /* A malformed ID anywhere wins over the count. */
        d[off - 24] = 0x04;
        r = prout_run(MPATH_PROUT_REG_SA, 0, d, spec_list(d, (uint32_t) off - 28));
        check_reject(r, SENSE_INVALID_PARAM);
}

/* ---- return codes ---- */

static void test_result_codes(void) {
        /* NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): a small table laid out to read like the docs */
        static const struct {
                int code;
                bool probe;
                int32_t status;
                uint8_t key, asc, ascq;
        } rows[] = {
                { MPATH_PR_SUCCESS, false, SCSI_STATUS_GOOD, 0, 0, 0 },
                { MPATH_PR_SENSE_NOT_READY, true, SCSI_STATUS_CHECK_CONDITION, 0x2, 0x04, 0x00 },
                { MPATH_PR_SENSE_MEDIUM_ERROR, true, SCSI_STATUS_CHECK_CONDITION, 0x3, 0x11, 0x00 },
                { MPATH_PR_SENSE_HARDWARE_ERROR, true, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00 },
                { MPATH_PR_SENSE_ABORTED_COMMAND, true, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
                { MPATH_PR_SENSE_UNIT_ATTENTION, false, SCSI_STATUS_CHECK_CONDITION, 0x6, 0x29, 0x02 },
                { MPATH_PR_SENSE_INVALID_OP, false, SCSI_STATUS_CHECK_CONDITION, 0x5, 0x20, 0x00 },
                { MPATH_PR_ILLEGAL_REQ, false, SCSI_STATUS_CHECK_CONDITION, 0x5, 0x26, 0x00 },
                { MPATH_PR_NO_SENSE, false, SCSI_STATUS_CHECK_CONDITION, 0x0, 0x00, 0x00 },
                { MPATH_PR_RESERV_CONFLICT, false, SCSI_STATUS_RESERVATION_CONFLICT, 0, 0, 0 },
                { MPATH_PR_SKIP, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { MPATH_PR_SYNTAX_ERROR, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { MPATH_PR_SENSE_MALFORMED, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { MPATH_PR_FILE_ERROR, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { MPATH_PR_DMMP_ERROR, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { MPATH_PR_THREAD_ERROR, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { MPATH_PR_OTHER, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { 16, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { 17, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
                { 1000, false, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00 },
        };
        static const uint8_t zero[PRH_SENSE_SIZE];

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                ProtoResult r;
                memset(&r, 0xcc, sizeof r);
                CHECK_EQ(mpath_result_from_code(rows[i].code, &r), rows[i].probe);
                CHECK_EQ(r.status, rows[i].status);
                CHECK_EQ(r.data_len, 0);
                if (rows[i].status == SCSI_STATUS_CHECK_CONDITION) {
                        const uint8_t want[18] = { 0x70, 0, rows[i].key, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0,
                                                   rows[i].asc, rows[i].ascq };
                        CHECK_MEM(r.sense, want, 18);
                        CHECK_MEM(r.sense + 18, zero, PRH_SENSE_SIZE - 18);
                } else
                        CHECK_MEM(r.sense, zero, PRH_SENSE_SIZE);
        }
        CHECK(strcmp(mpath_prout_sa_name(MPATH_PROUT_REG_MOV_SA), "REGISTER AND MOVE") == 0);
        CHECK(strcmp(mpath_prout_sa_name(-1), "unknown") == 0);
        CHECK(strcmp(mpath_prout_sa_name(99), "unknown") == 0);
}

/* The libmpathpersist ABI facts the translation relies on (docs/protocol.md, "Multipath"). */
static void test_abi(void) {
        CHECK_EQ(sizeof(struct prin_readdescr), 8200);
        CHECK_EQ(sizeof(struct prin_fulldescr), 270);
        CHECK_EQ(offsetof(struct print_fulldescr_list, descriptors), 8200);
        CHECK_EQ(sizeof(struct prout_param_descriptor), 8224);
        CHECK_EQ(MPATH_PROUT_PARAM_SIZE, 8480);
        CHECK_EQ(offsetof(struct prout_param_descriptor, sa_flags), 20);
        CHECK_EQ(sizeof(struct transportid), 258);
}

int main(void) {
        test_abi();
        test_prin_decode();
        test_prin_read_keys();
        test_prin_read_reservation();
        test_prin_capabilities();
        test_rfstat_basic();
        test_rfstat_overlap();
        test_prout_basic();
        test_prout_short_and_bad_cdb();
        test_prout_transport_ids();
        test_prout_bad_transport_ids();
        test_prout_many_transport_ids();
        test_result_codes();
        return tests_finish("test-mpath-translate");
}
