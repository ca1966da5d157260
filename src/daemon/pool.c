/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker threads: they share one epoll set, take events (several only
 * while another thread serves), queue what they do not handle at once,
 * and hold an execution slot while a request is in the backend.  See
 * server.c for the design.
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


static bool slot_take(Server *s) {
        unsigned e = atomic_load(&s->executing);

        while (e < s->config.max_requests)
                if (atomic_compare_exchange_weak(&s->executing, &e, e + 1))
                        return true;
        return false;
}

/* Threads blocked in the backend, with a general slot or in the multipath lane. */
static unsigned blocked(Server *s) {
        return atomic_load(&s->executing) + atomic_load(&s->mpath_executing);
}

/*
 * Called before a request enters the backend, where SG_IO may block for
 * seconds.  A multipath request holds the multipath lane instead of a
 * general slot: libmpathpersist runs one call at a time, and a slow map
 * must not take slots from plain devices (the pool has one thread more
 * for it).  The atomics are sequentially consistent: each of the pairs
 * serving/queued (with worker()) and executing/threads (with
 * thread_exit_locked()) is written by one side and read by the other in the
 * opposite order, so that at least one side sees the other's change.
 */
void pool_block(Server *s, bool multipath) {
        if (atomic_fetch_sub(&s->serving, 1) == 1 && atomic_load(&s->queued) > 0)
                (void) eventfd_write(s->kick_fd, 1);

        /* At most max_requests execute at once; the rest wait here for a slot. */
        if (multipath)
                atomic_fetch_add(&s->mpath_executing, 1);
        else if (!slot_take(s)) {
                pthread_mutex_lock(&s->lock);
                atomic_fetch_add(&s->slot_waiters, 1);
                while (!slot_take(s))
                        pthread_cond_wait(&s->slot, &s->lock);
                atomic_fetch_sub(&s->slot_waiters, 1);
                pthread_mutex_unlock(&s->lock);
        }

        if (blocked(s) >= atomic_load(&s->threads)) {
                pthread_mutex_lock(&s->lock);
                if (blocked(s) >= atomic_load(&s->threads))
                        pool_spawn_locked(s);
                pthread_mutex_unlock(&s->lock);
        }
}

void pool_unblock(Server *s, bool multipath) {
        if (multipath) {
                atomic_fetch_sub(&s->mpath_executing, 1);
                atomic_fetch_add(&s->serving, 1);
                return;
        }
        atomic_fetch_sub(&s->executing, 1);
        if (atomic_load(&s->slot_waiters) > 0) {
                pthread_mutex_lock(&s->lock);
                pthread_cond_signal(&s->slot);
                pthread_mutex_unlock(&s->lock);
        }
        atomic_fetch_add(&s->serving, 1);
}

bool pool_mpath_take_or_park(Server *s, Conn *c) {
        bool ok;

        pthread_mutex_lock(&s->lock);
        ok = !s->mpath_busy;
        if (ok)
                s->mpath_busy = true;
        else {
                c->park_next = NULL;
                if (s->mpath_parked_tail)
                        s->mpath_parked_tail->park_next = c;
                else
                        s->mpath_parked_head = c;
                s->mpath_parked_tail = c;
        }
        pthread_mutex_unlock(&s->lock);
        if (!ok)
                trace(request_parked, c->id, (unsigned) c->peer->uid);
        return ok;
}

void pool_mpath_release(Server *s) {
        Conn *c;

        pthread_mutex_lock(&s->lock);
        c = s->mpath_parked_head;
        if (c) {
                /* Handed on: the lane stays taken. */
                s->mpath_parked_head = c->park_next;
                if (!s->mpath_parked_head)
                        s->mpath_parked_tail = NULL;
        } else
                s->mpath_busy = false;
        pthread_mutex_unlock(&s->lock);
        if (c) {
                c->mpath_granted = true;
                queue_push(s, c, c, 1);
        }
}


void queue_push(Server *s, Conn *first, Conn *last, unsigned n) {
        last->queue_next = NULL;
        pthread_mutex_lock(&s->queue_lock);
        if (s->queue_tail)
                s->queue_tail->queue_next = first;
        else
                s->queue_head = first;
        s->queue_tail = last;
        atomic_fetch_add(&s->queued, n);
        pthread_mutex_unlock(&s->queue_lock);
}

