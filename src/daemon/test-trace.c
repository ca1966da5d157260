/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of -T parsing; that each event fires is tested by the integration suite. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "tests.h"
#include "trace.h"

static void reset(void) {
        for (size_t i = 0; i < _TRACE_EVENT_MAX; i++)
                trace_enabled[i] = false;
}

int main(void) {
        log_setup("test-trace");

        CHECK(!trace_any_enabled());
        CHECK_EQ(trace_parse_option("conn_*"), 0);
        CHECK(trace_enabled[TRACE_conn_accept]);
        CHECK(trace_enabled[TRACE_conn_close]);
        CHECK(!trace_enabled[TRACE_sgio_issue]);

        reset();
        CHECK_EQ(trace_parse_option("enable=*,-sgio_*"), 0);
        CHECK(trace_enabled[TRACE_reply_sent]);
        CHECK(!trace_enabled[TRACE_sgio_issue]);
        CHECK(!trace_enabled[TRACE_sgio_complete]);

        /* Unknown event names only warn; unknown keys fail. */
        reset();
        CHECK_EQ(trace_parse_option("no_such_event"), 0);
        CHECK(!trace_any_enabled());
        CHECK_EQ(trace_parse_option("bogus=1"), -EINVAL);

        /* events=FILE with comments and blank lines. */
        char path[] = "/tmp/test-trace-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        FILE *f = fdopen(fd, "w");
        CHECK(fputs("# comment\n\nreply_sent\nrequest_*\n-request_rejected\n", f) >= 0);
        CHECK(fclose(f) == 0);
        reset();
        char opt[64];
        snprintf(opt, sizeof opt, "events=%s", path);
        CHECK_EQ(trace_parse_option(opt), 0);
        CHECK(trace_enabled[TRACE_reply_sent]);
        CHECK(trace_enabled[TRACE_request_received]);
        CHECK(!trace_enabled[TRACE_request_rejected]);
        CHECK(!trace_enabled[TRACE_conn_accept]);
        unlink(path);
        CHECK(trace_parse_option("events=/nonexistent/x") < 0);

        /* Every event has a name, and help lists them. */
        for (size_t i = 0; i < _TRACE_EVENT_MAX; i++)
                CHECK(trace_event_name((TraceEvent) i) != NULL);
        CHECK_EQ(trace_parse_option("help"), 1);
        return tests_finish("test-trace");
}
