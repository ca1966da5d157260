/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of pool.c on a server instance without threads: the
 * multipath lane (one request in it, the rest parked in order and handed
 * on through the event queue) and its independence from the general
 * execution slots, in both directions.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server-internal.h"
#include "test-server.h"
#include "tests.h"

static Server *new_server(unsigned max_requests) {
        Server *s = NULL;
        ServerConfig sc = {
                .listen_fd = -EBADF,
                .max_connections = 8,
                .max_connections_per_peer = 8,
                .max_requests = max_requests,
                .max_requests_per_peer = 8,
        };

        CHECK_EQ(server_new(&sc, &s), 0);
        /* No worker threads: pool_block() must not start any. */
        atomic_store(&s->threads, max_requests + 2);
        return s;
}

static void queue_clear(Server *s) {
        s->queue_head = s->queue_tail = NULL;
        atomic_store(&s->queued, 0);
}

static void test_lane_parking(void) {
        Server *s = new_server(2);
        int c[3] = { -EBADF, -EBADF, -EBADF };
        Conn *a, *b, *d;

        CHECK_EQ(test_server_adopt(s, &c[0]), 0);
        a = s->conns;
        CHECK_EQ(test_server_adopt(s, &c[1]), 0);
        b = s->conns;
        CHECK_EQ(test_server_adopt(s, &c[2]), 0);
        d = s->conns;

        /* One in the lane, the next two parked in order, none queued. */
        CHECK(pool_mpath_take_or_park(s, a));
        CHECK(!pool_mpath_take_or_park(s, b));
        CHECK(!pool_mpath_take_or_park(s, d));
        CHECK(s->mpath_busy && s->mpath_parked_head == b && s->mpath_parked_tail == d);
        CHECK(!s->queue_head);

        /* Giving it back hands it to the first parked one through the queue; the lane stays taken. */
        pool_mpath_release(s);
        CHECK(s->mpath_busy && s->queue_head == b && b->mpath_granted && !b->granted);
        CHECK(s->mpath_parked_head == d);
        queue_clear(s);
        b->mpath_granted = false;
        pool_mpath_release(s);
        CHECK(s->mpath_busy && s->queue_head == d && d->mpath_granted);
        CHECK(!s->mpath_parked_head && !s->mpath_parked_tail);
        queue_clear(s);
        d->mpath_granted = false;
        pool_mpath_release(s);
        CHECK(!s->mpath_busy && !s->queue_head);
        /* Free again: taken at once. */
        CHECK(pool_mpath_take_or_park(s, a));
        pool_mpath_release(s);

        for (int i = 0; i < 3; i++)
                close(c[i]);
        server_free(s);
}

static void test_lane_without_slot(void) {
        Server *s = new_server(2);

        atomic_store(&s->serving, 4);
        /* A request in the multipath lane takes no general slot ... */
        pool_block(s, true);
        CHECK_EQ(atomic_load(&s->mpath_executing), 1u);
        CHECK_EQ(atomic_load(&s->executing), 0u);
        /* ... so every general slot stays free for plain devices (pool_block() would wait otherwise) ... */
        pool_block(s, false);
        pool_block(s, false);
        CHECK_EQ(atomic_load(&s->executing), 2u);
        /* ... and with them all taken, a multipath request still does not wait for one. */
        pool_unblock(s, true);
        pool_block(s, true);
        CHECK_EQ(atomic_load(&s->mpath_executing), 1u);
        pool_unblock(s, true);
        pool_unblock(s, false);
        pool_unblock(s, false);
        CHECK_EQ(atomic_load(&s->executing), 0u);
        CHECK_EQ(atomic_load(&s->mpath_executing), 0u);
        CHECK_EQ(atomic_load(&s->serving), 4u);
        atomic_store(&s->threads, 0);
        server_free(s);
}

int main(void) {
        log_setup("test-pool");
        log_set_max_level(LOG_ERR);
        test_lane_parking();
        test_lane_without_slot();
        return tests_finish("test-pool");
}
