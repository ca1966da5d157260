/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz a whole prhd connection: a real server instance (src/daemon:
 * conn.c, listener.c, pool.c, server.c, and the real backend) serving one
 * end of a socketpair, the fuzzer playing the client on the other end.
 * Single-threaded: the harness takes the epoll events and calls
 * conn_process() itself, as a worker thread would.
 *
 * The input is a script.  Byte 0, bit 0: send a valid handshake first;
 * bit 1: the smallest send buffer on the server's end, so that a few
 * unread replies make it wait for EPOLLOUT and buffer a reply.
 * Then operations, each one byte (modulo 5) and its operands:
 *   0 SEND  len, fds, kinds: len bytes of the input, with 0-2 fds attached
 *           (a memfd, /dev/null read-only or read-write, a pipe)
 *   1 READ  drain what the server sent
 *   2 SHUT  shutdown(SHUT_WR) on the client
 *   3 CLOSE close the client (ends the script)
 *   4 HS    send four handshake bytes taken from the input
 * After every operation the server runs until it waits, and these
 * invariants are checked:
 *  - every fd is closed exactly once (close() below aborts on a close of
 *    an fd that is not open), and once the connection is gone the process
 *    has exactly the fds it had before the input;
 *  - no reply without a complete request: the client receives the 4-byte
 *    handshake, then only replies, at most one per request the client has
 *    completed (by a model of the framing), each a valid reply for that
 *    request's CDB (proto_reply_decode());
 *  - the connection's state is consistent: nothing executing, no slot
 *    held, the handshake or request part-read within its bounds, a
 *    buffered reply only while waiting for EPOLLOUT.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "fd-util.h"
#include "fuzz.h"
#include "macro.h"
#include "server-internal.h"
#include "wire.h"

#define MAX_MODEL_REQUESTS 512

/* Every close of the process goes through here: closing an fd that is not open is a double close. */
int close(int fd) {
        if (fd >= 0 && fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
                fprintf(stderr, "close(%d): not open (closed twice?)\n", fd);
                abort();
        }
        return (int) syscall(SYS_close, fd);
}

static Server *S;
static Backend *B;

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        FUZZ_ASSERT(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1;   /* the directory's own fd */
}

static void setup(void) {
        if (S)
                return;
        FUZZ_ASSERT(backend_new(&(BackendConfig) { .sgio_timeout_ms = 1000 }, &B) == 0);
        ServerConfig sc = {
                .listen_fd = -EBADF,
                .max_connections = 4,
                .max_requests = 2,
                .max_connections_per_peer = 4,
                .max_requests_per_peer = 2,
                .min_threads = 1,
                .verbose = 0,
                .backend = B,
        };
        FUZZ_ASSERT(server_new(&sc, &S) == 0);
        /* No worker threads: the harness is the only one, counted as serving, and no more start. */
        atomic_store(&S->threads, S->config.max_requests + 2);
        atomic_store(&S->serving, 1);
}

/* The client's view: what it sent (the framing model) and what it received. */
typedef struct Model {
        uint8_t hs[PRH_HANDSHAKE_SIZE];
        size_t hs_sent;
        bool dead;                      /* the server must close: no reply after this point */
        uint8_t cdb[PRH_CDB_SIZE];
        size_t cdb_have;
        uint32_t data_left;
        unsigned n_complete;
        uint8_t cdbs[MAX_MODEL_REQUESTS][PRH_CDB_SIZE];

        uint8_t in[PRH_REPLY_HEADER_SIZE + PRH_DATA_SIZE];
        size_t in_have;
        size_t hs_got;
        unsigned n_replies;
} Model;

