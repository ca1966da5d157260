/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request server's start and termination (server_run()), and the
 * design its parts share (conn.c, pool.c, listener.c):
 *
 * Threads share one epoll set; every connection is registered EPOLLONESHOT,
 * so exactly one thread owns a connection from the wakeup until it re-arms
 * or closes it.  The thread that completes a request also executes it (no
 * hand-off, no extra context switch); when the last thread not executing a
 * request is about to block in SG_IO, another one is started, up to
 * max_requests.  A stalled device therefore holds one thread and one
 * connection, nothing else.
 *
 * A thread is "serving" unless it waits in epoll_wait or is blocked
 * (executing, or waiting for an execution slot).  Events a thread has taken
 * but not yet handled wait in a FIFO queue that every serving thread drains
 * before it waits, so they never wait behind a thread blocked in SG_IO:
 * the last serving thread to block with events queued kicks one waiting
 * thread (an edge-triggered eventfd in the epoll set).  A thread takes
 * several events per epoll_wait only while another one is serving, which
 * will take them if it blocks; alone, it takes one, because the kick it
 * would then need costs more than the epoll_wait it saves.  The counters
 * of this hot path are atomics; s->lock is taken only to start and end
 * threads, to wait for an execution slot and for the connection list.
 *
 * Per connection the state is small (no buffers while idle): the PR OUT
 * parameter buffer exists only while a PR OUT is being received, and a
 * reply is buffered only if the socket would block.  PR IN data goes to a
 * per-thread buffer.
 *
 * Reads are exactly what the request parser asks for, so fds are
 * attributed to CDB bytes exactly as by the reference.
 */
#include <assert.h>
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

char tag_admin, tag_wake, tag_kick;

uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/*
 * At termination, once no thread runs: write the replies still buffered
 * (their clients were slow to read) until the deadline; free each
 * connection once its reply is out or its peer is gone.
 */
static void flush_buffered(Server *s, uint64_t deadline) {
        for (;;) {
                struct pollfd pfd[64];
                Conn *who[64];
                nfds_t n = 0;
                uint64_t now = now_ms();
                int r;

                for (Conn *c = s->conns; c && n < ELEMENTSOF(pfd); c = c->next)
                        if (c->out) {
                                pfd[n] = (struct pollfd) { .fd = c->fd, .events = POLLOUT };
                                who[n++] = c;
                        }
                if (n == 0 || now >= deadline)
                        return;
                r = poll(pfd, n, (int) MIN(deadline - now, (uint64_t) INT_MAX));
                if (r < 0 && errno != EINTR)
                        return;
                for (nfds_t i = 0; r > 0 && i < n; i++)
                        if (pfd[i].revents && conn_flush(who[i]) != 0) {
                                trace(conn_close, who[i]->id, "terminating");
                                conn_free_locked(s, who[i]);
                        }
        }
}

/*
 * The grace period is over: name the connections still holding a request
 * or a reply, and end every connection for its client (shutdown(), since a
 * thread may still use the fd).  Nothing is freed, so that a thread
 * returning from the kernel now finds its state intact until the process
 * exits.  The process ends when the last such thread leaves the kernel: a
 * thread in SG_IO, or in a FUSE request the server has already taken,
 * waits uninterruptibly, even for SIGKILL.
 */
static void log_abandoned_locked(Server *s, unsigned timeout_ms) {
        unsigned stuck = 0, buffered = 0;

        for (Conn *c = s->conns; c; c = c->next)
                (void) shutdown(c->fd, SHUT_RDWR);
        for (Conn *c = s->conns; c; c = c->next)
                if (atomic_load(&c->busy)) {
                        log_warning("Dropping connection %u: its request has not completed", c->id);
                        stuck++;
                } else if (c->out)
                        buffered++;
        log_warning("Exiting %u ms after the termination request with %u request(s) stuck in the kernel "
                    "and %u unsent repl%s (--shutdown-timeout).",
                    timeout_ms, stuck, buffered, buffered == 1 ? "y" : "ies");
}

Server *server_free(Server *s) {
        if (!s)
                return NULL;
        /* the last connection of a peer frees it */
        for (Conn *c = s->conns, *next; c; c = next) {
                next = c->next;
                conn_free_locked(s, c);
        }
        safe_close(s->spare_fd);
        free(s->listeners);
        policy_free(s->policy);
        pthread_rwlock_destroy(&s->policy_lock);
        safe_close(s->kick_fd);
        safe_close(s->wake_fd);
        safe_close(s->epoll_fd);
        pthread_cond_destroy(&s->cond);
        free(s);
        return NULL;
}

