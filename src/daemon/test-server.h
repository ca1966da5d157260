/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the server's unit tests (test-listener, test-pool) share: a
 * connection made without a listening socket.
 */
#pragma once

#include <errno.h>
#include <sys/socket.h>

#include "server-internal.h"

/* Adopt the server end of a new socketpair; the client end in *ret_client. */
static inline int test_server_adopt(Server *s, int *ret_client) {
        int sp[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
                return -errno;
        *ret_client = sp[0];
        return listener_adopt(s, sp[1], 0);
}
