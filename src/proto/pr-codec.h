/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed PERSISTENT RESERVE IN/OUT codecs: CDB and parameter-list encoding,
 * transport IDs (FC, iSCSI, SAS) in binary and text form, decoding of the
 * PR IN data, and sense/status/ASC texts.  Pure functions over bytes; the
 * data types are the public ones of <prh/pr-types.h>.
 *
 * Invariants: decoders never read past the length they are given and
 * accept any bytes (a short or inconsistent answer is reported, never
 * trusted); encoders produce PR OUT CDBs whose 32-bit parameter list
 * length (bytes 5-8) equals the list length with bytes 5-6 zero, because
 * QEMU and the reference helper size the data phase from bytes 7-8 only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prh/pr-types.h"

#define PROTO_PR_CDB_SIZE 10u

/* PR IN CDB for action with the given allocation length. */
void proto_pr_in_cdb(uint8_t cdb[PROTO_PR_CDB_SIZE], PrhInAction action, uint16_t alloc_len);

/*
 * PR OUT CDB and parameter list for action.  param must hold param_size
 * bytes (PRH_DATA_SIZE always suffices).  Returns the parameter list
 * length, -EINVAL for parameters the action cannot carry (transport IDs
 * without SPEC_I_PT, REGISTER AND MOVE without exactly one, scope or type
 * above 15, unknown flags or action) or -E2BIG beyond 8192 bytes / param_size.
 */
int proto_pr_out_encode(PrhOutAction action, const PrhOutParams *p, uint8_t cdb[PROTO_PR_CDB_SIZE], uint8_t *param,
                        size_t param_size);

/*
 * Transport IDs: binary encoding (returns length, -E2BIG when size is too
 * small, -EINVAL for an ID that cannot be encoded, including one longer
 * than PRH_TID_MAX, which decoding refuses) and decoding (returns bytes
 * consumed).
 */
int proto_tid_encode(const PrhTransportId *t, uint8_t *out, size_t size);
int proto_tid_decode(const uint8_t *in, size_t len, PrhTransportId *ret);
/*
 * Text forms, close to sg_persist's: "fc,<16 hex>", "sas,<16 hex>",
 * "iscsi,<name>" or "iscsi,<name>,i,0x<isid>", and a bare iSCSI name
 * ("iqn.", "eui.", "naa.").  Hex may carry a 0x prefix.
 */
int proto_tid_parse(const char *s, PrhTransportId *ret);
/* Inverse of proto_tid_parse(); returns the snprintf() length. */
int proto_tid_format(const PrhTransportId *t, char *buf, size_t size);

/* PR IN data decoders: 0, or -EBADMSG when even the header is missing/inconsistent. */
int proto_pr_decode_keys(const uint8_t *in, size_t len, PrhKeys *ret);
int proto_pr_decode_reservation(const uint8_t *in, size_t len, PrhReservation *ret);
int proto_pr_decode_capabilities(const uint8_t *in, size_t len, PrhCapabilities *ret);
/*
 * READ FULL STATUS: header into *ret (entries untouched), at most
 * max_entries descriptors into entries[]; returns the descriptor count
 * stored.  ret->truncated is set when descriptors were cut off by the data
 * length or by max_entries.
 */
int proto_pr_decode_full_status(const uint8_t *in, size_t len, PrhFullStatus *ret, PrhFullStatusEntry *entries,
                                size_t max_entries);

/* Names and texts: never NULL, "unknown"-style strings for unknown values. */
const char *proto_status_name(int status);
const char *proto_sense_key_name(uint8_t key);
/* NULL when the ASC/ASCQ pair is not in the table. */
const char *proto_asc_text(uint8_t asc, uint8_t ascq);
const char *proto_pr_type_name(uint8_t type);
const char *proto_pr_in_action_name(PrhInAction a);
const char *proto_pr_out_action_name(PrhOutAction a);
PrhSense proto_sense_decode(const uint8_t *sense, size_t len);
/* "ILLEGAL REQUEST: invalid command operation code (asc 0x20, ascq 0x00)"; returns the snprintf() length. */
int proto_sense_describe(const uint8_t *sense, size_t len, char *buf, size_t size);
