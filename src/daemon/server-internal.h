/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request server's shared state, for its parts: conn.c (one
 * connection's protocol state machine), pool.c (the worker threads, the
 * event queue and the execution slots), listener.c (accepting and the
 * limits on connections) and server.c (start and termination).  Locking
 * and ownership are described in server.c.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <time.h>

#include "audit.h"
#include "server.h"
#include "stats.h"
#include "wire.h"

#define ACCEPTS_PER_WAKEUP 64
#define EVENTS_PER_WAIT 16
#define THREAD_IDLE_EXIT_MS 30000

typedef enum ConnState {
        CONN_HANDSHAKE = 0,
        CONN_REQUEST,
} ConnState;

typedef struct Conn Conn;

/* A listening socket; its address is the epoll tag. */
typedef struct Listener {
        int fd;
        unsigned index;                 /* in s->listeners, and in Policy.by_socket */
        const char *name;
        const char *unlink_path;
        atomic_bool handed;             /* see conn_hand_over() */
} Listener;

/* Who a connection's peer is and where it came in; only with a policy or audit records. */
typedef struct ConnExtra {
        PeerInfo peer;
        unsigned listener;
} ConnExtra;

/*
 * A client uid (SO_PEERCRED at accept), for the per-peer bounds.  Exists
 * while it has connections; under s->lock except the atomics.
 */
typedef struct Peer {
        uid_t uid;
        unsigned conns;
        atomic_uint executing;          /* requests holding one of this peer's slots */
        atomic_uint n_parked;
        Conn *parked_head, *parked_tail;/* complete requests waiting for one of them */
        struct Peer *next;
} Peer;

struct Conn {
        int fd;
        unsigned id;
        uint8_t state;                  /* ConnState, in a byte to keep the struct small (144 bytes) */
        uint8_t hs[PRH_HANDSHAKE_SIZE];
        uint8_t hs_have;
        atomic_bool handed;             /* see conn_hand_over() */
        ProtoRequest req;
        uint32_t revents;               /* what epoll reported, for conn_process() */
        atomic_bool busy;               /* its request is executing (for the shutdown log) */
        bool granted;                   /* parked, then given a peer slot: execute at once */
        bool mpath_granted;             /* parked, then given the multipath lane: execute at once */
        int16_t lane;                   /* of the complete request: backend_classify() */
        Peer *peer;
        ConnExtra *x;                   /* NULL without a policy or audit records */
        struct Conn *park_next;         /* peer->parked_head or s->mpath_parked_head */
        _Atomic uint64_t deadline_ms;   /* handshake or started request must complete by then; 0 none */
        atomic_bool timed_out;
        uint8_t *out;                   /* unsent reply bytes, if the socket would block */
        size_t out_len, out_off;
        struct Conn *prev, *next;       /* s->conns */
        struct Conn *queue_next;        /* s->queue_head */
};

typedef struct Server {
        ServerConfig config;
        int epoll_fd;
        int wake_fd;                    /* eventfd: wakes every thread at shutdown */
        int kick_fd;                    /* eventfd, edge-triggered: wakes one thread for the queue */
        int spare_fd;                   /* released to accept and refuse when out of fds */

        pthread_mutex_t lock;           /* conns, starting and ending threads, slot waits */
        pthread_cond_t cond;            /* a thread ended */
        pthread_cond_t slot;            /* an execution slot became free */
        atomic_bool terminating;
        atomic_int failure;             /* -errno that ends the server (listening socket lost) */
        atomic_uint threads;            /* worker threads alive (changed under lock) */
        atomic_uint serving;            /* threads neither in epoll_wait nor blocked */
        atomic_uint executing;          /* threads holding an execution slot */
        atomic_uint slot_waiters;       /* threads waiting for one (changed under lock) */
        atomic_uint mpath_executing;    /* threads in the multipath lane: 0 or 1, no general slot */
        bool mpath_busy;                /* the lane is taken (under lock) */
        Conn *mpath_parked_head, *mpath_parked_tail; /* complete multipath requests waiting for it */
        unsigned n_conns;
        Conn *conns;
        Peer *peers;
        pthread_attr_t attr;

        pthread_mutex_t queue_lock;
        Conn *queue_head, *queue_tail;  /* taken from epoll, not yet handled */
        atomic_uint queued;
        atomic_bool accept_handed;      /* see conn_hand_over() */

        atomic_uint next_id;
        time_t last_refusal_log;
        /* Denial warnings: a burst of DENIAL_LOG_BURST, then one a second; the rest counted (the audit records have each one). */
        pthread_mutex_t denial_log_lock;
        double denial_log_tokens;
        int64_t denial_log_ms;
        unsigned denials_unlogged;

        Listener *listeners;            /* the QEMU-facing sockets */
        unsigned n_listeners;
        atomic_bool admin_handed;

        pthread_rwlock_t policy_lock;   /* taken for reading per request only with a configuration */
        Policy *policy;
        bool has_policy;                /* constant: a configuration is in force */

        /* counters (stats.h) */
        pthread_mutex_t stats_lock;     /* the lists below */
        ThreadStats *thread_stats;      /* of live threads */
        ThreadStats stats_retired;      /* of ended threads, and of requests outside worker threads */
        atomic_ullong conns_total, conns_refused;
        _Atomic uint64_t slow_threshold_us;
        SlowDevice slow[STATS_SLOW_DEVICES];
} Server;

