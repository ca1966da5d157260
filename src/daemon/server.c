/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
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
#include "server.h"
#include "trace.h"
#include "wire.h"

#define ACCEPTS_PER_WAKEUP 64
#define EVENTS_PER_WAIT 16
#define THREAD_IDLE_EXIT_MS 30000

typedef enum ConnState {
        CONN_HANDSHAKE = 0,
        CONN_REQUEST,
} ConnState;

typedef struct Conn {
        int fd;
        unsigned id;
        uint8_t state;                  /* ConnState, in a byte to keep the struct at 104 bytes */
        uint8_t hs[PRH_HANDSHAKE_SIZE];
        uint8_t hs_have;
        atomic_bool handed;             /* see conn_hand_over() */
        ProtoRequest req;
        uint32_t revents;               /* what epoll reported, for conn_process() */
        atomic_bool busy;               /* its request is executing (for the shutdown log) */
        uint8_t *out;                   /* unsent reply bytes, if the socket would block */
        size_t out_len, out_off;
        struct Conn *prev, *next;       /* s->conns */
        struct Conn *queue_next;        /* s->queue_head */
} Conn;

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
        unsigned n_conns;
        Conn *conns;
        pthread_attr_t attr;

        pthread_mutex_t queue_lock;
        Conn *queue_head, *queue_tail;  /* taken from epoll, not yet handled */
        atomic_uint queued;
        atomic_bool accept_handed;      /* see conn_hand_over() */

        atomic_uint next_id;
        time_t last_refusal_log;
} Server;

/* Tags in epoll_event.data.ptr for the non-connection fds. */
static char tag_listen, tag_wake, tag_kick;

static __thread uint8_t thread_inbuf[PRH_DATA_SIZE];

/* Per-connection errors are shown unless -q, like the reference's "verbose" messages. */
#define conn_log(s, error, ...)                                         \
        do {                                                            \
                if ((s)->config.verbose >= 1)                           \
                        (void) log_error_errno((error), __VA_ARGS__);   \
        } while (0)

static void conn_free_locked(Server *s, Conn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        free(c->req.data);
        proto_request_reset(&c->req);
        free(c->out);
        safe_close(c->fd);
        free(c);
}

static void conn_close(Server *s, Conn *c, const char *reason) {
        trace(conn_close, c->id, reason);
        pthread_mutex_lock(&s->lock);
        conn_free_locked(s, c);
        pthread_mutex_unlock(&s->lock);
}

/*
 * A connection (or the listening socket) passes from the thread that arms it
 * to the thread that takes its event.  The kernel orders the two system
 * calls; this release/acquire pair states that order in the C memory model,
 * so that ThreadSanitizer sees it too.  It costs plain moves on x86.
 */
static void conn_hand_over(atomic_bool *handed) {
        atomic_store_explicit(handed, true, memory_order_release);
}

static void conn_take_over(atomic_bool *handed) {
        (void) atomic_load_explicit(handed, memory_order_acquire);
}

#if defined(__SANITIZE_THREAD__)
#  define PRH_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define PRH_TSAN 1
#  endif
#endif
#ifdef PRH_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#endif

static int conn_arm(Server *s, Conn *c, uint32_t events) {
        /* No EPOLLRDHUP: a half-closed peer is level-triggered readiness for it, which would wake
         * us at once, and forever, while we wait for EPOLLOUT; EOF is seen by recv() anyway. */
        struct epoll_event ev = { .events = events | EPOLLONESHOT, .data.ptr = c };
        int r;

        conn_hand_over(&c->handed);
#ifdef PRH_TSAN
        /* ThreadSanitizer takes EPOLL_CTL_MOD for a use of the fd that may race with the close()
         * by the thread that takes the event, which can only happen once the fd is armed. */
        AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
#endif
        r = epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
#ifdef PRH_TSAN
        AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
#endif
        return r;
}

/* Send what is in c->out; 1 when all is sent, 0 if it would block, -errno. */
static int conn_flush(Conn *c) {
        while (c->out_off < c->out_len) {
                ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                c->out_off += (size_t) k;
        }
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        return 1;
}

