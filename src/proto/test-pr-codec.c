/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the PR IN/OUT codecs: every service action's CDB and
 * parameter list, transport IDs in binary and text, the PR IN decoders on
 * inputs that end at an unmapped page (complete, truncated, hostile), and
 * the sense texts.
 */
#include <errno.h>

#include "pr-codec.h"
#include "tests.h"
#include "wire.h"

static void test_pr_in_cdb(void) {
        uint8_t cdb[10];
        static const PrhInAction actions[] = {PRH_IN_READ_KEYS, PRH_IN_READ_RESERVATION, PRH_IN_REPORT_CAPABILITIES,
                                              PRH_IN_READ_FULL_STATUS};

        for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
                proto_pr_in_cdb(cdb, actions[i], 0x1234);
                const uint8_t exp[10] = {0x5e, (uint8_t) actions[i], 0, 0, 0, 0, 0, 0x12, 0x34, 0};
                CHECK_MEM(cdb, exp, 10);
        }
        proto_pr_in_cdb(cdb, PRH_IN_READ_KEYS, 8192);
        uint8_t full[16] = {};
        memcpy(full, cdb, 10);
        CHECK_EQ(proto_cdb_xfer_len(full), 8192);
}

/* Every PR OUT action without transport IDs: CDB and the 24-byte basic list. */
static void test_pr_out_basic(void) {
        uint8_t cdb[10], param[PRH_DATA_SIZE];
        PrhOutParams p = {.key = 0x0102030405060708ull,
                          .sa_key = 0x1112131415161718ull,
                          .type = PRH_TYPE_EXCLUSIVE_ACCESS_RO,
                          .flags = PRH_FLAG_APTPL | PRH_FLAG_ALL_TG_PT};

        for (unsigned a = PRH_OUT_REGISTER; a <= PRH_OUT_REPLACE_LOST; a++) {
                if (a == PRH_OUT_REGISTER_AND_MOVE)
                        continue;
                int r = proto_pr_out_encode((PrhOutAction) a, &p, cdb, param, sizeof(param));
                CHECK_EQ(r, 24);
                const uint8_t exp_cdb[10] = {0x5f, (uint8_t) a, 0x06, 0, 0, 0, 0, 0, 24, 0};
                CHECK_MEM(cdb, exp_cdb, 10);
                const uint8_t exp[24] = {1,    2,    3,    4,    5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14,
                                         0x15, 0x16, 0x17, 0x18, 0, 0, 0, 0, 0x05, 0,    0,    0};
                CHECK_MEM(param, exp, 24);
                /* What QEMU derives from bytes 7-8 is the real length. */
                uint8_t full[16] = {};
                memcpy(full, cdb, 10);
                CHECK_EQ(proto_cdb_xfer_len(full), (uint32_t) r);
        }
        CHECK(strcmp(proto_pr_out_action_name(PRH_OUT_REGISTER_AND_IGNORE), "REGISTER AND IGNORE EXISTING KEY") == 0);

        /* Scope goes to the high nibble. */
        p.scope = 0x2;
        p.type = PRH_TYPE_WRITE_EXCLUSIVE;
        p.flags = 0;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_RESERVE, &p, cdb, param, sizeof(param)), 24);
        CHECK_EQ(cdb[2], 0x21);
        CHECK_EQ(param[20], 0);

        /* Invalid combinations. */
        p.scope = 0x10;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_RESERVE, &p, cdb, param, sizeof(param)), -EINVAL);
        p.scope = 0;
        p.flags = PRH_FLAG_UNREG;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER, &p, cdb, param, sizeof(param)), -EINVAL);
        p.flags = 0x100;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER, &p, cdb, param, sizeof(param)), -EINVAL);
        p.flags = 0;
        CHECK_EQ(proto_pr_out_encode((PrhOutAction) 9, &p, cdb, param, sizeof(param)), -EINVAL);
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER, &p, cdb, param, 23), -E2BIG);
        PrhTransportId t = {.protocol = PRH_PROTO_FC, .port_name = 1};
        p.tids = &t;
        p.n_tids = 1;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER, &p, cdb, param, sizeof(param)), -EINVAL); /* no SPEC_I_PT */
}

