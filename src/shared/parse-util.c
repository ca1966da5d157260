/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse-util.h"

int safe_atou64(const char *s, uint64_t *ret) {
        char *end = NULL;
        unsigned long long v;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (!end || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atou32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);

        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_msec(const char *s, uint32_t *ret_ms) {
        char buf[32];
        size_t n = s ? strlen(s) : 0;
        uint64_t mult = 1, v;
        int r;

        if (n == 0 || n >= sizeof buf)
                return -EINVAL;
        memcpy(buf, s, n + 1);
        if (n > 2 && strcmp(buf + n - 2, "ms") == 0)
                buf[n - 2] = 0;
        else if (n > 1 && buf[n - 1] == 's') {
                buf[n - 1] = 0;
                mult = 1000;
        }
        r = safe_atou64(buf, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX / mult)
                return -ERANGE;
        *ret_ms = (uint32_t) (v * mult);
        return 0;
}
