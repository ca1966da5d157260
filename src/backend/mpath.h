/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent reservations on dm-multipath maps through libmpathpersist,
 * loaded with dlopen() so that one binary runs on hosts with and without
 * multipath-tools (docs/protocol.md, "Multipath"; docs/multipath.md).
 */
#pragma once

#include <stdint.h>

#include "scsi.h"

typedef struct Mpath Mpath;

/*
 * Activate multipath support: load the library, initialise it, open
 * /dev/mapper/control.  Returns 0, or -errno when unavailable (the caller
 * logs once and serves plain SCSI devices).
 */
int mpath_new(int verbose, Mpath **ret);
Mpath *mpath_free(Mpath *m);

/* 1 if fd is a dm-multipath map, 0 if not, -errno on a detection error (per request, never fatal). */
int mpath_detect(Mpath *m, int fd);

/* Carry out a PR IN / PR OUT on a multipath fd; same contract as backend_execute(). */
void mpath_execute(Mpath *m, int fd, const uint8_t cdb[16], const uint8_t *data, uint32_t xfer_len,
                   uint8_t *inbuf, uint32_t sgio_timeout_ms, ProtoResult *ret);
