/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's start-up sequence (house-style checklist): adopt or bind
 * the socket, daemonize through a readiness pipe, pidfile, privilege drop,
 * readiness, serve.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct DaemonConfig {
        const char *socket_path;        /* NULL: default */
        const char *pidfile_path;       /* NULL: default, used only with -d */
        bool socket_given;              /* -k */
        bool pidfile_given;             /* -f */
        bool daemonize;                 /* -d */
        bool uid_given, gid_given;
        uid_t uid;
        gid_t gid;
        int verbose;                    /* reference "verbose": 0..3 */
        uint32_t sgio_timeout_ms;
        unsigned max_connections;
        bool max_connections_given;     /* explicit: warn if the fd limit lowers it */
        unsigned max_requests;
        unsigned shutdown_timeout_ms;
        unsigned client_timeout_ms;
        unsigned max_connections_per_peer;      /* 0: three quarters of max_connections */
        unsigned max_requests_per_peer;         /* 0: three quarters of max_requests */
        bool multipath;
        bool unsafe_any_fd;             /* --unsafe-any-fd: no fd check (testing only) */
        int seccomp;                    /* SandboxMode */
        const char *config_path;        /* --config: per-socket policy; NULL none */
        const char *const *socket_paths;/* with a configuration: every -k (socket_path is the last) */
        size_t n_socket_paths;
        const char *audit_log;          /* --audit-log target; NULL none */
        bool audit_pr_in;
        bool audit_redact_keys;
        const char *admin_socket;       /* --admin-socket; NULL none */
} DaemonConfig;

/* Returns the process exit status. */
int daemon_run(const DaemonConfig *config);
