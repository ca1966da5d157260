/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Public data types of persistent reservations (SPC-4 PERSISTENT RESERVE
 * IN/OUT): status and sense constants, service actions, scopes and types,
 * transport IDs and the decoded PR IN results.  Installed as
 * <prh/pr-types.h> and included by <prh/prh.h>; the codecs in
 * src/proto/pr-codec.c fill exactly these structures, so there is one
 * definition for the library, the CLI and the tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SCSI status byte values. */
#define PRH_STATUS_GOOD 0x00
#define PRH_STATUS_CHECK_CONDITION 0x02
#define PRH_STATUS_BUSY 0x08
#define PRH_STATUS_RESERVATION_CONFLICT 0x18
#define PRH_STATUS_TASK_SET_FULL 0x28

/* PERSISTENT RESERVE IN service actions. */
typedef enum PrhInAction {
        PRH_IN_READ_KEYS = 0x00,
        PRH_IN_READ_RESERVATION = 0x01,
        PRH_IN_REPORT_CAPABILITIES = 0x02,
        PRH_IN_READ_FULL_STATUS = 0x03,
} PrhInAction;

/* PERSISTENT RESERVE OUT service actions. */
typedef enum PrhOutAction {
        PRH_OUT_REGISTER = 0x00,
        PRH_OUT_RESERVE = 0x01,
        PRH_OUT_RELEASE = 0x02,
        PRH_OUT_CLEAR = 0x03,
        PRH_OUT_PREEMPT = 0x04,
        PRH_OUT_PREEMPT_AND_ABORT = 0x05,
        PRH_OUT_REGISTER_AND_IGNORE = 0x06, /* REGISTER AND IGNORE EXISTING KEY */
        PRH_OUT_REGISTER_AND_MOVE = 0x07,
        PRH_OUT_REPLACE_LOST = 0x08, /* REPLACE LOST RESERVATION */
} PrhOutAction;

/* Persistent reservation types. */
#define PRH_TYPE_WRITE_EXCLUSIVE 0x1
#define PRH_TYPE_EXCLUSIVE_ACCESS 0x3
#define PRH_TYPE_WRITE_EXCLUSIVE_RO 0x5 /* registrants only */
#define PRH_TYPE_EXCLUSIVE_ACCESS_RO 0x6
#define PRH_TYPE_WRITE_EXCLUSIVE_AR 0x7 /* all registrants */
#define PRH_TYPE_EXCLUSIVE_ACCESS_AR 0x8

/* Scope: only LU_SCOPE is defined by SPC-4. */
#define PRH_SCOPE_LU 0x0

/* PR OUT flags. */
#define PRH_FLAG_APTPL 0x1u     /* activate persist through power loss */
#define PRH_FLAG_ALL_TG_PT 0x2u /* all target ports (REGISTER*) */
#define PRH_FLAG_SPEC_I_PT 0x4u /* specify initiator ports (REGISTER) */
#define PRH_FLAG_UNREG 0x8u     /* REGISTER AND MOVE: unregister the mover */

/* Transport protocol identifiers of transport IDs. */
#define PRH_PROTO_FC 0x0
#define PRH_PROTO_SRP 0x4
#define PRH_PROTO_ISCSI 0x5
#define PRH_PROTO_SAS 0x6

/* Longest transport ID handled (iSCSI: 4 + 223-byte name + ",i,0x" + 12 + NUL, padded). */
#define PRH_TID_MAX 256u
#define PRH_ISCSI_NAME_MAX 224u /* 223 characters + NUL */

typedef struct PrhTransportId {
        uint8_t protocol;                    /* PRH_PROTO_* */
        uint8_t format;                      /* format code; iSCSI: 0 = name, 1 = name + ISID */
        uint64_t port_name;                  /* FC N_Port name, SAS address */
        char iscsi_name[PRH_ISCSI_NAME_MAX]; /* iSCSI name, NUL-terminated */
        char iscsi_isid[32];                 /* format 1: the ISID after ",i,0x", hex text */
        size_t raw_len;                      /* the encoded transport ID (set by decoding) */
        uint8_t raw[PRH_TID_MAX];
} PrhTransportId;

/* Parameters of a PR OUT command; fields an action does not use are ignored. */
typedef struct PrhOutParams {
        uint64_t key;               /* RESERVATION KEY */
        uint64_t sa_key;            /* SERVICE ACTION RESERVATION KEY */
        uint8_t scope;              /* PRH_SCOPE_LU */
        uint8_t type;               /* PRH_TYPE_* */
        unsigned flags;             /* PRH_FLAG_* */
        uint16_t rel_tgt_port;      /* REGISTER AND MOVE: relative target port identifier */
        const PrhTransportId *tids; /* REGISTER with SPEC_I_PT: any; REGISTER AND MOVE: one */
        size_t n_tids;
} PrhOutParams;

/* READ KEYS. */
#define PRH_MAX_KEYS 1023u /* (8192 - 8) / 8 */
typedef struct PrhKeys {
        uint32_t generation;
        uint32_t additional_length; /* as reported: 8 x registered keys */
        bool truncated;             /* more keys than the data held */
        size_t n_keys;
        uint64_t keys[PRH_MAX_KEYS];
} PrhKeys;

/* READ RESERVATION. */
typedef struct PrhReservation {
        uint32_t generation;
        bool reserved;
        uint64_t key; /* holder's key (0 for all-registrants types) */
        uint8_t scope;
        uint8_t type;
} PrhReservation;

/* REPORT CAPABILITIES. */
typedef struct PrhCapabilities {
        uint16_t length;
        bool rlr_c;  /* replace lost reservation capable */
        bool crh;    /* compatible reservation handling */
        bool sip_c;  /* specify initiator ports capable */
        bool atp_c;  /* all target ports capable */
        bool ptpl_c; /* persist through power loss capable */
        bool tmv;    /* type mask valid */
        uint8_t allow_commands;
        bool ptpl_a;        /* persist through power loss activated */
        uint16_t type_mask; /* bit N set: type N supported (valid if tmv) */
} PrhCapabilities;

/* READ FULL STATUS: one descriptor per registered I_T nexus. */
typedef struct PrhFullStatusEntry {
        uint64_t key;
        bool all_tg_pt;
        bool holder; /* R_HOLDER: this nexus holds the reservation */
        uint8_t scope;
        uint8_t type;
        uint16_t rel_tgt_port;
        bool tid_valid; /* tid decoded; otherwise only tid.raw is set */
        PrhTransportId tid;
} PrhFullStatusEntry;

typedef struct PrhFullStatus {
        uint32_t generation;
        uint32_t additional_length;
        bool truncated; /* descriptors beyond the data were dropped */
        size_t n_entries;
        PrhFullStatusEntry *entries; /* libprh: owned, free with prh_full_status_free() */
} PrhFullStatus;

/* Decoded sense data. */
typedef struct PrhSense {
        bool valid;      /* response code 0x70-0x73 */
        bool descriptor; /* descriptor format (0x72/0x73) */
        uint8_t key;
        uint8_t asc;
        uint8_t ascq;
} PrhSense;

#ifdef __cplusplus
}
#endif
