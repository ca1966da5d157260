/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libprh connection handling and the raw call: connect + handshake, QEMU's
 * reconnect policy, and one request/reply exchange with explicit deadlines.
 *
 * Framing and reply validation are the protocol module's (src/proto/wire.h);
 * this file only moves bytes.  Invariants:
 *  - the socket is non-blocking and every wait is a poll() bounded by the
 *    caller's deadline, so a helper that stops answering cannot hang us;
 *  - a request is retried only while its CDB has not been completely sent:
 *    the helper cannot execute a partial CDB, but once it has the whole CDB
 *    the command may have run, and repeating a PR OUT is not idempotent;
 *  - any failure after the CDB drops the connection, so a late reply can
 *    never be taken for the answer to the next request;
 *  - replies are read without an ancillary buffer: fds a hostile helper
 *    attaches are discarded by the kernel and never enter this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "prh/prh.h"
#include "wire.h"

struct PrhClient {
        char *path;
        int fd;
        uint32_t requested_features;
        uint32_t supported_features;
        bool have_features;
        int connect_ms;
        int request_ms;
        unsigned attempts;
        int retry_delay_ms;
};

typedef int64_t Deadline; /* CLOCK_MONOTONIC ms, or -1 for none */

static int64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static Deadline deadline_after(int ms) {
        return ms < 0 ? -1 : now_ms() + ms;
}

/* Wait for events on fd until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, Deadline deadline) {
        for (;;) {
                struct pollfd p = {.fd = fd, .events = events};
                int timeout = -1;

                if (deadline >= 0) {
                        int64_t left = deadline - now_ms();
                        if (left <= 0)
                                return -ETIMEDOUT;
                        timeout = (int) MIN(left, (int64_t) INT32_MAX);
                }
                int k = poll(&p, 1, timeout);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k > 0)
                        return 0; /* readiness or POLLERR/POLLHUP: the next syscall tells which */
        }
}