/* Tags in epoll_event.data.ptr for the non-connection fds (server.c). */
extern char tag_admin, tag_wake, tag_kick;

/*
 * Per-connection errors are shown unless -q, like the reference's "verbose"
 * messages; with a policy or audit records, with who the peer is.
 */
#define conn_log(s, c, error, fmt, ...)                                                         \
        do {                                                                                    \
                if ((s)->config.verbose >= 1) {                                                 \
                        if ((c)->x)                                                             \
                                (void) log_error_errno((error), fmt " [connection %u, %s]",     \
                                                       ##__VA_ARGS__, (c)->id, (c)->x->peer.desc); \
                        else                                                                    \
                                (void) log_error_errno((error), fmt, ##__VA_ARGS__);            \
                }                                                                               \
        } while (0)

uint64_t now_ms(void);

/* conn.c */
void conn_extra_free(Conn *c);
void conn_free_locked(Server *s, Conn *c);
void conn_close(Server *s, Conn *c, const char *reason);
void conn_hand_over(atomic_bool *handed);
void conn_take_over(atomic_bool *handed);
int conn_arm(Server *s, Conn *c, uint32_t events);
int conn_flush(Conn *c);
/* Handle readiness on a connection (c->revents); returns with it re-armed, parked or freed. */
void conn_process(Server *s, Conn *c);

/* pool.c */
void pool_spawn_locked(Server *s);
/*
 * Around a request's execution: leave "serving", take an execution slot
 * (or, for the multipath lane, which the caller holds, none); give it back.
 */
void pool_block(Server *s, bool multipath);
void pool_unblock(Server *s, bool multipath);
/* The multipath lane (one request at a time): take it, or park c until it is free (false); give it back. */
bool pool_mpath_take_or_park(Server *s, Conn *c);
void pool_mpath_release(Server *s);
void queue_push(Server *s, Conn *first, Conn *last, unsigned n);

/* server.c: the state without threads (listen_fd < 0: none), as the fuzzer uses it too. */
int server_new(const ServerConfig *config, Server **ret);
Server *server_free(Server *s);

/* listener.c */
void listener_accept(Server *s, Listener *l);
/* fd accepted on listener index (0 for the first). */
int listener_adopt(Server *s, int fd, unsigned index);
static inline Listener *listener_of(Server *s, void *p) {
        return (char *) p >= (char *) s->listeners && (char *) p < (char *) (s->listeners + s->n_listeners)
                ? (Listener *) p : NULL;
}
/* Per-peer request slots: take one, or park c until one is free (false); give one back. */
bool peer_take_or_park(Server *s, Conn *c);
void peer_release(Server *s, Peer *p);
void peer_unref_locked(Server *s, Peer *p);
/* Shut down connections past their --client-timeout deadline (called about once a second). */
void listener_expire(Server *s);
/* End the server with error (< 0) as a termination signal would. */
void server_fail(Server *s, int error);

/* admin.c: answer every waiting admin connection with a snapshot (JSON), re-arm. */
void admin_accept(Server *s);
/* The calling worker thread's counters (registered on its first request); NULL outside workers. */
ThreadStats *stats_thread_register(Server *s);
void stats_thread_unregister(Server *s);
extern __thread ThreadStats *stats_mine;
/* A request took us microseconds on fd: keep the slowest devices. */
void stats_slow_request(Server *s, int fd, uint64_t us);
