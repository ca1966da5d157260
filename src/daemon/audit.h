/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit trail: who a connection's peer is (SO_PEERCRED and /proc, at
 * accept), which device a request's fd is (fstat, sysfs, /proc/self/fd),
 * and one record per PR OUT (and per PR IN with --audit-pr-in), as JSON
 * lines to a file or as structured fields to the journal (native protocol).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "scsi.h"

typedef struct PeerInfo {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        char *exe;                      /* NULL where /proc does not say */
        char *comm;
        char *cgroup;
        char desc[96];                  /* "pid P uid U gid G" for log lines */
} PeerInfo;

typedef struct DevInfo {
        bool valid;                     /* fstat worked */
        bool block;
        unsigned major, minor;
        char wwid[256];                 /* "" if sysfs has none */
        char path[256];                 /* "" if unknown */
} DevInfo;

typedef struct Audit {
        bool on;                        /* records are written (a zeroed Audit has none) */
        int fd;                         /* JSON lines file or connected journal socket */
        bool journal;
        bool pr_in;                     /* records for PR IN too */
        bool redact;                    /* keys as "redacted" */
} Audit;

static inline bool audit_is_journal(const char *target) {
        return strcmp(target, "journal") == 0 || strncmp(target, "journal:", 8) == 0;
}

/* "journal", "journal:SOCKET" or a file path (opened O_APPEND, created 0600). -errno, logged. */
int audit_open(Audit *a, const char *target);
void audit_close(Audit *a);

/* Fill p from SO_PEERCRED of fd and from /proc (exe, cgroup: where readable). */
void peer_info_get(int fd, PeerInfo *p);
void peer_info_free(PeerInfo *p);

/* Identify the device behind a request's fd. */
void dev_info_get(int fd, DevInfo *d);

typedef struct AuditRecord {
        unsigned conn_id;
        const char *socket;             /* listening socket's name */
        const PeerInfo *peer;
        const DevInfo *dev;
        const uint8_t *cdb;
        const uint8_t *data;            /* PR OUT parameter list, or NULL */
        uint32_t data_len;
        const ProtoResult *res;
        const char *denied_by;          /* policy rule, or NULL */
        uint64_t duration_us;
} AuditRecord;

void audit_emit(const Audit *a, const AuditRecord *r);