static void sleep_ms(int ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Read exactly n bytes: 0, -ECONNRESET at EOF (also mid-way), -ETIMEDOUT or -errno. */
static int read_full(int fd, void *buf, size_t n, Deadline deadline) {
        uint8_t *p = buf;

        while (n > 0) {
                /* No control buffer: SCM_RIGHTS from the helper are dropped by the kernel. */
                ssize_t k = recv(fd, p, n, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return errno == EPIPE ? -ECONNRESET : -errno;
                        int r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k == 0)
                        return -ECONNRESET;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/*
 * Write n bytes, the first chunk carrying fds.  *sent counts the bytes that
 * went out, so the caller knows whether the peer may have seen everything.
 */
static int write_full(int fd, const void *buf, size_t n, const int *fds, size_t n_fds, Deadline deadline,
                      size_t *sent) {
        const uint8_t *p = buf;

        *sent = 0;
        while (*sent < n) {
                ssize_t k = send_with_fds(fd, p + *sent, n - *sent, fds, n_fds, MSG_DONTWAIT);
                if (k == -EAGAIN) {
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k < 0)
                        return (int) k;
                /* The fds ride on the first successful sendmsg() only. */
                n_fds = 0;
                *sent += (size_t) k;
        }
        return 0;
}

int prh_client_new(const char *socket_path, PrhClient **ret) {
        PrhClient *c;

        if (!ret)
                return -EINVAL;
        if (!socket_path)
                socket_path = PRH_DEFAULT_SOCKET_PATH;
        if (!*socket_path || strlen(socket_path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->path = strdup(socket_path);
        if (!c->path) {
                free(c);
                return -ENOMEM;
        }
        c->fd = -EBADF;
        c->connect_ms = PRH_DEFAULT_CONNECT_TIMEOUT_MS;
        c->request_ms = PRH_DEFAULT_REQUEST_TIMEOUT_MS;
        c->attempts = PRH_DEFAULT_ATTEMPTS;
        c->retry_delay_ms = PRH_DEFAULT_RETRY_DELAY_MS;
        *ret = c;
        return 0;
}

PrhClient *prh_client_free(PrhClient *c) {
        if (!c)
                return NULL;
        prh_client_disconnect(c);
        free(c->path);
        free(c);
        return NULL;
}

int prh_client_set_timeouts(PrhClient *c, int connect_ms, int request_ms) {
        if (!c || connect_ms < PRH_TIMEOUT_INFINITE || request_ms < PRH_TIMEOUT_INFINITE)
                return -EINVAL;
        c->connect_ms = connect_ms;
        c->request_ms = request_ms;
        return 0;
}

int prh_client_set_retry(PrhClient *c, unsigned attempts, int delay_ms) {
        if (!c || attempts < 1 || delay_ms < 0)
                return -EINVAL;
        c->attempts = attempts;
        c->retry_delay_ms = delay_ms;
        return 0;
}

int prh_client_set_features(PrhClient *c, uint32_t requested) {
        if (!c)
                return -EINVAL;
        c->requested_features = requested;
        return 0;
}

void prh_client_disconnect(PrhClient *c) {
        if (c)
                c->fd = safe_close(c->fd);
}

bool prh_client_is_connected(const PrhClient *c) {
        return c && c->fd >= 0;
}

int prh_client_get_features(const PrhClient *c, uint32_t *ret_supported) {
        if (!c || !ret_supported)
                return -EINVAL;
        if (!c->have_features)
                return -ENOTCONN;
        *ret_supported = c->supported_features;
        return 0;
}

const char *prh_client_get_path(const PrhClient *c) {
        return c ? c->path : NULL;
}

static int connect_deadline(int fd, const struct sockaddr_un *sa, Deadline deadline) {
        for (;;) {
                if (connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN) {
                        /* AF_UNIX: the listener's backlog is full; there is no completion to poll for. */
                        if (deadline >= 0 && now_ms() >= deadline)
                                return -ETIMEDOUT;
                        sleep_ms(10);
                        continue;
                }
                if (errno != EINPROGRESS)
                        return -errno;

                int r = wait_fd(fd, POLLOUT, deadline), err = 0;
                if (r < 0)
                        return r;
                socklen_t len = sizeof(err);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        return -errno;
                return -err;
        }
}

int prh_client_connect(PrhClient *c) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint8_t hs[PRH_HANDSHAKE_SIZE];
        Deadline deadline;
        size_t sent;
        int r;

        if (!c)
                return -EINVAL;
        if (c->fd >= 0)
                return 0;

        deadline = deadline_after(c->connect_ms);
        memcpy(sa.sun_path, c->path, strlen(c->path)); /* length checked in prh_client_new() */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect_deadline(fd, &sa, deadline);
        if (r < 0)
                return r;

        /* The helper speaks first: its supported feature mask. */
        r = read_full(fd, hs, sizeof(hs), deadline);
        if (r == -ECONNRESET)
                return -ECONNABORTED;
        if (r < 0)
                return r;
        c->supported_features = proto_handshake_decode(hs);
        c->have_features = true;

        /* A bit requested but not supported makes the helper close; fail clearly instead. */
        if (c->requested_features & ~c->supported_features)
                return -EOPNOTSUPP;

        proto_handshake_encode(hs, c->requested_features);
        r = write_full(fd, hs, sizeof(hs), NULL, 0, deadline, &sent);
        if (r == -EPIPE || r == -ECONNRESET)
                return -ECONNABORTED;
        if (r < 0)
                return r;

        c->fd = TAKE_FD(fd);
        return 0;
}

/*
 * After a complete reply nothing more may be pending.  Extra bytes mean the
 * helper broke framing, and a pending EOF means it closed the connection;
 * either way start the next request on a fresh connection.
 */
static void check_idle(PrhClient *c) {
        uint8_t b;
        ssize_t k = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

        if (k >= 0 || (errno != EAGAIN && errno != EINTR))
                prh_client_disconnect(c);
}

int prh_call_raw(PrhClient *c, int device_fd, const uint8_t *cdb, size_t cdb_len, const void *out, size_t out_len,
                 void *in, size_t in_size, PrhResult *ret) {
        uint8_t req[PRH_CDB_SIZE] = {}, hdr[PRH_REPLY_HEADER_SIZE];
        ProtoResult res;
        Deadline deadline = -1;
        bool pr_out;
        uint32_t xfer;
        size_t sent;
        int r = -ENOTCONN;

        if (!c || !cdb || cdb_len == 0 || cdb_len > PRH_CDB_SIZE || !ret || device_fd < 0)
                return -EINVAL;
        memcpy(req, cdb, cdb_len);
        if (req[0] != SCSI_OP_PR_IN && req[0] != SCSI_OP_PR_OUT)
                return -EINVAL;
        pr_out = proto_cdb_is_pr_out(req);
        xfer = proto_cdb_xfer_len(req);
        if (xfer > PRH_DATA_SIZE)
                return -EINVAL;
        if (pr_out ? (out_len != xfer || (xfer > 0 && !out)) : (in_size < xfer || (xfer > 0 && !in)))
                return -EINVAL;
        if (fcntl(device_fd, F_GETFD) < 0)
                return -EBADF;

        for (unsigned attempt = 0; attempt < c->attempts; attempt++) {
                /*
                 * Bytes or EOF pending on an idle connection: the helper broke framing or closed
                 * (idle limit, restart).  Not a sent CDB yet, so a fresh connection is safe.
                 */
                if (c->fd >= 0)
                        check_idle(c);
                if (c->fd < 0) {
                        r = prh_client_connect(c);
                        if (r == -EOPNOTSUPP)
                                return r; /* retrying cannot change the helper's features */
                        if (r < 0) {
                                if (attempt + 1 < c->attempts)
                                        sleep_ms(c->retry_delay_ms);
                                continue;
                        }
                }
                deadline = deadline_after(c->request_ms);
                r = write_full(c->fd, req, sizeof(req), &device_fd, 1, deadline, &sent);
                if (r >= 0)
                        break;
                /* The CDB did not get through whole: the helper cannot have run it; reconnect now. */
                prh_client_disconnect(c);
        }
        if (r < 0)
                return r;

        /* Past this point the command may have been executed: no retry. */
        if (pr_out && xfer > 0) {
                r = write_full(c->fd, out, xfer, NULL, 0, deadline, &sent);
                if (r == -EPIPE)
                        r = -ECONNRESET;
                if (r < 0)
                        goto fail;
        }

        r = read_full(c->fd, hdr, sizeof(hdr), deadline);
        if (r < 0)
                goto fail;
        r = proto_reply_decode(hdr, req, &res);
        if (r < 0)
                goto fail;
        /* QEMU keeps only the low 8 bits; a value outside a status byte is not a reply we understand. */
        if (res.status < 0 || res.status > 0xff) {
                r = -EBADMSG;
                goto fail;
        }
        if (res.data_len > 0) {
                r = read_full(c->fd, in, res.data_len, deadline);
                if (r < 0)
                        goto fail;
        }
        check_idle(c);

        ret->status = res.status;
        memcpy(ret->sense, res.sense, sizeof(ret->sense));
        ret->data_len = res.data_len;
        return 0;

fail:
        prh_client_disconnect(c);
        return r;
}

const char *prh_strerror(int error) {
        switch (error < 0 ? -error : error) {
        case 0:
                return "Success";
        case ENOENT:
                return "Helper socket does not exist (is the helper running?)";
        case ECONNREFUSED:
                return "Connection refused: nothing is listening on the helper socket";
        case EACCES:
        case EPERM:
                return "Permission denied";
        case ETIMEDOUT:
                return "Timed out waiting for the helper";
        case ECONNABORTED:
                return "Helper closed the connection during the handshake";
        case ECONNRESET:
                return "Helper closed the connection after the request was sent (it rejected the request)";
        case EBADMSG:
                return "Helper sent a reply that violates the protocol";
        case EOPNOTSUPP:
                return "Helper does not support the requested features";
        case ENOTSOCK:
                return "Helper socket path is not a socket";
        case EINVAL:
                return "Invalid argument";
        case EBADF:
                return "Bad device file descriptor";
        case ENOMEM:
                return "Out of memory";
        default:
                return strerror(error < 0 ? -error : error);
        }
}
