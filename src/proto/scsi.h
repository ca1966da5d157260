/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SCSI constants and the SCSI result of one command (status, sense, data
 * length), plus the sense builder and the errno / host_status / SG_IO
 * outcome mappings the helper protocol defines.  Pure functions, no I/O.
 *
 * Invariant: every ProtoResult leaves its 96 sense bytes fully defined
 * (zero where nothing was written), never stale memory.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define PRH_SENSE_SIZE 96u
#define PRH_FIXED_SENSE_LEN 18u

/* Operation codes. */
#define SCSI_OP_TEST_UNIT_READY 0x00
#define SCSI_OP_PR_IN 0x5e
#define SCSI_OP_PR_OUT 0x5f

/* SCSI status byte values. */
#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY 0x08
#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_TASK_SET_FULL 0x28

/* Sense keys. */
#define SCSI_KEY_NO_SENSE 0x0
#define SCSI_KEY_NOT_READY 0x2
#define SCSI_KEY_MEDIUM_ERROR 0x3
#define SCSI_KEY_HARDWARE_ERROR 0x4
#define SCSI_KEY_ILLEGAL_REQUEST 0x5
#define SCSI_KEY_UNIT_ATTENTION 0x6
#define SCSI_KEY_DATA_PROTECT 0x7
#define SCSI_KEY_ABORTED_COMMAND 0xb

/* Linux SG_IO host_status values (DID_*) that have a defined mapping. */
#define SG_HOST_OK 0x00
#define SG_HOST_NO_CONNECT 0x01
#define SG_HOST_BUS_BUSY 0x02
#define SG_HOST_TIME_OUT 0x03
#define SG_HOST_BAD_TARGET 0x04
#define SG_HOST_ABORT 0x05
#define SG_HOST_RESET 0x08
#define SG_HOST_TRANSPORT_DISRUPTED 0x0e
#define SG_HOST_TARGET_FAILURE 0x10
#define SG_HOST_NEXUS_FAILURE 0x11
#define SG_HOST_ALLOC_FAILURE 0x12
#define SG_HOST_MEDIUM_ERROR 0x13

/* QEMU tests driver_status against SG_ERR_DRIVER_TIMEOUT (0x06) as a bit mask. */
#define SG_DRIVER_TIMEOUT_MASK 0x06

typedef struct ProtoSenseCode {
        uint8_t key;
        uint8_t asc;
        uint8_t ascq;
} ProtoSenseCode;

/* The named sense codes of QEMU's scsi/utils.c that the helper can emit. */
extern const ProtoSenseCode SENSE_NO_SENSE;
extern const ProtoSenseCode SENSE_NOT_READY;
extern const ProtoSenseCode SENSE_NO_MEDIUM;
extern const ProtoSenseCode SENSE_READ_ERROR;
extern const ProtoSenseCode SENSE_TARGET_FAILURE;
extern const ProtoSenseCode SENSE_INVALID_OPCODE;
extern const ProtoSenseCode SENSE_INVALID_FIELD;
extern const ProtoSenseCode SENSE_INVALID_PARAM;
extern const ProtoSenseCode SENSE_INVALID_PARAM_LEN;
extern const ProtoSenseCode SENSE_RESET;
extern const ProtoSenseCode SENSE_SCSI_BUS_RESET;
extern const ProtoSenseCode SENSE_SPACE_ALLOC_FAILED;
extern const ProtoSenseCode SENSE_IO_ERROR;
extern const ProtoSenseCode SENSE_LUN_NOT_RESPONDING;
extern const ProtoSenseCode SENSE_LUN_COMM_FAILURE;
extern const ProtoSenseCode SENSE_I_T_NEXUS_LOSS;
extern const ProtoSenseCode SENSE_COMMAND_TIMEOUT;
extern const ProtoSenseCode SENSE_COMMAND_ABORTED;

typedef struct ProtoResult {
        int32_t status;                 /* SCSI status as carried on the wire */
        uint32_t data_len;              /* payload bytes (PR IN, GOOD only) */
        uint8_t sense[PRH_SENSE_SIZE];
} ProtoResult;

/* The raw outcome of one SG_IO ioctl, as the kernel reported it. */
typedef struct ProtoSgioOutcome {
        int ioctl_errno;                /* 0 if the ioctl returned 0 */
        uint16_t host_status;
        uint16_t driver_status;
        uint8_t status;                 /* device status byte */
        int32_t resid;
        uint32_t dxfer_len;             /* bytes the data buffer could hold */
} ProtoSgioOutcome;

/* Write 18-byte fixed-format sense for code into sense[] and zero the rest. */
void proto_sense_build(uint8_t sense[PRH_SENSE_SIZE], ProtoSenseCode code);

/* result := GOOD, no data, all-zero sense. */
void proto_result_init(ProtoResult *r);

/* result := CHECK CONDITION with the given fixed sense. */
void proto_result_set_check(ProtoResult *r, ProtoSenseCode code);

/* The errno table (docs/protocol.md): map a (positive) errno from the ioctl to a result. */
void proto_result_from_errno(ProtoResult *r, int errnum);

/*
 * The host_status table (docs/protocol.md): map a non-zero host_status.
 * Unknown values become CHECK CONDITION / ABORTED COMMAND 00/06 (the
 * reference reports them as GOOD).
 * Returns true if host_status was one of the reference's known values.
 */
bool proto_result_from_host_status(ProtoResult *r, uint16_t host_status);

/*
 * The whole SG_IO result mapping (errno, then host_status, then
 * driver_status, then the device status).  r->sense must already hold what
 * the kernel wrote (zero-filled beforehand); it is overwritten only when the
 * helper synthesises sense.  On GOOD, r->data_len = dxfer_len - resid,
 * clamped to [0, dxfer_len].
 */
void proto_result_from_sgio(ProtoResult *r, const ProtoSgioOutcome *o);

/* Decoded view of sense data (fixed or descriptor format). */
typedef struct ProtoSenseInfo {
        bool valid;                     /* response code 0x70-0x73 */
        bool descriptor;                /* 0x72/0x73 */
        uint8_t key, asc, ascq;
} ProtoSenseInfo;

ProtoSenseInfo proto_sense_parse(const uint8_t *sense, uint32_t len);
