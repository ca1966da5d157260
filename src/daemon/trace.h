/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Trace points, declared once in the X-macro list below.  Disabled events
 * cost one load and branch.  Enabled with -T patterns (QEMU syntax:
 * [[enable=]PATTERN][,events=FILE][,file=FILE]); emitted as one line
 * "<event> <message>" to stderr or the file= target, like QEMU's log backend.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "macro.h"

#define TRACE_EVENTS(X)                                                                         \
        X(conn_accept, "conn=%u fd=%d")                                                         \
        X(conn_reject, "fd=%d reason=%s")                                                       \
        X(conn_handshake, "conn=%u features=0x%08x")                                           \
        X(conn_close, "conn=%u reason=%s")                                                      \
        X(request_received, "conn=%u devfd=%d cmd=0x%02x sa=0x%02x len=%u")                     \
        X(request_rejected, "conn=%u reason=%s")                                                \
        X(request_parked, "conn=%u uid=%u")                                                     \
        X(sgio_issue, "conn=%u devfd=%d cmd=0x%02x sa=0x%02x")                                  \
        X(sgio_complete, "conn=%u status=0x%02x sense=%02x/%02x/%02x len=%u usec=%llu")         \
        X(reply_sent, "conn=%u status=0x%02x len=%u")

typedef enum TraceEvent {
#define X(name, fmt) TRACE_##name,
        TRACE_EVENTS(X)
#undef X
        _TRACE_EVENT_MAX,
} TraceEvent;

extern bool trace_enabled[_TRACE_EVENT_MAX];

/*
 * Parse one -T argument.  Returns 0, 1 if "help" was asked (list printed
 * to stdout), or -errno with a message already logged.
 */
int trace_parse_option(const char *arg);
/* Open the output file chosen with file= (after parsing all options). */
int trace_init(void);
void trace_emit(const char *name, const char *fmt, ...) _printf_(2, 3);
const char *trace_event_name(TraceEvent e);
bool trace_any_enabled(void);

#define trace(event, ...)                                                                       \
        do {                                                                                    \
                if (_unlikely_(trace_enabled[TRACE_##event]))                                   \
                        trace_emit(#event, TRACE_FMT_##event, __VA_ARGS__);                     \
        } while (0)

#define X(name, fmt) static const char TRACE_FMT_##name[] _unused_ = fmt;
TRACE_EVENTS(X)
#undef X
