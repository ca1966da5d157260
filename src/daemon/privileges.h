/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Privilege drop with libcap-ng, then a read-back from the kernel
 * (/proc/self/status) that refuses to continue if the result is not exactly
 * what was asked.  Must run before any other thread exists (capabilities
 * are per thread).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct PrivilegeRequest {
        bool change_id;                 /* -u/-g given, or running as root */
        uid_t uid;
        gid_t gid;
        bool keep_sys_admin;            /* multipath support active */
} PrivilegeRequest;

int privileges_drop(const PrivilegeRequest *req);

/* Parse a "CapXxx:" or "Uid:" style line set of /proc/<pid>/status; exposed for tests. */
int privileges_read_status(const char *status_text, uint64_t *ret_eff, uint64_t *ret_prm, uint64_t *ret_bnd,
                           uint64_t *ret_inh, uint64_t *ret_amb);
