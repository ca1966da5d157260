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

#ifdef __cplusplus
}
#endif
