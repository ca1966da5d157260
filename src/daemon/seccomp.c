/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The seccomp allow-list of prhd (sandbox.h).  Installed once, after
 * privileges are dropped and before the server starts, with TSYNC so that
 * every thread (later ones inherit it) runs under it; any call not in the
 * table below kills the whole process (SECCOMP_RET_KILL_PROCESS, SIGSYS),
 * which the kernel records in the audit log / dmesg (type=1326, with the
 * system call number).  So is a call from another ABI (i386, x32).
 *
 * The table is the list of system calls prhd makes in service, derived with
 * strace -f of prhd through the host suite's flows and of the rig's
 * multipath scenario (docs/security.md, "Sandbox", tells how to redo it);
 * every entry says who makes it.  Arguments are not filtered: the point is
 * to take away what a compromised prhd could do beyond its job (exec,
 * ptrace, mount, module loading, namespaces, credentials), and
 * its job needs ioctl, openat and connect with arbitrary arguments once
 * multipath is active.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "sandbox.h"

#include "config.h"

typedef struct SandboxCall {
        int nr;
        const char *name;
} SandboxCall;

#define CALL(name) { SCMP_SYS(name), #name }

static const SandboxCall allow_list[] = {
        /* Connections: accept, handshake, requests with their fd, replies; the event loop. */
        CALL(accept4),
        CALL(recvmsg),          /* CDB bytes with SCM_RIGHTS */
        CALL(recvfrom),         /* recv(): handshake, PR OUT data */
        CALL(sendmsg),          /* reply header + payload */
        CALL(sendto),           /* send(): handshake, buffered replies; sd_notify, syslog */
        CALL(epoll_create1),    /* the server's set-up, which runs under the filter */
        CALL(eventfd2),
        CALL(epoll_wait),
        CALL(epoll_pwait),      /* what some libc versions use for epoll_wait() */
        CALL(epoll_ctl),
        CALL(read),             /* eventfd; multipath: sysfs, config */
        CALL(write),            /* eventfd kicks, logs and traces on stderr or a trace file */
        CALL(close),
        CALL(fcntl),            /* file status flags of received fds, F_GETFD */
        CALL(openat),           /* the spare fd (/dev/null) after EMFILE; multipath; /etc/localtime for syslog */
        /* Executing: SG_IO; multipath adds device-mapper ioctls. */
        CALL(ioctl),
        /* Threads: start, synchronise, stop; memory. */
        CALL(clone3),
        CALL(clone),            /* glibc's fallback when clone3 is refused */
        CALL(futex),
        CALL(set_robust_list),
        CALL(rseq),
        CALL(rt_sigprocmask),   /* new threads block the termination signals */
        CALL(rt_sigaction),     /* glibc's first pthread_create() */
        CALL(mmap),
        CALL(munmap),
        CALL(mprotect),         /* thread stacks' guard pages */
        CALL(madvise),          /* glibc releases an exiting thread's stack */
        CALL(brk),
        CALL(mremap),           /* realloc() of large blocks */
        CALL(exit),             /* a thread ends (idle timeout, shutdown) */
        CALL(exit_group),
        /* Start of serving (readiness) and its end. */
        CALL(socket),           /* sd_notify and syslog datagrams; multipath: multipathd's socket */
        CALL(connect),          /* syslog's /dev/log; multipath: multipathd */
        CALL(dup2),             /* -d: stderr to /dev/null once ready */
        CALL(rt_sigtimedwait),  /* sigwaitinfo() for SIGTERM/SIGINT/SIGHUP */
        CALL(unlink),           /* the socket and the pidfile at exit */
        CALL(getpid),           /* syslog(LOG_PID) */
        CALL(gettid),
        CALL(clock_gettime),    /* trace timestamps when the vDSO is not used */
        CALL(fstat),            /* stdio, syslog's time zone */
        CALL(newfstatat),
        CALL(lseek),
        /* accept and limits (listener.c), termination (server.c) */
        CALL(getsockopt),       /* SO_PEERCRED: the peer's uid for the per-peer bounds */
        CALL(shutdown),         /* connections dropped at the client timeout or at termination */
        CALL(nanosleep),        /* the 100 ms pause when accept() has no fd left */
        CALL(clock_nanosleep),  /* glibc's nanosleep() */
        CALL(poll),             /* flushing replies at termination; multipathd's socket */
        /* the fd check (src/backend/fd-check.c), on every request */
        CALL(faccessat2),       /* faccessat(AT_EACCESS) on /sys/dev; also libudev's access() */
        CALL(faccessat),        /* the same where faccessat2 is refused */
        CALL(readlinkat),       /* the device's name in /sys/dev; multipath: the paths' links */
        CALL(capget),           /* a dm map is probed with CAP_SYS_RAWIO lowered on the thread */
        CALL(capset),
        /* a client's fd of the pidfile (pidfile_guard_fd()) */
        CALL(dup3),             /* the fd is replaced by /dev/null under the same number */
};

