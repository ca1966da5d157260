/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of listener.c on a server instance without threads, with
 * socketpairs for connections: the connection bounds (global and per
 * peer), parking a request over its peer's bound and handing the slot on,
 * the peer's lifetime, and --client-timeout expiry.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server-internal.h"
#include "test-server.h"
#include "tests.h"

/* Was the client end closed (EOF after at most the 4 handshake bytes)? */
static bool client_sees_eof(int fd) {
        char buf[16];
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t k, total = 0;

        while (poll(&p, 1, 1000) > 0) {
                k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (k == 0)
                        return total <= 4;
                if (k < 0)
                        return false;
                total += k;
        }
        return false;
}

static Server *new_server(unsigned max_conns, unsigned per_peer_conns, unsigned per_peer_requests, unsigned timeout) {
        Server *s = NULL;
        ServerConfig sc = {
                .listen_fd = -EBADF,
                .max_connections = max_conns,
                .max_connections_per_peer = per_peer_conns,
                .max_requests = 4,
                .max_requests_per_peer = per_peer_requests,
                .client_timeout_ms = timeout,
        };

        CHECK_EQ(server_new(&sc, &s), 0);
        return s;
}

static void test_connection_bounds(void) {
        Server *s = new_server(3, 2, 4, 0);
        int c[4] = { -EBADF, -EBADF, -EBADF, -EBADF };

        /* Two per peer (every connection here is ours: one uid). */
        CHECK_EQ(test_server_adopt(s, &c[0]), 0);
        CHECK_EQ(test_server_adopt(s, &c[1]), 0);
        CHECK_EQ(test_server_adopt(s, &c[2]), -ECONNREFUSED);
        CHECK(client_sees_eof(c[2]));
        CHECK_EQ(s->n_conns, 2u);
        CHECK(s->peers && !s->peers->next && s->peers->conns == 2 && s->peers->uid == getuid());

        /* One closed: the peer may connect again; the last one closed frees the peer. */
        conn_close(s, s->conns, "test");
        CHECK_EQ(s->peers->conns, 1u);
        CHECK_EQ(test_server_adopt(s, &c[3]), 0);
        conn_close(s, s->conns, "test");
        conn_close(s, s->conns, "test");
        CHECK(!s->conns && !s->peers && s->n_conns == 0);
        for (int i = 0; i < 4; i++)
                close(c[i]);
        server_free(s);

        /* The global bound comes first. */
        s = new_server(1, 1, 4, 0);
        CHECK_EQ(test_server_adopt(s, &c[0]), 0);
        CHECK_EQ(test_server_adopt(s, &c[1]), -ECONNREFUSED);
        close(c[0]);
        close(c[1]);
        server_free(s);
}

static void test_parking(void) {
        Server *s = new_server(8, 8, 1, 0);
        int c[3] = { -EBADF, -EBADF, -EBADF };
        Conn *a, *b, *d;

        CHECK_EQ(test_server_adopt(s, &c[0]), 0);
        a = s->conns;
        CHECK_EQ(test_server_adopt(s, &c[1]), 0);
        b = s->conns;
        CHECK_EQ(test_server_adopt(s, &c[2]), 0);
        d = s->conns;
        CHECK(a->peer == b->peer && b->peer == d->peer);
        Peer *p = a->peer;

        /* One slot per peer: the first takes it, the next two are parked in order. */
        CHECK(peer_take_or_park(s, a));
        CHECK(!peer_take_or_park(s, b));
        CHECK(!peer_take_or_park(s, d));
        CHECK_EQ(atomic_load(&p->executing), 1u);
        CHECK_EQ(atomic_load(&p->n_parked), 2u);
        CHECK(p->parked_head == b && p->parked_tail == d);
        CHECK(!s->queue_head);

        /* Giving the slot back hands it to the first parked one, through the event queue. */
        peer_release(s, p);
        CHECK_EQ(atomic_load(&p->executing), 1u);
        CHECK_EQ(atomic_load(&p->n_parked), 1u);
        CHECK(s->queue_head == b && b->granted && atomic_load(&s->queued) == 1);
        CHECK(p->parked_head == d);
        s->queue_head = s->queue_tail = NULL;
        atomic_store(&s->queued, 0);
        b->granted = false;

        peer_release(s, p);
        CHECK(s->queue_head == d && d->granted && !p->parked_head && !p->parked_tail);
        s->queue_head = s->queue_tail = NULL;
        atomic_store(&s->queued, 0);
        d->granted = false;
        peer_release(s, p);
        CHECK_EQ(atomic_load(&p->executing), 0u);
        CHECK_EQ(atomic_load(&p->n_parked), 0u);

        for (int i = 0; i < 3; i++)
                close(c[i]);
        server_free(s);
}

static void test_expiry(void) {
        Server *s = new_server(8, 8, 4, 100);
        int c[2] = { -EBADF, -EBADF };

        CHECK_EQ(test_server_adopt(s, &c[0]), 0);
        Conn *late = s->conns;
        CHECK_EQ(test_server_adopt(s, &c[1]), 0);
        Conn *idle = s->conns;
        CHECK(atomic_load(&late->deadline_ms) > 0);
        /* One past its deadline; one that completed its handshake (no deadline). */
        atomic_store(&late->deadline_ms, now_ms() - 1);
        atomic_store(&idle->deadline_ms, 0);
        listener_expire(s);
        CHECK(atomic_load(&late->timed_out) && !atomic_load(&idle->timed_out));
        CHECK(client_sees_eof(c[0]));
        char hs[4];
        CHECK_EQ(recv(c[1], hs, sizeof hs, MSG_DONTWAIT), 4);
        CHECK(recv(c[1], hs, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
        close(c[0]);
        close(c[1]);
        server_free(s);
}

int main(void) {
        log_setup("test-listener");
        log_set_max_level(LOG_ERR);
        test_connection_bounds();
        test_parking();
        test_expiry();
        return tests_finish("test-listener");
}
