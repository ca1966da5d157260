/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libFuzzer entry point every target defines; fuzz-main.c drives it without libFuzzer. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort on a broken invariant, also in release builds: a fuzzer must notice. */
#define FUZZ_ASSERT(x)                                                                                                 \
        do {                                                                                                           \
                if (!(x)) {                                                                                            \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);                      \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)
