/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Accepting connections and the bounds a client meets: --max-connections
 * (which the daemon also derives from the fd limit, two fds per
 * connection), the per-peer (uid) bounds on connections and on requests
 * in flight, and --client-timeout for a handshake or a request left
 * incomplete.  Refusals are rate-limited log lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "server-internal.h"
#include "trace.h"

/*
 * The server cannot go on (it would silently stop accepting): end it like
 * a termination signal would, and make server_run() return the error.
 */
void server_fail(Server *s, int error) {
        int expected = 0;

        if (atomic_compare_exchange_strong(&s->failure, &expected, error))
                (void) kill(getpid(), SIGTERM);
}

static Peer *peer_get_locked(Server *s, uid_t uid) {
        Peer *p;

        for (p = s->peers; p; p = p->next)
                if (p->uid == uid)
                        return p;
        p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        p->uid = uid;
        p->next = s->peers;
        s->peers = p;
        return p;
}

void peer_unref_locked(Server *s, Peer *p) {
        if (--p->conns > 0)
                return;
        for (Peer **pp = &s->peers; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        free(p);
}

static bool peer_slot_take(Server *s, Peer *p) {
        unsigned e = atomic_load(&p->executing);

        while (e < s->config.max_requests_per_peer)
                if (atomic_compare_exchange_weak(&p->executing, &e, e + 1))
                        return true;
        return false;
}

/*
 * A parked connection holds no thread: it waits in its peer's list, unarmed,
 * until a request of that peer completes and hands it the slot.  The
 * sequentially consistent pair n_parked (here) / executing (peer_release())
 * makes sure one side sees the other.
 */
bool peer_take_or_park(Server *s, Conn *c) {
        Peer *p = c->peer;

        if (peer_slot_take(s, p))
                return true;
        pthread_mutex_lock(&s->lock);
        atomic_fetch_add(&p->n_parked, 1);
        if (peer_slot_take(s, p)) {
                atomic_fetch_sub(&p->n_parked, 1);
                pthread_mutex_unlock(&s->lock);
                return true;
        }
        c->park_next = NULL;
        if (p->parked_tail)
                p->parked_tail->park_next = c;
        else
                p->parked_head = c;
        p->parked_tail = c;
        pthread_mutex_unlock(&s->lock);
        trace(request_parked, c->id, (unsigned) p->uid);
        return false;
}

void peer_release(Server *s, Peer *p) {
        Conn *c = NULL;

        atomic_fetch_sub(&p->executing, 1);
        if (atomic_load(&p->n_parked) == 0)
                return;
        pthread_mutex_lock(&s->lock);
        if (p->parked_head && peer_slot_take(s, p)) {
                c = p->parked_head;
                p->parked_head = c->park_next;
                if (!p->parked_head)
                        p->parked_tail = NULL;
                atomic_fetch_sub(&p->n_parked, 1);
        }
        pthread_mutex_unlock(&s->lock);
        if (c) {
                /* The calling thread serves, so it drains the queue before it waits. */
                c->granted = true;
                queue_push(s, c, c, 1);
        }
}

void listener_expire(Server *s) {
        uint64_t now = now_ms();

        pthread_mutex_lock(&s->lock);
        for (Conn *c = s->conns; c; c = c->next) {
                uint64_t d = atomic_load_explicit(&c->deadline_ms, memory_order_relaxed);
                if (d != 0 && d <= now && !atomic_exchange(&c->timed_out, true))
                        /* Its owner (whoever takes the event this causes) reads EOF and closes it. */
                        (void) shutdown(c->fd, SHUT_RDWR);
        }
        pthread_mutex_unlock(&s->lock);
}

static void refuse(Server *s, int fd, const char *reason) {
        time_t now = time(NULL);

        trace(conn_reject, fd, reason);
        atomic_fetch_add_explicit(&s->conns_refused, 1, memory_order_relaxed);
        if (now != s->last_refusal_log) {
                s->last_refusal_log = now;
                log_warning("Refusing connection: %s", reason);
        }
        safe_close(fd);
}

/*
 * Take a newly accepted connection: check the bounds, send the handshake,
 * watch it.  0, or -errno once fd is closed (refused, or no handshake).
 */
int listener_adopt(Server *s, int fd, unsigned index) {
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
                refuse(s, fd, "no peer credentials");
                return -ECONNREFUSED;
        }

        Conn *c = calloc(1, sizeof *c);
        if (!c) {
                refuse(s, fd, "out of memory");
                return -ECONNREFUSED;
        }
        c->fd = fd;
        c->id = atomic_fetch_add(&s->next_id, 1) + 1;
        if (s->has_policy || s->config.audit.on) {
                /* Who it is, once: attached to its log lines and audit records. */
                c->x = calloc(1, sizeof *c->x);
                if (!c->x) {
                        refuse(s, fd, "out of memory");
                        free(c);
                        return -ECONNREFUSED;
                }
                c->x->listener = index;
                peer_info_get(fd, &c->x->peer);
        }
        proto_request_init(&c->req);
        if (s->config.client_timeout_ms > 0)
                c->deadline_ms = now_ms() + s->config.client_timeout_ms;

        const char *why = NULL;
        pthread_mutex_lock(&s->lock);
        if (s->n_conns >= s->config.max_connections)
                why = "connection limit reached (--max-connections)";
        else if (!(c->peer = peer_get_locked(s, cred.uid)))
                why = "out of memory";
        else if (c->peer->conns >= s->config.max_connections_per_peer) {
                /* The peer has connections (the bound is at least 1): it stays. */
                why = "connection limit of its user reached (--max-connections-per-peer)";
        } else
                c->peer->conns++;
        pthread_mutex_unlock(&s->lock);
        if (why) {
                if (c->x)
                        log_warning("Refusing connection from %s: %s", c->x->peer.desc, why);
                refuse(s, fd, why);
                conn_extra_free(c);
                free(c);
                return -ECONNREFUSED;
        }

        /* The helper speaks first: its supported features. */
        uint8_t hs[PRH_HANDSHAKE_SIZE];
        proto_handshake_encode(hs, PRH_SUPPORTED_FEATURES);
        if (send(fd, hs, sizeof hs, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t) sizeof hs) {
                pthread_mutex_lock(&s->lock);
                peer_unref_locked(s, c->peer);
                pthread_mutex_unlock(&s->lock);
                safe_close(fd);
                conn_extra_free(c);
                free(c);
                return -ECONNREFUSED;
        }

        atomic_fetch_add_explicit(&s->conns_total, 1, memory_order_relaxed);
        pthread_mutex_lock(&s->lock);
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        pthread_mutex_unlock(&s->lock);

        trace(conn_accept, c->id, fd);
        struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = c };
        conn_hand_over(&c->handed);
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                log_warning_errno(-errno, "Failed to watch connection: %m");
                conn_close(s, c, "epoll-error");
                return -EIO;
        }
        return 0;
}

void listener_accept(Server *s, Listener *l) {
        for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
                int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
                                /* Answer with EOF rather than leave the client hanging in the backlog. */
                                s->spare_fd = safe_close(s->spare_fd);
                                fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
                                if (fd >= 0)
                                        refuse(s, fd, "out of file descriptors");
                                s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                continue;
                        }
                        if (errno != EAGAIN) {
                                /* Out of fds with no spare, or worse: the listening socket stays
                                 * readable, so pause instead of spinning on accept() and the log. */
                                time_t now = time(NULL);
                                if (now != s->last_refusal_log) {
                                        s->last_refusal_log = now;
                                        log_warning_errno(-errno, "Failed to accept connection: %m");
                                }
                                if (s->spare_fd < 0)
                                        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                (void) nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000000L }, NULL);
                        }
                        break;
                }

                (void) listener_adopt(s, fd, l->index);
        }

        struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = l };
        conn_hand_over(&l->handed);
        if (!atomic_load_explicit(&s->terminating, memory_order_relaxed) &&
            epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, l->fd, &ev) < 0)
                server_fail(s, log_error_errno(-errno, "Failed to watch the listening socket again: %m"));
}