/* Send header + payload; buffer the rest if the socket is full.  1 sent, 0 queued, -errno. */
static int conn_send_reply(Conn *c, const ProtoResult *res, const uint8_t *payload) {
        uint8_t hdr[PRH_REPLY_HEADER_SIZE];
        struct iovec iov[2] = {
                { .iov_base = hdr, .iov_len = sizeof hdr },
                { .iov_base = (void *) (uintptr_t) payload, .iov_len = res->data_len },
        };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = res->data_len > 0 ? 2 : 1 };
        size_t total = sizeof hdr + res->data_len;
        ssize_t k;

        proto_reply_encode(hdr, res);
        do
                k = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
                if (errno != EAGAIN)
                        return -errno;
                k = 0;
        }
        if ((size_t) k == total)
                return 1;

        c->out = malloc(total - (size_t) k);
        if (!c->out)
                return -ENOMEM;
        c->out_len = total - (size_t) k;
        c->out_off = 0;
        if ((size_t) k < sizeof hdr) {
                memcpy(c->out, hdr + k, sizeof hdr - (size_t) k);
                memcpy(c->out + sizeof hdr - (size_t) k, payload, res->data_len);
        } else
                memcpy(c->out, payload + ((size_t) k - sizeof hdr), c->out_len);
        return 0;
}

static void thread_spawn_locked(Server *s);

static bool slot_take(Server *s) {
        unsigned e = atomic_load(&s->executing);

        while (e < s->config.max_requests)
                if (atomic_compare_exchange_weak(&s->executing, &e, e + 1))
                        return true;
        return false;
}

/*
 * Called before a request enters the backend, where SG_IO may block for
 * seconds.  The atomics are sequentially consistent: each of the pairs
 * serving/queued (with worker()) and executing/threads (with
 * thread_exit_locked()) is written by one side and read by the other in the
 * opposite order, so that at least one side sees the other's change.
 */
static void thread_block(Server *s) {
        if (atomic_fetch_sub(&s->serving, 1) == 1 && atomic_load(&s->queued) > 0)
                (void) eventfd_write(s->kick_fd, 1);

        /* At most max_requests execute at once; the rest wait here for a slot. */
        if (!slot_take(s)) {
                pthread_mutex_lock(&s->lock);
                atomic_fetch_add(&s->slot_waiters, 1);
                while (!slot_take(s))
                        pthread_cond_wait(&s->slot, &s->lock);
                atomic_fetch_sub(&s->slot_waiters, 1);
                pthread_mutex_unlock(&s->lock);
        }

        if (atomic_load(&s->executing) >= atomic_load(&s->threads)) {
                pthread_mutex_lock(&s->lock);
                if (atomic_load(&s->executing) >= atomic_load(&s->threads))
                        thread_spawn_locked(s);
                pthread_mutex_unlock(&s->lock);
        }
}

static void thread_unblock(Server *s) {
        atomic_fetch_sub(&s->executing, 1);
        if (atomic_load(&s->slot_waiters) > 0) {
                pthread_mutex_lock(&s->lock);
                pthread_cond_signal(&s->slot);
                pthread_mutex_unlock(&s->lock);
        }
        atomic_fetch_add(&s->serving, 1);
}

