/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for the daemon and the CLI (the library and codecs never log).
 * Lines go to stderr as "<prog>: <message>", with a "<N>" syslog priority
 * prefix when stderr is connected to the journal, or to syslog once the
 * daemon has detached.  log_*_errno() return the (negative) error so that
 * "return log_error_errno(r, ...)" works; "%m" prints that error.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_STDERR = 0,
        LOG_TARGET_SYSLOG,
} LogTarget;

void log_setup(const char *program_name);
const char *log_program_name(void);
void log_set_max_level(int level);      /* LOG_ERR ... LOG_DEBUG */
int log_get_max_level(void);
void log_set_target(LogTarget target);
/* Prefix lines with <N> (set automatically when JOURNAL_STREAM matches stderr). */
void log_set_prefix_priority(bool b);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...)                                               \
        ({                                                                              \
                int _l = (level), _e = (error);                                         \
                (log_get_max_level() >= _l)                                             \
                        ? log_internal(_l, _e, __FILE__, __LINE__, __VA_ARGS__)         \
                        : -(_e < 0 ? -_e : _e);                                         \
        })

#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