static void test_pr_out_spec_i_pt(void) {
        uint8_t cdb[10], param[PRH_DATA_SIZE];
        PrhTransportId tids[3];

        CHECK_EQ(proto_tid_parse("fc,0x2100001b32a1b2c3", &tids[0]), 0);
        CHECK_EQ(proto_tid_parse("sas,500a0b1c2d3e4f50", &tids[1]), 0);
        CHECK_EQ(proto_tid_parse("iqn.2003-01.org.linux-iscsi:client", &tids[2]), 0);
        PrhOutParams p = {.sa_key = 0xabc, .flags = PRH_FLAG_SPEC_I_PT, .tids = tids, .n_tids = 3};

        int r = proto_pr_out_encode(PRH_OUT_REGISTER, &p, cdb, param, sizeof(param));
        /* iSCSI name of 34 characters + NUL = 35, padded to 36. */
        CHECK_EQ(r, 28 + 24 + 24 + 4 + 36);
        CHECK_EQ(proto_get_be32(cdb + 5), (uint32_t) r);
        CHECK_EQ(param[20], 0x08);
        CHECK_EQ(proto_get_be32(param + 24), (uint32_t) r - 28);
        CHECK_EQ(param[28], 0x00);
        CHECK_EQ(proto_get_be64(param + 28 + 8), 0x2100001b32a1b2c3ull);
        CHECK_EQ(param[52], 0x06);
        CHECK_EQ(proto_get_be64(param + 52 + 4), 0x500a0b1c2d3e4f50ull);
        CHECK_EQ(param[76], 0x05);
        CHECK_EQ(proto_get_be16(param + 78), 36);
        CHECK(memcmp(param + 80, "iqn.2003-01.org.linux-iscsi:client", 35) == 0);

        /* Too many IDs for 8192 bytes. */
        static PrhTransportId many[400];
        for (size_t i = 0; i < 400; i++)
                many[i] = tids[0];
        p.tids = many;
        p.n_tids = 400;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER, &p, cdb, param, sizeof(param)), -E2BIG);
        p.n_tids = (8192 - 28) / 24;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER, &p, cdb, param, sizeof(param)), 28 + 24 * 340);
        CHECK_EQ(cdb[5], 0);
        CHECK_EQ(cdb[6], 0);
}

static void test_pr_out_move(void) {
        uint8_t cdb[10], param[PRH_DATA_SIZE];
        PrhTransportId t;

        CHECK_EQ(proto_tid_parse("iscsi,iqn.1994-05.com.redhat:a,i,0x23d000000001", &t), 0);
        PrhOutParams p = {.key = 5,
                          .sa_key = 6,
                          .type = PRH_TYPE_WRITE_EXCLUSIVE,
                          .rel_tgt_port = 0x0102,
                          .flags = PRH_FLAG_UNREG | PRH_FLAG_APTPL,
                          .tids = &t,
                          .n_tids = 1};
        int r = proto_pr_out_encode(PRH_OUT_REGISTER_AND_MOVE, &p, cdb, param, sizeof(param));
        size_t text = strlen("iqn.1994-05.com.redhat:a,i,0x23d000000001") + 1; /* 42 -> 44 */
        CHECK_EQ(r, 24 + 4 + 44);
        CHECK_EQ(text, 42);
        CHECK_EQ(cdb[1], 0x07);
        CHECK_EQ(cdb[2], 0x01);
        CHECK_EQ(param[17], 0x03);
        CHECK_EQ(proto_get_be16(param + 18), 0x0102);
        CHECK_EQ(proto_get_be32(param + 20), 48);
        CHECK_EQ(param[24], 0x45);
        CHECK_EQ(param[20 - 0], 0); /* no SPEC_I_PT/ALL_TG_PT byte in the MOVE list */

        p.n_tids = 0;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER_AND_MOVE, &p, cdb, param, sizeof(param)), -EINVAL);
        p.n_tids = 1;
        p.flags = PRH_FLAG_ALL_TG_PT;
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER_AND_MOVE, &p, cdb, param, sizeof(param)), -EINVAL);
}

