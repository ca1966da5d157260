/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Readiness: sd_notify(3) without libsystemd (one datagram to
 * $NOTIFY_SOCKET), and the pipe through which a daemonizing child reports
 * its startup result to the parent that the caller is waiting on.
 */
#pragma once

#include <stdbool.h>

/* Send state (e.g. "READY=1") if NOTIFY_SOCKET is set; 0 if sent or unset, -errno. */
int notify_send(const char *state);

/*
 * Fork.  The parent never returns: it waits for the child's report and
 * exits with it (EXIT_FAILURE if the child dies first).  The child returns
 * the write end of the pipe (>= 0) after setsid(); -errno on failure.
 */
int daemonize_fork(void);

/* Child: report the startup result (0 = ready) and close the pipe. */
void daemonize_report(int fd, int exit_status);