/*
 * What the multipath library (libmpathpersist, libmultipath, libdevmapper,
 * liburcu, libudev, dlopen()ed at start) calls in a request beyond the list
 * above, seen with strace -f in the rig's multipath scenario (rig-mpath),
 * plus the rest of two families it was seen using: see docs/security.md.
 */
static const SandboxCall allow_list_multipath[] = {
        CALL(semctl),           /* libdevmapper's udev synchronisation (SysV semaphores) */
        CALL(semget),           /* not seen: the same feature when it takes a cookie */
        CALL(semop),            /* not seen: idem */
        CALL(semtimedop),       /* not seen: idem (glibc's semop()) */
        CALL(membarrier),       /* liburcu (seen before the filter; synchronize_rcu()) */
        CALL(uname),            /* libdevmapper checks the kernel version */
        CALL(fstatfs),          /* libudev checks sysfs */
        CALL(access),
        CALL(getrandom),
        /* "reservation_key file": libmultipath reads /etc/multipath/prkeys through open_file(),
         * which creates its directory if missing and bounds its fcntl() lock wait with alarm()
         * (both seen, as audit syscall=83 and 37, in the rig with --seccomp=log). */
        CALL(mkdir),
        CALL(alarm),
};

#if PRH_SANITIZER_BUILD
/*
 * ASan/UBSan/LSan runtimes (-Db_sanitize=...: tests only), found with
 * --seccomp=log over the host suite of such a build.
 */
static const SandboxCall allow_list_sanitizer[] = {
        CALL(sigaltstack),      /* per-thread alternate signal stack */
        CALL(sched_getaffinity),
        CALL(sched_yield),      /* the runtime's spin locks under contention (seen: SIGSYS, audit syscall=24) */
        CALL(prctl),
        /* LeakSanitizer's check at exit: a tracer task attaches to every thread. */
        CALL(getppid),
        CALL(ptrace),
        CALL(wait4),
        CALL(open),
        CALL(getdents),
};
#endif

int sandbox_mode_from_string(const char *s) {
        static const char *const names[_SANDBOX_MODE_MAX] = {
                [SANDBOX_KILL] = "kill",
                [SANDBOX_LOG] = "log",
                [SANDBOX_OFF] = "off",
        };

        for (int i = 0; i < _SANDBOX_MODE_MAX; i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *sandbox_mode_to_string(SandboxMode m) {
        switch (m) {
        case SANDBOX_KILL:
                return "kill";
        case SANDBOX_LOG:
                return "log";
        case SANDBOX_OFF:
                return "off";
        default:
                return "unknown";
        }
}

static int add_calls(scmp_filter_ctx ctx, const SandboxCall *calls, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i].nr, 0);
                if (r < 0)
                        return log_error_errno(r, "Failed to add %s to the seccomp filter: %m", calls[i].name);
        }
        return 0;
}

int sandbox_install(SandboxMode mode) {
        uint32_t action = mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
        scmp_filter_ctx ctx;
        int r;

        if (mode == SANDBOX_OFF) {
                log_warning("No seccomp filter (--seccomp=off).");
                return 0;
        }

        ctx = seccomp_init(action);
        if (!ctx)
                return log_error_errno(-ENOMEM, "Failed to create the seccomp filter: %m");
        /* Another ABI's system calls (int 0x80, x32) would bypass the table: same action. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, action);
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        if (r < 0) {
                log_error_errno(r, "Failed to configure the seccomp filter: %m");
                goto finish;
        }
        size_t n = ELEMENTSOF(allow_list) + ELEMENTSOF(allow_list_multipath);
        r = add_calls(ctx, allow_list, ELEMENTSOF(allow_list));
        if (r >= 0)
                r = add_calls(ctx, allow_list_multipath, ELEMENTSOF(allow_list_multipath));
#if PRH_SANITIZER_BUILD
        n += ELEMENTSOF(allow_list_sanitizer);
        if (r >= 0)
                r = add_calls(ctx, allow_list_sanitizer, ELEMENTSOF(allow_list_sanitizer));
#endif
        if (r < 0)
                goto finish;
        r = seccomp_load(ctx);
        if (r < 0) {
                log_error_errno(r, "Failed to install the seccomp filter: %m");
                goto finish;
        }
        log_full(mode == SANDBOX_LOG ? LOG_WARNING : LOG_NOTICE,
                 "Seccomp filter installed (%s): %zu system calls allowed, others %s.", sandbox_mode_to_string(mode), n,
                 mode == SANDBOX_LOG ? "allowed and logged by the kernel (--seccomp=log)" : "kill the process");
finish:
        seccomp_release(ctx);
        return r < 0 ? r : 0;
}

void sandbox_selftest(void) {
#if PRH_SECCOMP_SELFTEST
        const char *e = getenv("PRH_SECCOMP_SELFTEST");

        if (!e || strcmp(e, "1") != 0)
                return;
        log_warning("PRH_SECCOMP_SELFTEST: calling unshare(0), which the seccomp filter does not allow.");
        /* A harmless call (unshare nothing) that no table lists. */
        (void) syscall(SCMP_SYS(unshare), 0);
        log_error("PRH_SECCOMP_SELFTEST: still alive after unshare(0): the filter did not kill us.");
#endif
}
