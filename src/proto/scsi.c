/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SCSI result construction and the status mappings of the helper protocol
 * (docs/protocol.md, "SG_IO").  Pure functions over bytes.
 */
#include <errno.h>
#include <string.h>

#include "scsi.h"

const ProtoSenseCode SENSE_NO_SENSE = { SCSI_KEY_NO_SENSE, 0x00, 0x00 };
const ProtoSenseCode SENSE_NOT_READY = { SCSI_KEY_NOT_READY, 0x04, 0x00 };
const ProtoSenseCode SENSE_NO_MEDIUM = { SCSI_KEY_NOT_READY, 0x3a, 0x00 };
const ProtoSenseCode SENSE_READ_ERROR = { SCSI_KEY_MEDIUM_ERROR, 0x11, 0x00 };
const ProtoSenseCode SENSE_TARGET_FAILURE = { SCSI_KEY_HARDWARE_ERROR, 0x44, 0x00 };
const ProtoSenseCode SENSE_INVALID_OPCODE = { SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00 };
const ProtoSenseCode SENSE_INVALID_FIELD = { SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00 };
const ProtoSenseCode SENSE_INVALID_PARAM = { SCSI_KEY_ILLEGAL_REQUEST, 0x26, 0x00 };
const ProtoSenseCode SENSE_INVALID_PARAM_LEN = { SCSI_KEY_ILLEGAL_REQUEST, 0x1a, 0x00 };
const ProtoSenseCode SENSE_RESET = { SCSI_KEY_UNIT_ATTENTION, 0x29, 0x00 };
const ProtoSenseCode SENSE_SCSI_BUS_RESET = { SCSI_KEY_UNIT_ATTENTION, 0x29, 0x02 };
const ProtoSenseCode SENSE_SPACE_ALLOC_FAILED = { SCSI_KEY_DATA_PROTECT, 0x27, 0x07 };
const ProtoSenseCode SENSE_IO_ERROR = { SCSI_KEY_ABORTED_COMMAND, 0x00, 0x06 };
const ProtoSenseCode SENSE_LUN_NOT_RESPONDING = { SCSI_KEY_ABORTED_COMMAND, 0x05, 0x00 };
const ProtoSenseCode SENSE_LUN_COMM_FAILURE = { SCSI_KEY_ABORTED_COMMAND, 0x08, 0x00 };
const ProtoSenseCode SENSE_I_T_NEXUS_LOSS = { SCSI_KEY_ABORTED_COMMAND, 0x29, 0x07 };
const ProtoSenseCode SENSE_COMMAND_TIMEOUT = { SCSI_KEY_ABORTED_COMMAND, 0x2e, 0x02 };
const ProtoSenseCode SENSE_COMMAND_ABORTED = { SCSI_KEY_ABORTED_COMMAND, 0x2f, 0x02 };

void proto_sense_build(uint8_t sense[PRH_SENSE_SIZE], ProtoSenseCode code) {
        memset(sense, 0, PRH_SENSE_SIZE);
        sense[0] = 0x70;                /* current error, fixed format */
        sense[2] = code.key;
        sense[7] = PRH_FIXED_SENSE_LEN - 8;
        sense[12] = code.asc;
        sense[13] = code.ascq;
}

void proto_result_init(ProtoResult *r) {
        memset(r, 0, sizeof(*r));
}

void proto_result_set_check(ProtoResult *r, ProtoSenseCode code) {
        r->status = SCSI_STATUS_CHECK_CONDITION;
        r->data_len = 0;
        proto_sense_build(r->sense, code);
}

static void result_set_status(ProtoResult *r, int32_t status) {
        r->status = status;
        r->data_len = 0;
}

