/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -T handling: patterns are fnmatch() globs over event names, "-" disables,
 * events=FILE reads one pattern per line ('#' comments, blank lines
 * skipped).  An unknown event name (without wildcards) only warns, an
 * unknown key fails, as in QEMU.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "trace.h"

bool trace_enabled[_TRACE_EVENT_MAX];

static const char *const event_names[_TRACE_EVENT_MAX] = {
#define X(name, fmt) #name,
        TRACE_EVENTS(X)
#undef X
};

static char *trace_file;
static int trace_fd = STDERR_FILENO;

const char *trace_event_name(TraceEvent e) {
        return e < _TRACE_EVENT_MAX ? event_names[e] : NULL;
}

bool trace_any_enabled(void) {
        for (size_t i = 0; i < _TRACE_EVENT_MAX; i++)
                if (trace_enabled[i])
                        return true;
        return false;
}

static void enable_pattern(const char *pattern) {
        bool on = true, matched = false;

        if (*pattern == '-') {
                on = false;
                pattern++;
        }
        if (!*pattern)
                return;
        for (size_t i = 0; i < _TRACE_EVENT_MAX; i++)
                if (fnmatch(pattern, event_names[i], 0) == 0) {
                        trace_enabled[i] = on;
                        matched = true;
                }
        if (!matched && !strpbrk(pattern, "*?["))
                log_warning("trace event '%s' does not exist", pattern);
}

static int read_events_file(const char *path) {
        FILE *f = fopen(path, "re");
        char line[256];

        if (!f)
                return log_error_errno(-errno, "Error opening trace events file %s: %m", path);
        while (fgets(line, sizeof line, f)) {
                size_t n = strcspn(line, "\r\n");
                line[n] = 0;
                if (n == 0 || line[0] == '#')
                        continue;
                enable_pattern(line);
        }
        (void) fclose(f);
        return 0;
}

static void list_events(void) {
        for (size_t i = 0; i < _TRACE_EVENT_MAX; i++)
                printf("%s\n", event_names[i]);
}

/* The comma-separated parameters of -T, in a writable copy of the argument. */
static int parse_params(char *copy) {
        char *save = NULL;
        int r;

        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(tok, '=');
                if (!eq) {
                        enable_pattern(tok);
                        continue;
                }
                *eq = 0;
                const char *val = eq + 1;
                if (strcmp(tok, "enable") == 0)
                        enable_pattern(val);
                else if (strcmp(tok, "events") == 0) {
                        r = read_events_file(val);
                        if (r < 0)
                                return r;
                } else if (strcmp(tok, "file") == 0) {
                        free(trace_file);
                        trace_file = strdup(val);
                        if (!trace_file)
                                return log_error_errno(-ENOMEM, "Out of memory");
                } else {
                        log_error("Invalid parameter '%s'", tok);
                        return -EINVAL;
                }
        }
        return 0;
}

int trace_parse_option(const char *arg) {
        char *copy;
        int r;

        if (strcmp(arg, "help") == 0 || strcmp(arg, "?") == 0 || strcmp(arg, "enable=help") == 0) {
                list_events();
                return 1;
        }
        /* Freed by hand, not by _cleanup_free_: clang 14's analyzer (scan-build) does not run
         * cleanup functions and would report a leak. */
        copy = strdup(arg);
        if (!copy)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = parse_params(copy);
        free(copy);
        return r;
}

int trace_init(void) {
        if (!trace_file)
                return 0;
        int fd = open(trace_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                return log_error_errno(-errno, "Error opening logfile %s: %m", trace_file);
        trace_fd = fd;
        return 0;
}

void trace_emit(const char *name, const char *fmt, ...) {
        char line[512];
        va_list ap;
        int n, m;

        n = snprintf(line, sizeof line, "%s ", name);
        va_start(ap, fmt);
        /* va_start() is on the line above; clang 14's analyzer loses it on some paths through the
         * fortified snprintf() before it (clang-analyzer-valist.Uninitialized, a false positive). */
        m = vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
        va_end(ap);
        if (m < 0)
                return;
        n = MIN(n + m, (int) sizeof line - 2);
        line[n++] = '\n';
        (void) !write(trace_fd, line, (size_t) n);
}