static void roundtrip_tid(const char *text, const char *formatted, uint8_t byte0, size_t len) {
        PrhTransportId t, d;
        uint8_t buf[PRH_TID_MAX];
        char out[400];

        CHECK_EQ(proto_tid_parse(text, &t), 0);
        int r = proto_tid_encode(&t, buf, sizeof(buf));
        CHECK_EQ(r, (int) len);
        CHECK_EQ(buf[0], byte0);
        CHECK_EQ(t.raw_len, len);
        uint8_t *g = guarded_copy(buf, (size_t) r);
        CHECK_EQ(proto_tid_decode(g, (size_t) r, &d), r);
        /* One byte short must not be read past. */
        CHECK(proto_tid_decode(g, (size_t) r - 1, &d) < 0);
        guarded_free(g, (size_t) r);
        CHECK_EQ(proto_tid_decode(buf, (size_t) r, &d), r);
        CHECK_EQ(d.protocol, t.protocol);
        CHECK_EQ(d.format, t.format);
        CHECK_EQ(d.port_name, t.port_name);
        CHECK(strcmp(d.iscsi_name, t.iscsi_name) == 0);
        CHECK(strcmp(d.iscsi_isid, t.iscsi_isid) == 0);
        proto_tid_format(&d, out, sizeof(out));
        CHECK(strcmp(out, formatted) == 0);
        if (strcmp(out, formatted) != 0)
                fprintf(stderr, "  got '%s'\n", out);
}

