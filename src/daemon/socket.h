/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The listening socket: adopted from systemd socket activation, or bound
 * at a path without ever destroying a live instance's socket.
 */
#pragma once

#include <stdbool.h>

/*
 * Socket activation as QEMU's check_socket_activation(): returns the number
 * of passed fds (0 = not activated) after unsetting LISTEN_* and marking
 * them close-on-exec, or -errno with the message logged.
 */
int activation_listen_fds(void);

/* Check that fd is a listening AF_UNIX stream socket; -errno logged otherwise. */
int activation_check_socket(int fd);

/*
 * Bind and listen at path.  An existing socket file is replaced only if
 * nobody accepts connections on it (a stale file); a live instance makes
 * this fail with -EADDRINUSE.  Returns the fd or -errno (logged).
 */
int socket_listen_unix(const char *path, int backlog);
