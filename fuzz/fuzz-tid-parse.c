/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz proto_tid_parse() (src/proto/pr-codec.c) on arbitrary text: the
 * transport IDs a user types for prhctl and libprh callers pass.
 *
 * Input: the text (cut at its first NUL, if any), handed over NUL-terminated
 * in memory that ends at an unmapped page in the replay build.  For text
 * the parser accepts, the harness checks what the rest of the code relies
 * on:
 *  - the protocol is FC, SAS or iSCSI and the prefix said so;
 *  - raw[] holds the binary form (proto_tid_encode() of the same ID), which
 *    proto_tid_decode() reads back to the same fields;
 *  - the text form (proto_tid_format()) parses back to the same ID;
 *  - an iSCSI name is printable without separators, an ISID hex digits.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "pr-codec.h"

static void check_same(const PrhTransportId *a, const PrhTransportId *b) {
        FUZZ_ASSERT(a->protocol == b->protocol);
        FUZZ_ASSERT(a->format == b->format);
        FUZZ_ASSERT(a->port_name == b->port_name);
        FUZZ_ASSERT(strcmp(a->iscsi_name, b->iscsi_name) == 0);
        FUZZ_ASSERT(strcmp(a->iscsi_isid, b->iscsi_isid) == 0);
        FUZZ_ASSERT(a->raw_len == b->raw_len);
        FUZZ_ASSERT(memcmp(a->raw, b->raw, a->raw_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PrhTransportId t, again, dec;
        char text[1024];

        if (size > 4096)
                return 0;
        /* An exactly sized, NUL-terminated copy: reading past the NUL is an overflow ASan reports. */
        char *s = malloc(size + 1);
        FUZZ_ASSERT(s);
        memcpy(s, data, size);
        s[size] = 0;

        memset(&t, 0xa5, sizeof(t));    /* output untouched on failure is not relied on; fields must all be set */
        if (proto_tid_parse(s, &t) < 0) {
                free(s);
                return 0;
        }

        switch (t.protocol) {
        case PRH_PROTO_FC:
                FUZZ_ASSERT(strncasecmp(s, "fc,", 3) == 0 || strncasecmp(s, "fcp,", 4) == 0);
                FUZZ_ASSERT(t.format == 0 && t.raw_len == 24);
                break;
        case PRH_PROTO_SAS:
                FUZZ_ASSERT(strncasecmp(s, "sas,", 4) == 0);
                FUZZ_ASSERT(t.format == 0 && t.raw_len == 24);
                break;
        case PRH_PROTO_ISCSI: {
                size_t name_len = strnlen(t.iscsi_name, sizeof(t.iscsi_name));
                size_t isid_len = strnlen(t.iscsi_isid, sizeof(t.iscsi_isid));
                FUZZ_ASSERT(name_len > 0 && name_len < PRH_ISCSI_NAME_MAX);
                FUZZ_ASSERT(isid_len < sizeof(t.iscsi_isid));
                for (size_t i = 0; i < name_len; i++)
                        FUZZ_ASSERT(isgraph((unsigned char) t.iscsi_name[i]) && t.iscsi_name[i] != ',');
                for (size_t i = 0; i < isid_len; i++)
                        FUZZ_ASSERT(isxdigit((unsigned char) t.iscsi_isid[i]));
                FUZZ_ASSERT(t.format == (isid_len > 0));
                /* The name is the text's (after an "iscsi," prefix). */
                FUZZ_ASSERT(strstr(s, t.iscsi_name) != NULL);
                break;
        }
        default:
                FUZZ_ASSERT(!"unexpected protocol");
        }
        FUZZ_ASSERT(t.raw_len >= 24 && t.raw_len <= PRH_TID_MAX && t.raw_len % 4 == 0);

        /* Binary: raw[] is the encoding, and it decodes to the same ID. */
        uint8_t enc[PRH_TID_MAX];
        FUZZ_ASSERT(proto_tid_encode(&t, enc, sizeof(enc)) == (int) t.raw_len);
        FUZZ_ASSERT(memcmp(enc, t.raw, t.raw_len) == 0);
        FUZZ_ASSERT(proto_tid_decode(t.raw, t.raw_len, &dec) == (int) t.raw_len);
        check_same(&t, &dec);

        /* Text: the formatted ID parses back to the same ID. */
        int n = proto_tid_format(&t, text, sizeof(text));
        FUZZ_ASSERT(n > 0 && (size_t) n < sizeof(text));
        FUZZ_ASSERT(proto_tid_parse(text, &again) == 0);
        check_same(&t, &again);

        free(s);
        return 0;
}
