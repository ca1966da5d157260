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