static void model_sent(Model *m, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n && !m->dead; i++) {
                if (m->hs_sent < PRH_HANDSHAKE_SIZE) {
                        m->hs[m->hs_sent++] = p[i];
                        if (m->hs_sent == PRH_HANDSHAKE_SIZE && proto_handshake_decode(m->hs) != 0)
                                m->dead = true;
                        continue;
                }
                if (m->data_left > 0) {
                        if (--m->data_left == 0)
                                goto complete;
                        continue;
                }
                m->cdb[m->cdb_have++] = p[i];
                if (m->cdb_have < PRH_CDB_SIZE)
                        continue;
                m->cdb_have = 0;
                if (m->cdb[0] != SCSI_OP_PR_IN && m->cdb[0] != SCSI_OP_PR_OUT) {
                        m->dead = true;
                        continue;
                }
                uint32_t len = proto_cdb_xfer_len(m->cdb);
                if (len > PRH_DATA_SIZE) {
                        m->dead = true;
                        continue;
                }
                if (proto_cdb_is_pr_out(m->cdb) && len > 0) {
                        m->data_left = len;
                        continue;
                }
        complete:
                if (m->n_complete < MAX_MODEL_REQUESTS)
                        memcpy(m->cdbs[m->n_complete], m->cdb, PRH_CDB_SIZE);
                m->n_complete++;
        }
}

static void model_received(Model *m, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (m->hs_got < PRH_HANDSHAKE_SIZE) {
                        FUZZ_ASSERT(p[i] == 0);         /* PRH_SUPPORTED_FEATURES */
                        m->hs_got++;
                        continue;
                }
                m->in[m->in_have++] = p[i];
                if (m->in_have < PRH_REPLY_HEADER_SIZE)
                        continue;
                /* A reply: for a request the client completed, and valid for its CDB. */
                FUZZ_ASSERT(m->n_replies < m->n_complete);
                FUZZ_ASSERT(m->n_replies < MAX_MODEL_REQUESTS);
                ProtoResult res;
                FUZZ_ASSERT(proto_reply_decode(m->in, m->cdbs[m->n_replies], &res) == 0);
                if (m->in_have < PRH_REPLY_HEADER_SIZE + res.data_len)
                        continue;
                m->n_replies++;
                m->in_have = 0;
        }
}

/* Run the server until it waits; check the connection after each step. */
static void pump(void) {
        for (;;) {
                struct epoll_event ev[4];
                bool any = false;
                int n = epoll_wait(S->epoll_fd, ev, 4, 0);

                FUZZ_ASSERT(n >= 0);
                for (int i = 0; i < n; i++) {
                        if (ev[i].data.ptr == &tag_wake || ev[i].data.ptr == &tag_kick || ev[i].data.ptr == &tag_admin)
                                continue;
                        Conn *c = ev[i].data.ptr;
                        c->revents = ev[i].events;
                        conn_process(S, c);
                        any = true;
                }
                /* Parked connections granted a slot come back through the queue. */
                for (Conn *c; (c = S->queue_head);) {
                        S->queue_head = c->queue_next;
                        if (!S->queue_head)
                                S->queue_tail = NULL;
                        atomic_fetch_sub(&S->queued, 1);
                        conn_process(S, c);
                        any = true;
                }

                FUZZ_ASSERT(atomic_load(&S->executing) == 0);
                FUZZ_ASSERT(atomic_load(&S->serving) == 1);
                FUZZ_ASSERT(S->n_conns <= 1);
                for (Conn *c = S->conns; c; c = c->next) {
                        FUZZ_ASSERT(!atomic_load(&c->busy) && !c->granted);
                        FUZZ_ASSERT(c->peer && c->peer->conns == 1 && atomic_load(&c->peer->executing) == 0);
                        if (c->state == CONN_HANDSHAKE)
                                FUZZ_ASSERT(c->hs_have < PRH_HANDSHAKE_SIZE && c->req.fd < 0);
                        else {
                                FUZZ_ASSERT(c->state == CONN_REQUEST);
                                FUZZ_ASSERT(c->req.phase != PROTO_PHASE_DONE);
                                if (c->req.phase == PROTO_PHASE_CDB)
                                        FUZZ_ASSERT(c->req.have < PRH_CDB_SIZE);
                                else
                                        FUZZ_ASSERT(c->req.data && c->req.have < c->req.xfer_len && c->req.fd >= 0);
                                if (c->req.fd >= 0)
                                        FUZZ_ASSERT(fcntl(c->req.fd, F_GETFD) >= 0);
                        }
                        if (c->out)
                                FUZZ_ASSERT(c->out_off < c->out_len);
                }
                if (!any)
                        return;
        }
}

