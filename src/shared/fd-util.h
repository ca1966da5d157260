/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small fd helpers: full reads and writes with EINTR handling, flag
 * changes, fd passing over AF_UNIX.  All return 0 / a count or -errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int fd_set_nonblock(int fd, bool nonblock);
int fd_set_cloexec(int fd, bool cloexec);
/* Write all n bytes (blocking fds); -EPIPE etc. on failure. */
int loop_write(int fd, const void *buf, size_t n);
/* Read exactly n bytes; returns n, or a short count at EOF, or -errno. */
ssize_t loop_read(int fd, void *buf, size_t n);
/*
 * recvmsg() up to n bytes with room for max_fds received fds (MSG_CMSG_CLOEXEC).
 * Returns the byte count (0 at EOF) and stores the fds; every fd received
 * is returned, even past max_fds is impossible (the kernel closes the
 * excess and sets MSG_CTRUNC, reported in *ret_truncated).
 */
ssize_t recv_with_fds(int fd, void *buf, size_t n, int *fds, size_t max_fds, size_t *ret_n_fds,
                      bool *ret_truncated, int flags);
/* sendmsg() n bytes with n_fds fds attached (n_fds may be 0). */
ssize_t send_with_fds(int fd, const void *buf, size_t n, const int *fds, size_t n_fds, int flags);
/* Count open fds of this process (via /proc/self/fd); -errno on failure. */
int fd_count_open(void);
