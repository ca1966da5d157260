/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Accepting connections, and the limits an incoming connection meets
 * (--max-connections, the fd budget), with rate-limited refusals.
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

static void refuse(Server *s, int fd, const char *reason) {
        time_t now = time(NULL);

        trace(conn_reject, fd, reason);
        if (now != s->last_refusal_log) {
                s->last_refusal_log = now;
                log_warning("Refusing connection: %s", reason);
        }
        safe_close(fd);
}

void listener_accept(Server *s) {
        for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
                int fd = accept4(s->config.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
                                /* Answer with EOF rather than leave the client hanging in the backlog. */
                                s->spare_fd = safe_close(s->spare_fd);
                                fd = accept4(s->config.listen_fd, NULL, NULL, SOCK_CLOEXEC);
                                if (fd >= 0)
                                        refuse(s, fd, "out of file descriptors");
                                s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                continue;
                        }
                        if (errno != EAGAIN)
                                log_warning_errno(-errno, "Failed to accept connection: %m");
                        break;
                }

                pthread_mutex_lock(&s->lock);
                bool full = s->n_conns >= s->config.max_connections;
                pthread_mutex_unlock(&s->lock);
                if (full) {
                        refuse(s, fd, "connection limit reached (--max-connections)");
                        continue;
                }

                Conn *c = calloc(1, sizeof *c);
                if (!c) {
                        refuse(s, fd, "out of memory");
                        continue;
                }
                c->fd = fd;
                c->id = atomic_fetch_add(&s->next_id, 1) + 1;
                proto_request_init(&c->req);

                /* The helper speaks first: its supported features. */
                uint8_t hs[PRH_HANDSHAKE_SIZE];
                proto_handshake_encode(hs, PRH_SUPPORTED_FEATURES);
                if (send(fd, hs, sizeof hs, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t) sizeof hs) {
                        safe_close(fd);
                        free(c);
                        continue;
                }

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
                }
        }

        struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &tag_listen };
        conn_hand_over(&s->accept_handed);
        if (!atomic_load_explicit(&s->terminating, memory_order_relaxed) &&
            epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->config.listen_fd, &ev) < 0)
                server_fail(s, log_error_errno(-errno, "Failed to watch the listening socket again: %m"));
}