static void test_tid(void) {
        PrhTransportId t;
        uint8_t buf[PRH_TID_MAX];

        roundtrip_tid("fc,2100001B32A1B2C3", "fc,0x2100001b32a1b2c3", 0x00, 24);
        roundtrip_tid("fcp,0x1", "fc,0x0000000000000001", 0x00, 24);
        roundtrip_tid("sas,0x500a0b1c2d3e4f50", "sas,0x500a0b1c2d3e4f50", 0x06, 24);
        roundtrip_tid("iqn.a", "iscsi,iqn.a", 0x05, 24); /* minimum 20-byte name field */
        roundtrip_tid("iscsi,eui.0123456789abcdef", "iscsi,eui.0123456789abcdef", 0x05, 4 + 24); /* 21 -> 24 */
        roundtrip_tid("iscsi,iqn.x:y,i,0x23d000000001", "iscsi,iqn.x:y,i,0x23d000000001", 0x45, 4 + 28);

        /* The longest iSCSI name. */
        char name[300] = "iqn.";
        memset(name + 4, 'n', 219);
        name[223] = 0;
        CHECK_EQ(proto_tid_parse(name, &t), 0);
        CHECK_EQ(proto_tid_encode(&t, buf, sizeof(buf)), 4 + 224);
        name[223] = 'n';
        name[224] = 0;
        CHECK_EQ(proto_tid_parse(name, &t), -EINVAL);

        /* The longest name with an ISID: 23 hex digits still fit PRH_TID_MAX, 24 do not (fuzz-pr-out found it). */
        char named[300];
        snprintf(named, sizeof(named), "iscsi,iqn.%.219s,i,0x%s", name + 4, "0123456789abcdef0123456");
        CHECK_EQ(proto_tid_parse(named, &t), 0);
        CHECK_EQ(proto_tid_encode(&t, buf, sizeof(buf)), (int) PRH_TID_MAX);
        CHECK_EQ(proto_tid_decode(buf, PRH_TID_MAX, &t), (int) PRH_TID_MAX);
        {
                size_t l = strlen(t.iscsi_isid);
                CHECK(l + 1 < sizeof(t.iscsi_isid));
                snprintf(t.iscsi_isid + l, sizeof(t.iscsi_isid) - l, "7");
        }
        uint8_t big[2 * PRH_TID_MAX];
        CHECK_EQ(proto_tid_encode(&t, big, sizeof(big)), -EINVAL);
        PrhOutParams po = { .flags = PRH_FLAG_SPEC_I_PT, .tids = &t, .n_tids = 1 };
        uint8_t po_cdb[PROTO_PR_CDB_SIZE], po_param[PRH_DATA_SIZE];
        CHECK_EQ(proto_pr_out_encode(PRH_OUT_REGISTER, &po, po_cdb, po_param, sizeof(po_param)), -EINVAL);
        {
                size_t l = strlen(named);
                CHECK(l + 1 < sizeof(named));
                snprintf(named + l, sizeof(named) - l, "7");
        }
        CHECK_EQ(proto_tid_parse(named, &t), -EINVAL);

        CHECK_EQ(proto_tid_parse("fc,", &t), -EINVAL);
        CHECK_EQ(proto_tid_parse("fc,12345678901234567", &t), -EINVAL);
        CHECK_EQ(proto_tid_parse("fc,xyz", &t), -EINVAL);
        CHECK_EQ(proto_tid_parse("usb,1", &t), -EINVAL);
        CHECK_EQ(proto_tid_parse("iscsi,", &t), -EINVAL);
        CHECK_EQ(proto_tid_parse("iscsi,iqn.a,i,0x", &t), -EINVAL);
        CHECK_EQ(proto_tid_parse("iscsi,iqn.a,i,0xzz", &t), -EINVAL);
        CHECK_EQ(proto_tid_parse("iscsi,iqn a", &t), -EINVAL);

        /* Hostile iSCSI IDs: no NUL inside the length, length beyond the buffer, empty name, unknown protocol. */
        uint8_t bad1[24] = {0x05, 0, 0, 20};
        memset(bad1 + 4, 'a', 20);
        uint8_t *g = guarded_copy(bad1, sizeof(bad1));
        CHECK_EQ(proto_tid_decode(g, sizeof(bad1), &t), -EBADMSG);
        guarded_free(g, sizeof(bad1));
        uint8_t bad2[8] = {0x05, 0, 0x01, 0x00, 'i', 0};
        g = guarded_copy(bad2, sizeof(bad2));
        CHECK_EQ(proto_tid_decode(g, sizeof(bad2), &t), -EBADMSG);
        guarded_free(g, sizeof(bad2));
        uint8_t bad3[24] = {0x05, 0, 0, 20};
        CHECK_EQ(proto_tid_decode(bad3, sizeof(bad3), &t), -EBADMSG);
        uint8_t bad4[24] = {0x45, 0, 0, 20, 'i', 'q', 'n', 0}; /* format 1 without ",i,0x" */
        CHECK_EQ(proto_tid_decode(bad4, sizeof(bad4), &t), -EBADMSG);
        uint8_t bad5[24] = {0x05, 0, 0, 20, 'i', 'q', 'n', '\x1b', '[', '2', 'J', 0}; /* escape sequence */
        CHECK_EQ(proto_tid_decode(bad5, sizeof(bad5), &t), -EBADMSG);
        uint8_t bad6[24] = {0x45, 0, 0, 20, 'i', 'q', 'n', ',', 'i', ',', '0', 'x', 'z', 'z', 0}; /* ISID not hex */
        CHECK_EQ(proto_tid_decode(bad6, sizeof(bad6), &t), -EBADMSG);
        uint8_t bad7[24] = {0x45, 0, 0, 20, 'i', 'q', 'n', ',', 'i', ',', '0', 'x', 0}; /* empty ISID */
        CHECK_EQ(proto_tid_decode(bad7, sizeof(bad7), &t), -EBADMSG);
        PrhTransportId enc = {.protocol = PRH_PROTO_ISCSI};
        strcpy(enc.iscsi_name, "iqn.a,b");
        CHECK_EQ(proto_tid_encode(&enc, buf, sizeof(buf)), -EINVAL);
        uint8_t srp[24] = {0x04};
        CHECK_EQ(proto_tid_decode(srp, sizeof(srp), &t), -EPROTONOSUPPORT);
        CHECK_EQ(proto_tid_decode(srp, 3, &t), -EBADMSG);
}