static Conn *queue_pop(Server *s) {
        Conn *c;

        if (atomic_load(&s->queued) == 0)
                return NULL;
        pthread_mutex_lock(&s->queue_lock);
        c = s->queue_head;
        if (c) {
                s->queue_head = c->queue_next;
                if (!s->queue_head)
                        s->queue_tail = NULL;
                atomic_fetch_sub(&s->queued, 1);
        }
        pthread_mutex_unlock(&s->queue_lock);
        return c;
}

/*
 * A thread whose wait timed out (or that saw termination) asks to end; under
 * lock.  When it may, it is no longer counted in s->threads.
 */
static bool thread_exit_locked(Server *s, bool timed_out) {
        if (atomic_load(&s->terminating)) {
                atomic_fetch_sub(&s->threads, 1);
                return true;
        }
        if (!timed_out || atomic_load(&s->threads) <= s->config.min_threads)
                return false;
        /* Leave at least one thread that is not executing (the other half of pool_block()). */
        if (atomic_fetch_sub(&s->threads, 1) - 1 > blocked(s))
                return true;
        atomic_fetch_add(&s->threads, 1);
        return false;
}

/*
 * Handle what one epoll_wait returned: the first connection here, after the
 * others are queued and new connections accepted, since it may block.
 */
static void worker_dispatch(Server *s, const struct epoll_event *ev, int n) {
        Conn *mine = NULL, *first = NULL, *last = NULL;
        unsigned n_queued = 0;
        Listener *accept[8];
        unsigned n_accept = 0;
        bool admin = false;

        for (int i = 0; i < n; i++) {
                void *p = ev[i].data.ptr;
                Listener *l = listener_of(s, p);

                if (l) {
                        conn_take_over(&l->handed);
                        /* EPOLLERR without EPOLLIN: accept() below reports the error. */
                        if (n_accept < ELEMENTSOF(accept))
                                accept[n_accept++] = l;
                        else
                                listener_accept(s, l);
                } else if (p == &tag_admin) {
                        conn_take_over(&s->admin_handed);
                        admin = true;
                } else if (p && p != &tag_wake && p != &tag_kick) {
                        Conn *c = p;

                        conn_take_over(&c->handed);
                        c->revents = ev[i].events;
                        if (!mine)
                                mine = c;
                        else {
                                if (last)
                                        last->queue_next = c;
                                else
                                        first = c;
                                last = c;
                                n_queued++;
                        }
                }
        }
        if (first)
                queue_push(s, first, last, n_queued);
        for (unsigned i = 0; i < n_accept; i++)
                listener_accept(s, accept[i]);
        if (admin)
                admin_accept(s);
        if (mine)
                conn_process(s, mine);
}

static void *worker(void *userdata) {
        Server *s = userdata;

        (void) stats_thread_register(s);
        atomic_fetch_add(&s->serving, 1);
        for (;;) {
                struct epoll_event ev[EVENTS_PER_WAIT];
                Conn *c = queue_pop(s);
                bool alone;
                int n;

                if (c) {
                        conn_process(s, c);
                        continue;
                }

                /* Leave "serving", then look again: either we see what another thread queued, or
                 * that thread sees us gone when it blocks and kicks (see pool_block()). */
                alone = atomic_fetch_sub(&s->serving, 1) == 1;
                if (atomic_load(&s->queued) > 0) {
                        atomic_fetch_add(&s->serving, 1);
                        continue;
                }
                n = epoll_wait(s->epoll_fd, ev, alone ? 1 : EVENTS_PER_WAIT, THREAD_IDLE_EXIT_MS);

                if (n <= 0 || atomic_load_explicit(&s->terminating, memory_order_relaxed)) {
                        pthread_mutex_lock(&s->lock);
                        bool end = thread_exit_locked(s, n == 0);
                        if (end) {
                                /* before s->lock is released: server_run() may free s then */
                                stats_thread_unregister(s);
                                pthread_cond_broadcast(&s->cond);
                        }
                        pthread_mutex_unlock(&s->lock);
                        if (end)
                                return NULL;
                }
                atomic_fetch_add(&s->serving, 1);
                worker_dispatch(s, ev, n);
        }
}

void pool_spawn_locked(Server *s) {
        pthread_t t;

        if (atomic_load(&s->terminating) || atomic_load(&s->threads) >= s->config.max_requests + 2)
                return;
        /* Counted from now on; it counts itself as serving when it runs, and takes the queue then. */
        atomic_fetch_add(&s->threads, 1);
        if (pthread_create(&t, &s->attr, worker, s) != 0) {
                atomic_fetch_sub(&s->threads, 1);
                log_warning("Failed to start a worker thread; %u running", atomic_load(&s->threads));
        }
}

