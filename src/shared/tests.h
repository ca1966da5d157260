/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal unit-test support: checks that report file:line and keep going,
 * and "guarded" buffers that end exactly at an unmapped page so that any
 * over-read by a codec faults instead of passing silently.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int tests_failed;
static int tests_checked;

#define CHECK(expr)                                                                     \
        do {                                                                            \
                tests_checked++;                                                        \
                if (!(expr)) {                                                          \
                        tests_failed++;                                                 \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                }                                                                       \
        } while (0)

#define CHECK_EQ(a, b)                                                                  \
        do {                                                                            \
                long long _a = (long long) (a), _b = (long long) (b);                   \
                tests_checked++;                                                        \
                if (_a != _b) {                                                         \
                        tests_failed++;                                                 \
                        fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n",        \
                                __FILE__, __LINE__, #a, #b, _a, _b);                    \
                }                                                                       \
        } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

/* Copy n bytes into memory whose end abuts a PROT_NONE page. */
static inline void *guarded_copy(const void *src, size_t n) {
        long page = sysconf(_SC_PAGESIZE);
        size_t pages = (n + (size_t) page - 1) / (size_t) page + 1;
        char *base = mmap(NULL, pages * (size_t) page, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED)
                abort();
        if (mprotect(base + (pages - 1) * (size_t) page, (size_t) page, PROT_NONE) < 0)
                abort();
        char *p = base + (pages - 1) * (size_t) page - n;
        if (n)
                memcpy(p, src, n);
        return p;
}

static inline void guarded_free(void *p, size_t n) {
        long page = sysconf(_SC_PAGESIZE);
        size_t pages = (n + (size_t) page - 1) / (size_t) page + 1;
        char *end = (char *) p + n;
        (void) munmap(end - (pages - 1) * (size_t) page, pages * (size_t) page);
}

static inline int tests_finish(const char *name) {
        fprintf(stderr, "%s: %d checks, %d failed\n", name, tests_checked, tests_failed);
        return tests_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
