/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Summing per-thread counters (stats.h); the snapshot itself is in admin.c. */
#include "stats.h"

void stats_add(ThreadStats *dst, ThreadStats *src) {
        for (unsigned o = 0; o < 2; o++)
                for (unsigned sa = 0; sa < 32; sa++)
                        for (unsigned r = 0; r < _STATS_RESULT_MAX; r++)
                                atomic_fetch_add_explicit(&dst->requests[o][sa][r],
                                                          atomic_load_explicit(&src->requests[o][sa][r], memory_order_relaxed),
                                                          memory_order_relaxed);
        for (unsigned b = 0; b < STATS_BUCKETS; b++)
                atomic_fetch_add_explicit(&dst->latency[b], atomic_load_explicit(&src->latency[b], memory_order_relaxed),
                                          memory_order_relaxed);
        atomic_fetch_add_explicit(&dst->latency_sum_us, atomic_load_explicit(&src->latency_sum_us, memory_order_relaxed),
                                  memory_order_relaxed);
}