static void test_decode_keys(void) {
        uint8_t d[8 + 24] = {0, 0, 0, 7, 0, 0, 0, 24};
        PrhKeys k;

        for (int i = 0; i < 3; i++)
                proto_put_be64(d + 8 + (size_t) 8 * i, 0x1000 + (uint64_t) i);
        uint8_t *g = guarded_copy(d, sizeof(d));
        CHECK_EQ(proto_pr_decode_keys(g, sizeof(d), &k), 0);
        CHECK_EQ(k.generation, 7);
        CHECK_EQ(k.n_keys, 3);
        CHECK(!k.truncated);
        CHECK_EQ(k.keys[2], 0x1002);
        guarded_free(g, sizeof(d));

        /* Allocation length too small: 1.5 keys arrive. */
        g = guarded_copy(d, 20);
        CHECK_EQ(proto_pr_decode_keys(g, 20, &k), 0);
        CHECK_EQ(k.n_keys, 1);
        CHECK(k.truncated);
        guarded_free(g, 20);

        g = guarded_copy(d, 7);
        CHECK_EQ(proto_pr_decode_keys(g, 7, &k), -EBADMSG);
        guarded_free(g, 7);

        /* A hostile length far beyond the data. */
        uint8_t big[8] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
        g = guarded_copy(big, 8);
        CHECK_EQ(proto_pr_decode_keys(g, 8, &k), 0);
        CHECK_EQ(k.n_keys, 0);
        CHECK(k.truncated);
        guarded_free(g, 8);
}

static void test_decode_reservation(void) {
        uint8_t d[24] = {0, 0, 0, 9, 0, 0, 0, 16, 0xaa, 0xbb, 0, 0, 0, 0, 0, 1};
        PrhReservation r;

        d[21] = 0x03;
        uint8_t *g = guarded_copy(d, 24);
        CHECK_EQ(proto_pr_decode_reservation(g, 24, &r), 0);
        CHECK(r.reserved);
        CHECK_EQ(r.generation, 9);
        CHECK_EQ(r.key, 0xaabb000000000001ull);
        CHECK_EQ(r.type, PRH_TYPE_EXCLUSIVE_ACCESS);
        CHECK_EQ(r.scope, 0);
        guarded_free(g, 24);

        g = guarded_copy(d, 23);
        CHECK_EQ(proto_pr_decode_reservation(g, 23, &r), -EBADMSG);
        guarded_free(g, 23);

        uint8_t none[8] = {0, 0, 0, 2};
        g = guarded_copy(none, 8);
        CHECK_EQ(proto_pr_decode_reservation(g, 8, &r), 0);
        CHECK(!r.reserved);
        CHECK_EQ(r.generation, 2);
        guarded_free(g, 8);
}