void proto_result_from_errno(ProtoResult *r, int errnum) {
        switch (errnum) {
        case EDOM:
                result_set_status(r, SCSI_STATUS_TASK_SET_FULL);
                break;
        case EBADE:
                result_set_status(r, SCSI_STATUS_RESERVATION_CONFLICT);
                break;
        case ENODEV:            /* QEMU >= 10.1 (08b462dd99); 7.2 and 10.0.x map it to 0B/00/06. */
        case EREMOTEIO:
        case ENOMEM:
                proto_result_set_check(r, SENSE_TARGET_FAILURE);
                break;
        case ENODATA:
                proto_result_set_check(r, SENSE_READ_ERROR);
                break;
        case ENOMEDIUM:
                proto_result_set_check(r, SENSE_NO_MEDIUM);
                break;
        case EINVAL:
                proto_result_set_check(r, SENSE_INVALID_FIELD);
                break;
        case ENOSPC:
                proto_result_set_check(r, SENSE_SPACE_ALLOC_FAILED);
                break;
        default:
                proto_result_set_check(r, SENSE_IO_ERROR);
                break;
        }
}

bool proto_result_from_host_status(ProtoResult *r, uint16_t host_status) {
        switch (host_status) {
        case SG_HOST_NO_CONNECT:
                proto_result_set_check(r, SENSE_LUN_NOT_RESPONDING);
                return true;
        case SG_HOST_BUS_BUSY:
                result_set_status(r, SCSI_STATUS_BUSY);
                return true;
        case SG_HOST_TIME_OUT:
                proto_result_set_check(r, SENSE_COMMAND_TIMEOUT);
                return true;
        case SG_HOST_BAD_TARGET:
                proto_result_set_check(r, SENSE_LUN_COMM_FAILURE);
                return true;
        case SG_HOST_ABORT:
                proto_result_set_check(r, SENSE_COMMAND_ABORTED);
                return true;
        case SG_HOST_RESET:
                proto_result_set_check(r, SENSE_RESET);
                return true;
        case SG_HOST_TRANSPORT_DISRUPTED:
                proto_result_set_check(r, SENSE_I_T_NEXUS_LOSS);
                return true;
        case SG_HOST_TARGET_FAILURE:
                proto_result_set_check(r, SENSE_TARGET_FAILURE);
                return true;
        case SG_HOST_NEXUS_FAILURE:
                result_set_status(r, SCSI_STATUS_RESERVATION_CONFLICT);
                return true;
        case SG_HOST_ALLOC_FAILURE:
                proto_result_set_check(r, SENSE_SPACE_ALLOC_FAILED);
                return true;
        case SG_HOST_MEDIUM_ERROR:
                proto_result_set_check(r, SENSE_READ_ERROR);
                return true;
        default:
                /* Deliberate fix: the reference reports these as GOOD. */
                proto_result_set_check(r, SENSE_IO_ERROR);
                return false;
        }
}

void proto_result_from_sgio(ProtoResult *r, const ProtoSgioOutcome *o) {
        if (o->ioctl_errno != 0)
                proto_result_from_errno(r, o->ioctl_errno);
        else if (o->host_status != SG_HOST_OK)
                (void) proto_result_from_host_status(r, o->host_status);
        else if (o->driver_status & SG_DRIVER_TIMEOUT_MASK)
                result_set_status(r, SCSI_STATUS_BUSY);
        else
                r->status = o->status;  /* sense, if any, is the device's */

        if (r->status != SCSI_STATUS_GOOD) {
                r->data_len = 0;
                return;
        }

        /* A bogus resid must never produce a negative or oversized length. */
        if (o->resid <= 0)
                r->data_len = o->dxfer_len;
        else if ((uint32_t) o->resid >= o->dxfer_len)
                r->data_len = 0;
        else
                r->data_len = o->dxfer_len - (uint32_t) o->resid;
}

ProtoSenseInfo proto_sense_parse(const uint8_t *sense, uint32_t len) {
        ProtoSenseInfo info = {};

        if (len < 1)
                return info;
        switch (sense[0] & 0x7f) {
        case 0x70:
        case 0x71:
                info.valid = true;
                if (len > 2)
                        info.key = sense[2] & 0x0f;
                if (len > 12)
                        info.asc = sense[12];
                if (len > 13)
                        info.ascq = sense[13];
                break;
        case 0x72:
        case 0x73:
                info.valid = true;
                info.descriptor = true;
                if (len > 1)
                        info.key = sense[1] & 0x0f;
                if (len > 2)
                        info.asc = sense[2];
                if (len > 3)
                        info.ascq = sense[3];
                break;
        default:
                break;
        }
        return info;
}