/* Execute a complete request and send its reply.  Returns 1 sent, 0 queued, -errno. */
static int conn_execute(Server *s, Conn *c) {
        ProtoRequest *req = &c->req;
        ProtoResult res;
        struct timespec t0, t1;
        int r;

        trace(request_received, c->id, req->fd, req->cdb[0], req->cdb[1] & 0x1f, req->xfer_len);

        /* Unlike the reference, the received fd is not made blocking: it shares the client's file
         * description, and O_NONBLOCK has no effect on SG_IO (docs/compatibility.md). */
        atomic_store(&c->busy, true);
        thread_block(s);

        trace(sgio_issue, c->id, req->fd, req->cdb[0], req->cdb[1] & 0x1f);
        if (_unlikely_(trace_enabled[TRACE_sgio_complete]))
                clock_gettime(CLOCK_MONOTONIC, &t0);

        backend_execute(s->config.backend, req->fd, req->cdb, req->data, req->xfer_len, thread_inbuf, &res);

        if (_unlikely_(trace_enabled[TRACE_sgio_complete])) {
                clock_gettime(CLOCK_MONOTONIC, &t1);
                ProtoSenseInfo si = proto_sense_parse(res.sense, PRH_SENSE_SIZE);
                trace(sgio_complete, c->id, (unsigned) res.status, si.key, si.asc, si.ascq, res.data_len,
                      (unsigned long long) ((t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000));
        }

        /* The fd is closed after every request, whatever the result, while the thread still counts
         * as blocked: the last close of a block device may wait for writeback. */
        proto_request_reset(req);
        c->req.data = NULL;

        thread_unblock(s);
        atomic_store(&c->busy, false);

        r = conn_send_reply(c, &res, thread_inbuf);
        if (r >= 0)
                trace(reply_sent, c->id, (unsigned) res.status, res.data_len);
        return r;
}

/*
 * After sending or flushing a reply (r: 1 all sent, 0 rest buffered, -errno):
 * true to go on reading; false once the connection waits for EPOLLOUT or is closed.
 */
static bool conn_written(Server *s, Conn *c, int r) {
        if (r < 0) {
                conn_log(s, r, "Unable to write to socket: %m");
                conn_close(s, c, "write-error");
                return false;
        }
        if (r == 0) {
                if (conn_arm(s, c, EPOLLOUT) < 0)
                        conn_close(s, c, "epoll-error");
                return false;
        }
        return true;
}

/* Handle readiness on a connection.  Returns with the connection re-armed or freed. */
static void conn_process(Server *s, Conn *c) {
        int r;

        if (c->out) {
                /* Armed for EPOLLOUT only: anything else reported means the peer is gone or the
                 * event is stale; a flush that would block just waits again. */
                if (!(c->revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                        if (conn_arm(s, c, EPOLLOUT) < 0)
                                conn_close(s, c, "epoll-error");
                        return;
                }
                if (!conn_written(s, c, conn_flush(c)))
                        return;
        }

        for (;;) {
                if (c->state == CONN_HANDSHAKE) {
                        /* No ancillary buffer: fds sent with the handshake are discarded by the kernel. */
                        ssize_t k = recv(c->fd, c->hs + c->hs_have, PRH_HANDSHAKE_SIZE - c->hs_have, MSG_DONTWAIT);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0 && errno == EAGAIN)
                                break;
                        if (k <= 0)
                                return conn_close(s, c, k == 0 ? "eof" : "read-error");
                        c->hs_have += (uint8_t) k;
                        if (c->hs_have < PRH_HANDSHAKE_SIZE)
                                continue;
                        uint32_t features = proto_handshake_decode(c->hs);
                        trace(conn_handshake, c->id, features);
                        if (features & ~PRH_SUPPORTED_FEATURES)
                                return conn_close(s, c, "unsupported-features");
                        c->state = CONN_REQUEST;
                        continue;
                }

                ProtoRequest *req = &c->req;
                uint8_t *dst;
                bool fds_ok;
                size_t want = proto_request_wanted(req, &dst, &fds_ok);
                int fds[2];
                size_t n_fds = 0;
                bool truncated = false;
                ssize_t k;

                if (fds_ok)
                        k = recv_with_fds(c->fd, dst, want, fds, ELEMENTSOF(fds), &n_fds, &truncated, MSG_DONTWAIT);
                else {
                        do
                                k = recv(c->fd, dst, want, MSG_DONTWAIT);
                        while (k < 0 && errno == EINTR);
                        if (k < 0)
                                k = -errno;
                }
                if (k == -EAGAIN)
                        break;
                if (k < 0) {
                        /* Like the reference: only a failure within the PR OUT data is reported. */
                        if (req->phase == PROTO_PHASE_DATA)
                                conn_log(s, (int) k, "Unable to read from socket: %m");
                        return conn_close(s, c, "read-error");
                }
                if (k == 0) {
                        if (req->phase == PROTO_PHASE_DATA)
                                conn_log(s, 0, "Unexpected end-of-file before all data were read");
                        return conn_close(s, c, "eof");
                }

                ProtoStep step;
                if (truncated) {
                        /* More fds than we can hold: certainly more than one. */
                        for (size_t i = 0; i < n_fds; i++)
                                safe_close(fds[i]);
                        step = PROTO_ERR_TOO_MANY_FDS;
                } else
                        step = proto_request_advance(req, (size_t) k, fds, n_fds);

                if (step == PROTO_NEED_MORE) {
                        if (req->phase == PROTO_PHASE_DATA && !req->data) {
                                req->data = malloc(req->xfer_len);
                                if (!req->data) {
                                        conn_log(s, -ENOMEM, "Out of memory");
                                        return conn_close(s, c, "oom");
                                }
                        }
                        continue;
                }
                if (step != PROTO_COMPLETE) {
                        const char *msg = proto_step_message(step);
                        trace(request_rejected, c->id,
                              step == PROTO_ERR_TOO_MANY_FDS ? "too-many-fds" :
                              step == PROTO_ERR_NO_FD ? "no-fd" :
                              step == PROTO_ERR_BAD_OPCODE ? "bad-opcode" : "too-long");
                        if (msg)
                                conn_log(s, 0, "%s", msg);
                        return conn_close(s, c, "protocol-violation");
                }

                /* After a termination request, requests not yet started are not executed. */
                if (atomic_load_explicit(&s->terminating, memory_order_relaxed))
                        return conn_close(s, c, "terminating");

                uint8_t *data = req->data;
                r = conn_execute(s, c);
                free(data);
                if (!conn_written(s, c, r))
                        return;
                if (atomic_load_explicit(&s->terminating, memory_order_relaxed))
                        return conn_close(s, c, "terminating");
                /*
                 * Re-arm rather than read again: a client with one request in flight (QEMU)
                 * has sent nothing more, and a pipelined request is reported by the
                 * re-armed one-shot event at once, so the extra read would only fail.
                 */
                break;
        }

        if (conn_arm(s, c, EPOLLIN) < 0)
                conn_close(s, c, "epoll-error");
}

/*
 * The server cannot go on (it would silently stop accepting): end it like
 * a termination signal would, and make server_run() return the error.
 */
static void server_fail(Server *s, int error) {
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

static void server_accept(Server *s) {
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

static void queue_push(Server *s, Conn *first, Conn *last, unsigned n) {
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
        /* Leave at least one thread that is not executing (the other half of thread_block()). */
        if (atomic_fetch_sub(&s->threads, 1) - 1 > atomic_load(&s->executing))
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
        bool accept = false;

        for (int i = 0; i < n; i++) {
                void *p = ev[i].data.ptr;

                if (p == &tag_listen) {
                        conn_take_over(&s->accept_handed);
                        /* EPOLLERR without EPOLLIN: accept() below reports the error. */
                        accept = true;
                } else if (p != &tag_wake && p != &tag_kick) {
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
        if (accept)
                server_accept(s);
        if (mine)
                conn_process(s, mine);
}

static void *worker(void *userdata) {
        Server *s = userdata;

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
                 * that thread sees us gone when it blocks and kicks (see thread_block()). */
                alone = atomic_fetch_sub(&s->serving, 1) == 1;
                if (atomic_load(&s->queued) > 0) {
                        atomic_fetch_add(&s->serving, 1);
                        continue;
                }
                n = epoll_wait(s->epoll_fd, ev, alone ? 1 : EVENTS_PER_WAIT, THREAD_IDLE_EXIT_MS);

                if (n <= 0 || atomic_load_explicit(&s->terminating, memory_order_relaxed)) {
                        pthread_mutex_lock(&s->lock);
                        bool end = thread_exit_locked(s, n == 0);
                        if (end)
                                pthread_cond_broadcast(&s->cond);
                        pthread_mutex_unlock(&s->lock);
                        if (end)
                                return NULL;
                }
                atomic_fetch_add(&s->serving, 1);
                worker_dispatch(s, ev, n);
        }
}

static void thread_spawn_locked(Server *s) {
        pthread_t t;

        if (atomic_load(&s->terminating) || atomic_load(&s->threads) >= s->config.max_requests + 1)
                return;
        /* Counted from now on; it counts itself as serving when it runs, and takes the queue then. */
        atomic_fetch_add(&s->threads, 1);
        if (pthread_create(&t, &s->attr, worker, s) != 0) {
                atomic_fetch_sub(&s->threads, 1);
                log_warning("Failed to start a worker thread; %u running", atomic_load(&s->threads));
        }
}

static uint64_t now_ms(void) {
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
 * The grace period is over and threads still execute requests: name the
 * connections they hold.  Nothing is freed, so that a thread returning from
 * the kernel now finds its state intact until the process exits.
 */
static void log_abandoned_locked(Server *s, unsigned timeout_ms) {
        unsigned stuck = 0, buffered = 0;

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

int server_run(const ServerConfig *config, void (*ready)(void *userdata), void *userdata) {
        Server *s = calloc(1, sizeof *s);
        pthread_condattr_t ca;
        struct timespec ts;
        sigset_t ss;
        uint64_t deadline;
        int sig, r = 0;

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
        };
        /* Thread ends are waited for with a deadline on the monotonic clock. */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);

        if (s->config.min_threads < 1)
                s->config.min_threads = 1;
        if (s->config.max_requests < 1)
                s->config.max_requests = 1;

        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->epoll_fd < 0 || s->wake_fd < 0 || s->kick_fd < 0) {
                r = log_error_errno(-errno, "Failed to set up the event loop: %m");
                goto finish;
        }
        r = fd_set_nonblock(s->config.listen_fd, true);
        if (r < 0) {
                log_error_errno(r, "Failed to make the listening socket non-blocking: %m");
                goto finish;
        }
        struct epoll_event lev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &tag_listen };
        struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &tag_wake };
        /* Edge-triggered: every write is one event for one thread, and the counter is never read. */
        struct epoll_event kev = { .events = EPOLLIN | EPOLLET, .data.ptr = &tag_kick };
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->config.listen_fd, &lev) < 0 ||
            epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wev) < 0 ||
            epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->kick_fd, &kev) < 0) {
                r = log_error_errno(-errno, "Failed to watch the listening socket: %m");
                goto finish;
        }

        /* Small stacks: a worker needs a few KiB beyond the TLS buffer. */
        pthread_attr_init(&s->attr);
        pthread_attr_setstacksize(&s->attr, 256 * 1024);
        pthread_attr_setdetachstate(&s->attr, PTHREAD_CREATE_DETACHED);

        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < s->config.min_threads; i++)
                thread_spawn_locked(s);
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
        do
                sig = sigwaitinfo(&ss, NULL);
        while (sig < 0 && errno == EINTR);
        log_debug("Received signal %d, terminating.", sig);
        deadline = now_ms() + s->config.shutdown_timeout_ms;

        /* Stop accepting at once and remove the socket we created. */
        atomic_store(&s->terminating, true);
        (void) epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->config.listen_fd, NULL);
        if (s->config.unlink_path && unlink(s->config.unlink_path) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Failed to unlink socket %s: %m", s->config.unlink_path);

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
        while (s->conns)
                conn_free_locked(s, s->conns);
        pthread_attr_destroy(&s->attr);
        r = atomic_load(&s->failure);

finish:
        safe_close(s->spare_fd);
        safe_close(s->kick_fd);
        safe_close(s->wake_fd);
        safe_close(s->epoll_fd);
        pthread_cond_destroy(&s->cond);
        free(s);
        return r;
}
