/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pidfile as QEMU's qemu_write_pidfile(): process-associated POSIX write
 * lock (libvirt writes the file and holds a lock in the same process
 * across exec, so OFD locks would conflict), "<pid>\n", mode 0600; the fd
 * stays open for the life of the process.
 */
#pragma once

/* Returns the locked fd or -errno (logged with the reference's messages). */
int pidfile_write(const char *path);

/*
 * A client may send an fd of the pidfile as its "device" fd, and closing any
 * fd of a file drops every POSIX lock the process holds on it.  After
 * pidfile_guard_init(pid_fd), pidfile_guard_fd() is called on every received
 * fd: if it is the pidfile, it is replaced (same number) by /dev/null and the
 * lock taken again at once; returns 1 then, else 0.  Thread-safe.
 */
int pidfile_guard_init(int pid_fd);
int pidfile_guard_fd(int fd);