static void test_decode_capabilities(void) {
        /* LIO-like: CRH, SIP_C, ATP_C, PTPL_C; TMV; type mask WR_EX..EX_AC_AR. */
        uint8_t d[8] = {0, 8, 0x1d, 0x81, 0xea, 0x01, 0, 0};
        PrhCapabilities c;

        uint8_t *g = guarded_copy(d, 8);
        CHECK_EQ(proto_pr_decode_capabilities(g, 8, &c), 0);
        guarded_free(g, 8);
        CHECK_EQ(c.length, 8);
        CHECK(c.crh && c.sip_c && c.atp_c && c.ptpl_c && !c.rlr_c);
        CHECK(c.tmv && c.ptpl_a);
        CHECK_EQ(c.allow_commands, 0);
        CHECK_EQ(c.type_mask, (1u << 1) | (1u << 3) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8));
        g = guarded_copy(d, 5);
        CHECK_EQ(proto_pr_decode_capabilities(g, 5, &c), -EBADMSG);
        guarded_free(g, 5);
}

static size_t put_desc(uint8_t *p, uint64_t key, uint8_t flags, uint8_t st, uint16_t port, const uint8_t *tid,
                       size_t tid_len) {
        memset(p, 0, 24);
        proto_put_be64(p, key);
        p[12] = flags;
        p[13] = st;
        proto_put_be16(p + 18, port);
        proto_put_be32(p + 20, (uint32_t) tid_len);
        memcpy(p + 24, tid, tid_len);
        return 24 + tid_len;
}

static void test_decode_full_status(void) {
        uint8_t d[512] = {}, tid_fc[24] = {0x00}, tid_is[PRH_TID_MAX], tid_srp[24] = {0x04, 1, 2};
        PrhTransportId t;
        PrhFullStatus fs;
        PrhFullStatusEntry e[4];
        size_t off = 8;

        proto_put_be64(tid_fc + 8, 0x21000024ff000001ull);
        CHECK_EQ(proto_tid_parse("iqn.2003-01.org.linux-iscsi.host:abc", &t), 0);
        int is_len = proto_tid_encode(&t, tid_is, sizeof(tid_is));
        CHECK(is_len > 0);
        off += put_desc(d + off, 0x11, 0x01, 0x01, 1, tid_fc, 24);
        off += put_desc(d + off, 0x22, 0x02, 0x00, 2, tid_is, (size_t) is_len);
        off += put_desc(d + off, 0x33, 0x00, 0x00, 3, tid_srp, 24);
        proto_put_be32(d, 42);
        proto_put_be32(d + 4, (uint32_t) (off - 8));

        uint8_t *g = guarded_copy(d, off);
        CHECK_EQ(proto_pr_decode_full_status(g, off, &fs, e, 4), 3);
        CHECK_EQ(fs.generation, 42);
        CHECK(!fs.truncated);
        CHECK_EQ(e[0].key, 0x11);
        CHECK(e[0].holder);
        CHECK(!e[0].all_tg_pt);
        CHECK_EQ(e[0].type, PRH_TYPE_WRITE_EXCLUSIVE);
        CHECK(e[0].tid_valid);
        CHECK_EQ(e[0].tid.protocol, PRH_PROTO_FC);
        CHECK_EQ(e[0].tid.port_name, 0x21000024ff000001ull);
        CHECK(e[1].all_tg_pt);
        CHECK(e[1].tid_valid);
        CHECK(strcmp(e[1].tid.iscsi_name, "iqn.2003-01.org.linux-iscsi.host:abc") == 0);
        CHECK_EQ(e[1].rel_tgt_port, 2);
        CHECK(!e[2].tid_valid);
        CHECK_EQ(e[2].tid.protocol, PRH_PROTO_SRP);
        CHECK_EQ(e[2].tid.raw_len, 24);
        CHECK_EQ(e[2].tid.raw[2], 2);

        /* Room for two entries only. */
        CHECK_EQ(proto_pr_decode_full_status(g, off, &fs, e, 2), 2);
        CHECK(fs.truncated);
        guarded_free(g, off);

        /* Cut in the middle of the second descriptor. */
        g = guarded_copy(d, 8 + 48 + 30);
        CHECK_EQ(proto_pr_decode_full_status(g, 8 + 48 + 30, &fs, e, 4), 1);
        CHECK(fs.truncated);
        guarded_free(g, 8 + 48 + 30);

        /* A descriptor claiming a huge transport ID. */
        uint8_t h[8 + 24] = {0, 0, 0, 0, 0, 0, 0, 24};
        proto_put_be32(h + 8 + 20, 0xfffffff0u);
        g = guarded_copy(h, sizeof(h));
        CHECK_EQ(proto_pr_decode_full_status(g, sizeof(h), &fs, e, 4), 0);
        CHECK(fs.truncated);
        guarded_free(g, sizeof(h));

        g = guarded_copy(h, 7);
        CHECK_EQ(proto_pr_decode_full_status(g, 7, &fs, e, 4), -EBADMSG);
        guarded_free(g, 7);
}