static int make_fd(uint8_t kind) {
        int p[2];

        switch (kind % 4) {
        case 0:
                return memfd_create("fuzz-dev", MFD_CLOEXEC);
        case 1:
                return open("/dev/null", O_RDONLY | O_CLOEXEC);
        case 2:
                return open("/dev/null", O_RDWR | O_CLOEXEC);
        default:
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                close(p[1]);
                return p[0];
        }
}

/* What the server sent so far, not yet read by the client, must already be valid: parse a copy. */
static void peek_check(int cl, const Model *m) {
        static uint8_t buf[512 * 1024];
        static Model copy;
        ssize_t k;

        if (cl < 0)
                return;
        k = recv(cl, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
        if (k <= 0)
                return;
        copy = *m;
        model_received(&copy, buf, (size_t) k);
}

static void drain(int cl, Model *m) {
        uint8_t buf[4096];
        ssize_t k;

        while ((k = recv(cl, buf, sizeof buf, MSG_DONTWAIT)) > 0)
                model_received(m, buf, (size_t) k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Model m;
        int sp[2], base, cl;
        size_t i = 1;

        if (size < 1)
                return 0;
        setup();
        memset(&m, 0, sizeof m);
        base = count_fds();

        FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
        cl = sp[0];
        FUZZ_ASSERT(fd_set_nonblock(sp[1], true) == 0);
        if (data[0] & 2) {
                int small = 1;  /* the kernel raises it to its minimum */
                FUZZ_ASSERT(setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
        }
        FUZZ_ASSERT(listener_adopt(S, sp[1], 0) == 0);
        if (data[0] & 1) {
                static const uint8_t hs[PRH_HANDSHAKE_SIZE];
                FUZZ_ASSERT(send(cl, hs, sizeof hs, MSG_DONTWAIT) == sizeof hs);
                model_sent(&m, hs, sizeof hs);
        }
        pump();
        peek_check(cl, &m);

        while (i < size && cl >= 0) {
                uint8_t op = data[i++] % 5;

                switch (op) {
                case 0: {
                        size_t len = i < size ? data[i++] : 0;
                        uint8_t fdspec = i < size ? data[i++] : 0;
                        size_t n_fds = fdspec % 3;
                        int fds[2] = { -1, -1 };
                        ssize_t k;

                        len = len < size - i ? len : size - i;
                        if (len == 0)
                                break;
                        for (size_t f = 0; f < n_fds; f++)
                                fds[f] = make_fd((uint8_t) (fdspec >> (2 + 2 * f)));
                        k = send_with_fds(cl, data + i, len, fds, n_fds, MSG_DONTWAIT | MSG_NOSIGNAL);
                        for (size_t f = 0; f < n_fds; f++)
                                close(fds[f]);
                        if (k > 0)
                                model_sent(&m, data + i, (size_t) k);
                        i += len;
                        break;
                }
                case 1:
                        drain(cl, &m);
                        break;
                case 2:
                        (void) shutdown(cl, SHUT_WR);
                        break;
                case 3:
                        drain(cl, &m);
                        cl = safe_close(cl);
                        break;
                case 4: {
                        uint8_t hs[PRH_HANDSHAKE_SIZE] = {};
                        size_t len = size - i < sizeof hs ? size - i : sizeof hs;
                        memcpy(hs, data + i, len);
                        i += len;
                        if (send(cl, hs, sizeof hs, MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof hs)
                                model_sent(&m, hs, sizeof hs);
                        break;
                }
                }
                pump();
                peek_check(cl, &m);
        }

        /* The client reads what is left and goes away: the connection must end, every fd with it. */
        if (cl >= 0) {
                pump();
                drain(cl, &m);
                safe_close(cl);
        }
        pump();
        FUZZ_ASSERT(S->conns == NULL && S->n_conns == 0 && S->peers == NULL);
        FUZZ_ASSERT(count_fds() == base);
        if (getenv("FUZZ_CONN_DEBUG"))
                fprintf(stderr, "sent %u complete requests, %u replies\n", m.n_complete, m.n_replies);
        return 0;
}
