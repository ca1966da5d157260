/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request server: accepts connections on the listening socket and
 * serves the pr-helper protocol on each, executing requests on a bounded
 * pool of threads so that a device that blocks in SG_IO holds only its own
 * connection.  See docs/design.md for why the pool shares one epoll set.
 */
#pragma once

#include <stdint.h>

#include "audit.h"
#include "backend.h"
#include "policy.h"

/* A listening socket besides the first (repeated -k, several activated fds). */
typedef struct ServerListener {
        int fd;
        const char *name;               /* its policy's key: the -k path or the LISTEN_FDNAMES name */
        const char *unlink_path;        /* NULL: activated */
} ServerListener;

typedef struct ServerConfig {
        int listen_fd;
        const char *unlink_path;        /* socket to remove at exit (NULL: activated) */
        const char *listen_name;        /* its policy's key */
        const ServerListener *more_listeners;
        size_t n_more_listeners;
        int admin_fd;                   /* admin socket (stats), or -EBADF; 0 is taken as none */
        const char *admin_unlink_path;
        const char *config_path;        /* policy configuration, reloaded on SIGHUP; NULL: none */
        Policy *policy;                 /* loaded from it; the server owns it */
        Audit audit;                    /* !audit.on: no records */
        unsigned max_connections;
        unsigned max_requests;          /* threads executing requests at once */
        unsigned max_connections_per_peer;      /* per uid (SO_PEERCRED) */
        unsigned max_requests_per_peer;         /* per uid: executing or waiting for a slot */
        unsigned client_timeout_ms;     /* to complete the handshake or a started request; 0: none */
        unsigned min_threads;
        unsigned shutdown_timeout_ms;   /* grace period for requests and replies at termination */
        int verbose;                    /* 0: no per-connection messages */
        Backend *backend;
} ServerConfig;

/*
 * Serve until SIGTERM, SIGINT or SIGHUP (which the caller has blocked in
 * every thread); with a configuration file, SIGHUP reloads it instead.  Then stop accepting, remove the socket, let requests in
 * flight finish and their replies go out, drop idle connections, return 0.
 * If that takes longer than shutdown_timeout_ms, log the connections
 * dropped and return 1: threads still run, so the caller must exit without
 * freeing what they use (the backend).  -errno if serving failed.
 * ready() is called once the threads run (readiness notification).
 */
int server_run(const ServerConfig *config, void (*ready)(void *userdata), void *userdata);
