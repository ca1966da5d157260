/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live counters for the admin socket.  The request path only adds to
 * counters its own thread owns (plain stores of relaxed atomics, no shared
 * cache line, no lock); a snapshot sums them under the server lock.
 */
#pragma once

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define STATS_BUCKETS 26        /* latency bucket i: up to 2^i microseconds; the last: more */
#define STATS_SLOW_DEVICES 8

enum {
        STATS_GOOD = 0,
        STATS_CHECK,            /* CHECK CONDITION from the device or the helper */
        STATS_OTHER,            /* any other status (RESERVATION CONFLICT, ...) */
        STATS_DENIED,           /* by the policy */
        _STATS_RESULT_MAX,
};

typedef struct ThreadStats {
        _Atomic uint64_t requests[2][32][_STATS_RESULT_MAX];    /* [PR OUT?][service action][result] */
        _Atomic uint64_t latency[STATS_BUCKETS];
        _Atomic uint64_t latency_sum_us;
        struct ThreadStats *next;
} ThreadStats;

typedef struct SlowDevice {
        dev_t dev;                      /* 0: free */
        unsigned block;
        uint64_t max_us;
        uint64_t slow_requests;         /* requests that set or came close to its record */
} SlowDevice;

/* Add to a counter only this thread writes. */
static inline void stats_bump(_Atomic uint64_t *c, uint64_t n) {
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline unsigned stats_bucket(uint64_t us) {
        unsigned b = 0;

        while (b < STATS_BUCKETS - 1 && us > (1ull << b))
                b++;
        return b;
}

/* dst += src (dst under the caller's lock). */
void stats_add(ThreadStats *dst, ThreadStats *src);
