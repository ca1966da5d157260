/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The seccomp sandbox of prhd (seccomp.c): an allow-list of the system
 * calls prhd makes in service, installed after start-up (privileges
 * dropped, before serving) on every thread.  See docs/security.md.
 */
#pragma once

typedef enum SandboxMode {
        SANDBOX_KILL = 0,       /* default: an unlisted call kills the process (SIGSYS) */
        SANDBOX_LOG,            /* unlisted calls are allowed and logged by the kernel (debugging) */
        SANDBOX_OFF,            /* no filter */
        _SANDBOX_MODE_MAX,
} SandboxMode;

/* "kill", "log", "off"; -EINVAL for anything else. */
int sandbox_mode_from_string(const char *s);
const char *sandbox_mode_to_string(SandboxMode m);

/* Install the filter for mode (nothing for SANDBOX_OFF) and log which one; 0 or -errno. */
int sandbox_install(SandboxMode mode);

/*
 * Test-only builds (-Dseccomp_selftest=true): with PRH_SECCOMP_SELFTEST=1 in
 * the environment, make a system call the filter does not allow.  A no-op in
 * every other build.
 */
void sandbox_selftest(void);