int server_new(const ServerConfig *config, Server **ret) {
        Server *s = calloc(1, sizeof *s);
        pthread_condattr_t ca;
        int r;

        if (!s)
                return log_error_errno(-ENOMEM, "Out of memory");
        *s = (Server) {
                .config = *config,
                .epoll_fd = -EBADF,
                .wake_fd = -EBADF,
                .kick_fd = -EBADF,
                .spare_fd = -EBADF,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .queue_lock = PTHREAD_MUTEX_INITIALIZER,
                .slot = PTHREAD_COND_INITIALIZER,
                .stats_lock = PTHREAD_MUTEX_INITIALIZER,
                .denial_log_lock = PTHREAD_MUTEX_INITIALIZER,
                .policy = config->policy,
        };
        pthread_rwlock_init(&s->policy_lock, NULL);
        s->config.policy = NULL;        /* s->policy owns it */
        s->has_policy = s->policy != NULL;
        /* Thread ends are waited for with a deadline on the monotonic clock. */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);

        if (s->config.min_threads < 1)
                s->config.min_threads = 1;
        if (s->config.max_requests < 1)
                s->config.max_requests = 1;
        if (s->config.max_connections < 1)
                s->config.max_connections = 1;
        if (s->config.max_requests_per_peer < 1 || s->config.max_requests_per_peer > s->config.max_requests)
                s->config.max_requests_per_peer = s->config.max_requests;
        if (s->config.max_connections_per_peer < 1 || s->config.max_connections_per_peer > s->config.max_connections)
                s->config.max_connections_per_peer = s->config.max_connections;

        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->epoll_fd < 0 || s->wake_fd < 0 || s->kick_fd < 0) {
                r = log_error_errno(-errno, "Failed to set up the event loop: %m");
                goto fail;
        }
        struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &tag_wake };
        /* Edge-triggered: every write is one event for one thread, and the counter is never read. */
        struct epoll_event kev = { .events = EPOLLIN | EPOLLET, .data.ptr = &tag_kick };
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wev) < 0 ||
            epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->kick_fd, &kev) < 0) {
                r = log_error_errno(-errno, "Failed to set up the event loop: %m");
                goto fail;
        }
        s->listeners = calloc(1 + s->config.n_more_listeners, sizeof *s->listeners);
        if (!s->listeners) {
                r = log_error_errno(-ENOMEM, "Out of memory");
                goto fail;
        }
        if (s->config.listen_fd >= 0)
                s->listeners[s->n_listeners++] = (Listener) {
                        .fd = s->config.listen_fd,
                        .name = s->config.listen_name ? s->config.listen_name : "",
                        .unlink_path = s->config.unlink_path,
                };
        for (size_t i = 0; i < s->config.n_more_listeners; i++)
                s->listeners[s->n_listeners++] = (Listener) {
                        .fd = s->config.more_listeners[i].fd,
                        .name = s->config.more_listeners[i].name,
                        .unlink_path = s->config.more_listeners[i].unlink_path,
                };
        for (unsigned i = 0; i < s->n_listeners; i++) {
                Listener *l = &s->listeners[i];
                struct epoll_event lev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = l };

                l->index = i;
                r = fd_set_nonblock(l->fd, true);
                if (r < 0) {
                        log_error_errno(r, "Failed to make the listening socket non-blocking: %m");
                        goto fail;
                }
                if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, l->fd, &lev) < 0) {
                        r = log_error_errno(-errno, "Failed to watch the listening socket: %m");
                        goto fail;
                }
        }
        if (s->config.admin_fd > 0) {
                struct epoll_event aev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &tag_admin };
                r = fd_set_nonblock(s->config.admin_fd, true);
                if (r < 0) {
                        log_error_errno(r, "Failed to make the admin socket non-blocking: %m");
                        goto fail;
                }
                if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->config.admin_fd, &aev) < 0) {
                        r = log_error_errno(-errno, "Failed to watch the admin socket: %m");
                        goto fail;
                }
        }
        *ret = s;
        return 0;

fail:
        server_free(s);
        return r;
}

/*
 * SIGHUP with a configuration: read it again and swap the policy under the
 * write lock; connections stay, and each request is judged by the policy
 * current when it completes.  A configuration that does not load leaves
 * the old one in force.  Runs under the seccomp filter: json-c reads the
 * file with openat/read/close, which the allow-list has.
 */
