/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One connection's protocol state machine: the handshake, the request
 * read exactly as the parser asks (so fds are attributed to CDB bytes
 * exactly as by the reference), execution through the backend, and the
 * reply, buffered only if the socket would block.  Whoever calls
 * conn_process() owns the connection (EPOLLONESHOT) until it re-arms or
 * frees it.
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
#include "pidfile.h"
#include "policy.h"
#include "scsi.h"
#include "server-internal.h"
#include "trace.h"

static __thread uint8_t thread_inbuf[PRH_DATA_SIZE];

/* The sense of a request the policy denies (docs/audit.md): ILLEGAL REQUEST, ACCESS DENIED - NO ACCESS RIGHTS. */
static const ProtoSenseCode SENSE_ACCESS_DENIED = { .key = 0x05, .asc = 0x20, .ascq = 0x02 };

void conn_extra_free(Conn *c) {
        if (!c->x)
                return;
        peer_info_free(&c->x->peer);
        free(c->x);
        c->x = NULL;
}

void conn_free_locked(Server *s, Conn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        if (c->peer)
                peer_unref_locked(s, c->peer);
        free(c->req.data);
        proto_request_reset(&c->req);
        free(c->out);
        safe_close(c->fd);
        conn_extra_free(c);
        free(c);
}

void conn_close(Server *s, Conn *c, const char *reason) {
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
void conn_hand_over(atomic_bool *handed) {
        atomic_store_explicit(handed, true, memory_order_release);
}

void conn_take_over(atomic_bool *handed) {
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

int conn_arm(Server *s, Conn *c, uint32_t events) {
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
int conn_flush(Conn *c) {
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


/* Count a finished request in this thread's counters. */
static void conn_count(Server *s, const uint8_t *cdb, const ProtoResult *res, unsigned result, uint64_t us) {
        ThreadStats *ts = stats_mine;
        bool out = cdb[0] == SCSI_OP_PR_OUT;
        unsigned sa = cdb[1] & 0x1f, b = stats_bucket(us);

        if (result != STATS_DENIED)
                result = res->status == 0 ? STATS_GOOD : res->status == 2 ? STATS_CHECK : STATS_OTHER;
        /* The histogram holds executed requests only. */
        if (_likely_(ts)) {
                stats_bump(&ts->requests[out][sa][result], 1);
                if (result != STATS_DENIED) {
                        stats_bump(&ts->latency[b], 1);
                        stats_bump(&ts->latency_sum_us, us);
                }
        } else {
                /* not a worker thread (the fuzzer, unit tests): shared counters */
                atomic_fetch_add(&s->stats_retired.requests[out][sa][result], 1);
                if (result != STATS_DENIED) {
                        atomic_fetch_add(&s->stats_retired.latency[b], 1);
                        atomic_fetch_add(&s->stats_retired.latency_sum_us, us);
                }
        }
}

static bool conn_audited(Server *s, const uint8_t *cdb) {
        return _unlikely_(s->config.audit.on) && (cdb[0] == SCSI_OP_PR_OUT || s->config.audit.pr_in);
}

static void conn_audit(Server *s, Conn *c, const DevInfo *dev, const ProtoResult *res, const char *denied_by,
                       uint64_t us) {
        ProtoRequest *req = &c->req;
        AuditRecord rec = {
                .conn_id = c->id,
                .socket = c->x && c->x->listener < s->n_listeners ? s->listeners[c->x->listener].name : NULL,
                .peer = &c->x->peer,
                .dev = dev,
                .cdb = req->cdb,
                .data = req->cdb[0] == SCSI_OP_PR_OUT ? req->data : NULL,
                .data_len = req->xfer_len,
                .res = res,
                .denied_by = denied_by,
                .duration_us = us,
        };

        audit_emit(&s->config.audit, &rec);
}

static uint64_t elapsed_us(const struct timespec *t0, const struct timespec *t1) {
        int64_t d = (t1->tv_sec - t0->tv_sec) * 1000000LL + (t1->tv_nsec - t0->tv_nsec) / 1000;
        return d > 0 ? (uint64_t) d : 0;
}

static int conn_execute(Server *s, Conn *c, int lane) {
        ProtoRequest *req = &c->req;
        ProtoResult res;
        struct timespec t0, t1;
        uint64_t us;
        int r;

        trace(request_received, c->id, req->fd, req->cdb[0], req->cdb[1] & 0x1f, req->xfer_len);

        /* Unlike the reference, the received fd is not made blocking: it shares the client's file
         * description, and O_NONBLOCK has no effect on SG_IO (docs/compatibility.md). */
        atomic_store(&c->busy, true);
        pool_block(s, lane == BACKEND_LANE_MULTIPATH);

        trace(sgio_issue, c->id, req->fd, req->cdb[0], req->cdb[1] & 0x1f);
        /* Always timed: the latency histogram (two vDSO calls, docs/benchmarks.md). */
        clock_gettime(CLOCK_MONOTONIC, &t0);

        backend_execute(s->config.backend, req->fd, lane, req->cdb, req->data, req->xfer_len, thread_inbuf, &res);

        clock_gettime(CLOCK_MONOTONIC, &t1);
        us = elapsed_us(&t0, &t1);
        if (_unlikely_(trace_enabled[TRACE_sgio_complete])) {
                ProtoSenseInfo si = proto_sense_parse(res.sense, PRH_SENSE_SIZE);
                trace(sgio_complete, c->id, (unsigned) res.status, si.key, si.asc, si.ascq, res.data_len,
                      (unsigned long long) us);
        }
        conn_count(s, req->cdb, &res, STATS_GOOD, us);
        if (_unlikely_(us > atomic_load_explicit(&s->slow_threshold_us, memory_order_relaxed)))
                stats_slow_request(s, req->fd, us);
        if (conn_audited(s, req->cdb)) {
                DevInfo dev;
                dev_info_get(req->fd, &dev);
                conn_audit(s, c, &dev, &res, NULL, us);
        }

        /* The fd is closed after every request, whatever the result, while the thread still counts
         * as blocked: the last close of a block device may wait for writeback. */
        proto_request_reset(req);
        c->req.data = NULL;

        pool_unblock(s, lane == BACKEND_LANE_MULTIPATH);
        atomic_store(&c->busy, false);

        r = conn_send_reply(c, &res, thread_inbuf);
        if (r >= 0)
                trace(reply_sent, c->id, (unsigned) res.status, res.data_len);
        return r;
}

/*
 * A client must not be able to flood the log with denials: a burst of
 * DENIAL_LOG_BURST warnings, then one a second (token bucket).  True if this
 * one may be logged; *unlogged: how many were not since the last one logged.
 */
#define DENIAL_LOG_BURST 50.0
static bool denial_log_allowed(Server *s, unsigned *unlogged) {
        int64_t now = (int64_t) now_ms();
        bool ok;

        pthread_mutex_lock(&s->denial_log_lock);
        if (s->denial_log_ms == 0)
                s->denial_log_tokens = DENIAL_LOG_BURST;
        else
                s->denial_log_tokens += (double) (now - s->denial_log_ms) / 1000.0;
        if (s->denial_log_tokens > DENIAL_LOG_BURST)
                s->denial_log_tokens = DENIAL_LOG_BURST;
        s->denial_log_ms = now;
        ok = s->denial_log_tokens >= 1.0;
        if (ok) {
                s->denial_log_tokens -= 1.0;
                *unlogged = s->denials_unlogged;
                s->denials_unlogged = 0;
        } else
                s->denials_unlogged++;
        pthread_mutex_unlock(&s->denial_log_lock);
        return ok;
}

/*
 * With a configuration: judge the complete request by its socket's policy.
 * False if allowed.  True if denied: it has been answered with CHECK
 * CONDITION (SENSE_ACCESS_DENIED) and recorded, its fd closed; *ret is what
 * conn_written() wants.
 */
static bool conn_denied(Server *s, Conn *c, int *ret) {
        ProtoRequest *req = &c->req;
        const char *why;
        DevInfo dev = {};
        ProtoResult res;

        pthread_rwlock_rdlock(&s->policy_lock);
        const PolicyRule *rule = s->policy->by_socket[c->x->listener];
        PolicyRequest q = {
                .uid = c->x->peer.uid,
                .gid = c->x->peer.gid,
                .opcode = req->cdb[0],
                .service_action = req->cdb[1] & 0x1f,
                .wwid = "",
                .path = "",
        };
        if (policy_rule_needs_device(rule) && req->fd >= 0) {
                dev_info_get(req->fd, &dev);
                q.wwid = dev.wwid;
                q.path = dev.path;
        }
        why = policy_check(rule, &q);
        pthread_rwlock_unlock(&s->policy_lock);
        if (!why)
                return false;

        proto_result_init(&res);
        proto_result_set_check(&res, SENSE_ACCESS_DENIED);
        if (!dev.valid && req->fd >= 0)
                dev_info_get(req->fd, &dev);
        unsigned unlogged;
        if (denial_log_allowed(s, &unlogged)) {
                char more[80] = "";
                if (unlogged)
                        (void) snprintf(more, sizeof more, " (%u earlier denials not logged: see the audit records)",
                                        unlogged);
                log_warning("Denied %s %s on %s by the policy of socket %s (rule %s) [connection %u, %s]%s",
                            req->cdb[0] == SCSI_OP_PR_OUT ? "PR OUT" : "PR IN",
                            policy_action_name(req->cdb[0], req->cdb[1] & 0x1f) ?: "(unnamed service action)",
                            dev.wwid[0] ? dev.wwid : dev.path[0] ? dev.path : "?", s->listeners[c->x->listener].name,
                            why, c->id, c->x->peer.desc, more);
        }
        conn_count(s, req->cdb, &res, STATS_DENIED, 0);
        if (s->config.audit.on)
                conn_audit(s, c, &dev, &res, why, 0);
        free(req->data);
        proto_request_reset(req);
        c->req.data = NULL;
        *ret = conn_send_reply(c, &res, thread_inbuf);
        return true;
}

/*
 * After sending or flushing a reply (r: 1 all sent, 0 rest buffered, -errno):
 * true to go on reading; false once the connection waits for EPOLLOUT or is closed.
 */
static bool conn_written(Server *s, Conn *c, int r) {
        if (r < 0) {
                conn_log(s, c, r, "Unable to write to socket: %m");
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

/*
 * Execute the complete request and send its reply, then give back the
 * multipath lane or the peer's slot, whichever it holds.  True to go on
 * reading; false once the connection waits for EPOLLOUT or is closed.
 */
static bool conn_run(Server *s, Conn *c) {
        uint8_t *data = c->req.data;
        int r;

        r = conn_execute(s, c, c->lane);
        free(data);
        if (c->lane == BACKEND_LANE_MULTIPATH)
                pool_mpath_release(s);
        else
                peer_release(s, c->peer);
        return conn_written(s, c, r);
}

/*
 * Classify the complete request, then take the multipath lane or the
 * peer's slot, or park it until one is free (false, as for a closed
 * connection).  The classification comes first so that a multipath
 * request never waits for libmpathpersist holding a general execution
 * slot or one of its peer's (docs/design.md).
 */
static bool conn_admit(Server *s, Conn *c) {
        c->lane = (int16_t) backend_classify(s->config.backend, c->req.fd);
        if (c->lane == BACKEND_LANE_MULTIPATH)
                return pool_mpath_take_or_park(s, c);
        return peer_take_or_park(s, c);
}

static void conn_set_deadline(Server *s, Conn *c, bool on) {
        if (s->config.client_timeout_ms == 0)
                return;
        if (!on)
                atomic_store_explicit(&c->deadline_ms, 0, memory_order_relaxed);
        else if (atomic_load_explicit(&c->deadline_ms, memory_order_relaxed) == 0)
                atomic_store_explicit(&c->deadline_ms, now_ms() + s->config.client_timeout_ms, memory_order_relaxed);
}

/*
 * Read what the handshake or the request wants.  1: a request is complete;
 * 0: nothing more to read now; -1: the connection was closed (freed).
 */
static int conn_read(Server *s, Conn *c) {
        for (;;) {
                if (c->state == CONN_HANDSHAKE) {
                        /* No ancillary buffer: fds sent with the handshake are discarded by the kernel. */
                        ssize_t k = recv(c->fd, c->hs + c->hs_have, PRH_HANDSHAKE_SIZE - c->hs_have, MSG_DONTWAIT);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0 && errno == EAGAIN)
                                return 0;
                        if (k <= 0) {
                                conn_close(s, c, atomic_load(&c->timed_out) ? "timeout" : k == 0 ? "eof" : "read-error");
                                return -1;
                        }
                        c->hs_have += (uint8_t) k;
                        if (c->hs_have < PRH_HANDSHAKE_SIZE)
                                continue;
                        uint32_t features = proto_handshake_decode(c->hs);
                        trace(conn_handshake, c->id, features);
                        if (features & ~PRH_SUPPORTED_FEATURES) {
                                conn_close(s, c, "unsupported-features");
                                return -1;
                        }
                        c->state = CONN_REQUEST;
                        conn_set_deadline(s, c, false);
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

                if (fds_ok) {
                        k = recv_with_fds(c->fd, dst, want, fds, ELEMENTSOF(fds), &n_fds, &truncated, MSG_DONTWAIT);
                        /* Closing a client's fd of our pidfile would drop its lock. */
                        for (size_t i = 0; i < n_fds; i++)
                                (void) pidfile_guard_fd(fds[i]);
                } else {
                        do
                                k = recv(c->fd, dst, want, MSG_DONTWAIT);
                        while (k < 0 && errno == EINTR);
                        if (k < 0)
                                k = -errno;
                }
                if (k == -EAGAIN)
                        return 0;
                if (k < 0) {
                        /* Like the reference: only a failure within the PR OUT data is reported. */
                        if (req->phase == PROTO_PHASE_DATA)
                                conn_log(s, c, (int) k, "Unable to read from socket: %m");
                        conn_close(s, c, "read-error");
                        return -1;
                }
                if (k == 0) {
                        if (atomic_load(&c->timed_out))
                                conn_log(s, c, 0, "Closing connection %u: request not complete within %u ms "
                                         "(--client-timeout)", c->id, s->config.client_timeout_ms);
                        else if (req->phase == PROTO_PHASE_DATA)
                                conn_log(s, c, 0, "Unexpected end-of-file before all data were read");
                        conn_close(s, c, atomic_load(&c->timed_out) ? "timeout" : "eof");
                        return -1;
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
                        conn_set_deadline(s, c, true);
                        if (req->phase == PROTO_PHASE_DATA && !req->data) {
                                req->data = malloc(req->xfer_len);
                                if (!req->data) {
                                        conn_log(s, c, -ENOMEM, "Out of memory");
                                        conn_close(s, c, "oom");
                                        return -1;
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
                                conn_log(s, c, 0, "%s", msg);
                        conn_close(s, c, "protocol-violation");
                        return -1;
                }
                conn_set_deadline(s, c, false);
                return 1;
        }
}

/* Handle readiness on a connection.  Returns with the connection re-armed, parked or freed. */
void conn_process(Server *s, Conn *c) {
        int r;

        if (c->granted || c->mpath_granted) {
                /* Parked for a slot of its peer or for the multipath lane, which it now holds: its
                 * request is complete. */
                c->granted = c->mpath_granted = false;
                if (atomic_load_explicit(&s->terminating, memory_order_relaxed)) {
                        if (c->lane == BACKEND_LANE_MULTIPATH)
                                pool_mpath_release(s);
                        else
                                peer_release(s, c->peer);
                        return conn_close(s, c, "terminating");
                }
                if (!conn_run(s, c))
                        return;
                if (atomic_load_explicit(&s->terminating, memory_order_relaxed))
                        return conn_close(s, c, "terminating");
                goto arm;
        }

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

        r = conn_read(s, c);
        if (r < 0)
                return;
        if (r > 0) {
                /* After a termination request, requests not yet started are not executed. */
                if (atomic_load_explicit(&s->terminating, memory_order_relaxed))
                        return conn_close(s, c, "terminating");
                if (_unlikely_(s->has_policy) && conn_denied(s, c, &r)) {
                        if (!conn_written(s, c, r))
                                return;
                        goto arm;
                }
                if (!conn_admit(s, c))
                        return;
                if (!conn_run(s, c))
                        return;
                if (atomic_load_explicit(&s->terminating, memory_order_relaxed))
                        return conn_close(s, c, "terminating");
                /*
                 * Re-arm rather than read again: a client with one request in flight (QEMU)
                 * has sent nothing more, and a pipelined request is reported by the
                 * re-armed one-shot event at once, so the extra read would only fail.
                 */
        }

arm:
        if (conn_arm(s, c, EPOLLIN) < 0)
                conn_close(s, c, "epoll-error");
}