static void test_sense_text(void) {
        uint8_t fixed[18] = {0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x20, 0x00};
        uint8_t desc[8] = {0x72, 0x06, 0x2a, 0x03};
        char buf[160];

        uint8_t *g = guarded_copy(fixed, sizeof(fixed));
        PrhSense s = proto_sense_decode(g, sizeof(fixed));
        CHECK(s.valid && !s.descriptor);
        CHECK_EQ(s.key, 5);
        proto_sense_describe(g, sizeof(fixed), buf, sizeof(buf));
        CHECK(strcmp(buf, "ILLEGAL REQUEST: invalid command operation code (asc 0x20, ascq 0x00)") == 0);
        guarded_free(g, sizeof(fixed));

        g = guarded_copy(desc, sizeof(desc));
        s = proto_sense_decode(g, sizeof(desc));
        CHECK(s.valid && s.descriptor);
        proto_sense_describe(g, sizeof(desc), buf, sizeof(buf));
        CHECK(strcmp(buf, "UNIT ATTENTION: reservations preempted (asc 0x2a, ascq 0x03)") == 0);
        guarded_free(g, sizeof(desc));

        uint8_t unknown[18] = {0x70, 0, 0x0b, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x99, 0x42};
        proto_sense_describe(unknown, sizeof(unknown), buf, sizeof(buf));
        CHECK(strcmp(buf, "ABORTED COMMAND: asc 0x99, ascq 0x42") == 0);
        uint8_t zero[96] = {};
        proto_sense_describe(zero, sizeof(zero), buf, sizeof(buf));
        CHECK(strcmp(buf, "no valid sense data") == 0);
        proto_sense_describe(zero, 0, buf, sizeof(buf));
        CHECK(strcmp(buf, "no valid sense data") == 0);

        CHECK(strcmp(proto_asc_text(0x00, 0x06), "I/O process terminated") == 0);
        CHECK(strcmp(proto_asc_text(0x08, 0x00), "logical unit communication failure") == 0);
        CHECK(proto_asc_text(0xff, 0xff) == NULL);
        CHECK(strcmp(proto_status_name(0x18), "RESERVATION CONFLICT") == 0);
        CHECK(strcmp(proto_status_name(0x77), "UNKNOWN STATUS") == 0);
        CHECK(strcmp(proto_sense_key_name(0xb), "ABORTED COMMAND") == 0);
        CHECK(strcmp(proto_sense_key_name(0xff), "COMPLETED") == 0);
        CHECK(strcmp(proto_pr_type_name(PRH_TYPE_EXCLUSIVE_ACCESS_AR), "Exclusive Access, all registrants") == 0);
        CHECK(strcmp(proto_pr_in_action_name(PRH_IN_READ_FULL_STATUS), "READ FULL STATUS") == 0);
}

int main(void) {
        test_pr_in_cdb();
        test_pr_out_basic();
        test_pr_out_spec_i_pt();
        test_pr_out_move();
        test_tid();
        test_decode_keys();
        test_decode_reservation();
        test_decode_capabilities();
        test_decode_full_status();
        test_sense_text();
        return tests_finish("test-pr-codec");
}