static void server_reload(Server *s) {
        const char **names = calloc(s->n_listeners + 1, sizeof *names);
        Policy *p = NULL, *old;
        int r;

        if (!names) {
                log_error_errno(-ENOMEM, "Out of memory");
                return;
        }
        for (unsigned i = 0; i < s->n_listeners; i++)
                names[i] = s->listeners[i].name;
        r = policy_load(s->config.config_path, names, s->n_listeners, &p);
        free(names);
        if (r < 0) {
                log_error("Keeping the previous configuration: %s did not load", s->config.config_path);
                return;
        }
        pthread_rwlock_wrlock(&s->policy_lock);
        old = s->policy;
        s->policy = p;
        pthread_rwlock_unlock(&s->policy_lock);
        policy_free(old);
        log_notice("Reloaded configuration %s", s->config.config_path);
}

int server_run(const ServerConfig *config, void (*ready)(void *userdata), void *userdata) {
        Server *s = NULL;
        struct timespec ts;
        sigset_t ss;
        uint64_t deadline;
        int sig, r;

        r = server_new(config, &s);
        if (r < 0)
                return r;
        assert(s);      /* for clang's analyzer: server_new() sets it on success */

        /* Small stacks: a worker needs a few KiB beyond the TLS buffer. */
        pthread_attr_init(&s->attr);
        pthread_attr_setstacksize(&s->attr, (size_t) 256 * 1024);
        pthread_attr_setdetachstate(&s->attr, PTHREAD_CREATE_DETACHED);

        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < s->config.min_threads; i++)
                pool_spawn_locked(s);
        pthread_mutex_unlock(&s->lock);
        if (atomic_load(&s->threads) == 0) {
                r = log_error_errno(-EAGAIN, "Failed to start worker threads");
                goto finish;
        }

        if (ready)
                ready(userdata);

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        /* Wake to end connections past --client-timeout: late by at most a quarter of it (or 1 s). */
        unsigned every_ms = MIN(MAX(s->config.client_timeout_ms / 4, 50u), 1000u);
        struct timespec expire_every = { .tv_sec = every_ms / 1000u, .tv_nsec = (long) (every_ms % 1000u) * 1000000L };
        for (;;) {
                sig = sigtimedwait(&ss, NULL, &expire_every);
                if (sig == SIGHUP && s->config.config_path) {
                        server_reload(s);
                        continue;
                }
                if (sig >= 0)
                        break;
                if (errno == EAGAIN && s->config.client_timeout_ms > 0)
                        listener_expire(s);
        }
        log_debug("Received signal %d, terminating.", sig);
        deadline = now_ms() + s->config.shutdown_timeout_ms;

        /* Stop accepting at once and remove the sockets we created. */
        atomic_store(&s->terminating, true);
        for (unsigned i = 0; i < s->n_listeners; i++) {
                Listener *l = &s->listeners[i];
                (void) epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, l->fd, NULL);
                if (l->unlink_path && unlink(l->unlink_path) < 0 && errno != ENOENT)
                        log_warning_errno(-errno, "Failed to unlink socket %s: %m", l->unlink_path);
        }
        if (s->config.admin_fd > 0) {
                (void) epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->config.admin_fd, NULL);
                if (s->config.admin_unlink_path && unlink(s->config.admin_unlink_path) < 0 && errno != ENOENT)
                        log_warning_errno(-errno, "Failed to unlink socket %s: %m", s->config.admin_unlink_path);
        }

        /* Wake every idle thread; busy ones finish their request and reply first, within the
         * grace period. */
        (void) eventfd_write(s->wake_fd, 1);
        ts = (struct timespec) { .tv_sec = (time_t) (deadline / 1000u), .tv_nsec = (long) (deadline % 1000u) * 1000000L };
        pthread_mutex_lock(&s->lock);
        while (atomic_load(&s->threads) > 0)
                if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
                        break;
        if (atomic_load(&s->threads) > 0) {
                /* s, the connections and the backend stay allocated until the process exits. */
                log_abandoned_locked(s, s->config.shutdown_timeout_ms);
                pthread_mutex_unlock(&s->lock);
                r = atomic_load(&s->failure);
                return r < 0 ? r : 1;
        }
        pthread_mutex_unlock(&s->lock);

        flush_buffered(s, deadline);
        for (Conn *c = s->conns; c; c = c->next)
                if (c->out) {
                        log_abandoned_locked(s, s->config.shutdown_timeout_ms);
                        break;
                }
        pthread_attr_destroy(&s->attr);
        r = atomic_load(&s->failure);

finish:
        server_free(s);
        return r;
}
