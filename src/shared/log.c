/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * See log.h.  One formatted line is written with a single write(2) so that
 * lines from concurrent worker threads never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static const char *program_name = "prh";
static int max_level = LOG_INFO;
/* Switched by the daemon while worker threads may log (after -d's readiness). */
static _Atomic LogTarget target = LOG_TARGET_STDERR;
static bool prefix_priority = false;

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char *end;

        /* "DEV:INO", both decimal */
        if (!e)
                return false;
        errno = 0;
        dev = strtoull(e, &end, 10);
        if (errno || end == e || *end != ':')
                return false;
        e = end + 1;
        ino = strtoull(e, &end, 10);
        if (errno || end == e || *end)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(const char *name) {
        const char *slash = strrchr(name, '/');

        program_name = slash ? slash + 1 : name;
        prefix_priority = stderr_is_journal();
}

const char *log_program_name(void) {
        return program_name;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_target(LogTarget t) {
        /* openlog() happens before the switch is visible (release/acquire with log_internal()). */
        if (t == LOG_TARGET_SYSLOG && atomic_load(&target) != LOG_TARGET_SYSLOG)
                openlog(program_name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
        atomic_store_explicit(&target, t, memory_order_release);
}

void log_set_prefix_priority(bool b) {
        prefix_priority = b;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        char msg[1024], out[1200];
        va_list ap;
        int n;

        (void) file;
        (void) line;
        if (error < 0)
                error = -error;

        va_start(ap, fmt);
        errno = error;          /* for %m */
        /* False positive: va_start() is two lines up; clang 14's valist checker sometimes loses it. */
        /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        if (atomic_load_explicit(&target, memory_order_acquire) == LOG_TARGET_SYSLOG)
                syslog(level, "%s", msg);
        else {
                if (prefix_priority)
                        n = snprintf(out, sizeof out, "<%d>%s: %s\n", level, program_name, msg);
                else
                        n = snprintf(out, sizeof out, "%s: %s\n", program_name, msg);
                if (n >= (int) sizeof out) {
                        out[sizeof out - 2] = '\n';
                        n = (int) sizeof out - 1;
                }
                if (n > 0)
                        (void) !write(STDERR_FILENO, out, (size_t) n);
        }
        errno = error;
        return -error;
}
