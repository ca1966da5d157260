/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libFuzzer entry point every target defines; fuzz-main.c drives it without libFuzzer. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort on a broken invariant, also in release builds: a fuzzer must notice. */
#define FUZZ_ASSERT(x)                                                                                                 \
        do {                                                                                                           \
                if (!(x)) {                                                                                            \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);                      \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)

/*
 * Structured input for targets that build a scenario from the fuzzer's
 * bytes: each take consumes from the front; an exhausted input yields
 * zeros (callers stop on fuzz_input_left() == 0 where that matters).
 */
typedef struct FuzzInput {
        const uint8_t *p;
        size_t left;
} FuzzInput;

static inline size_t fuzz_input_left(const FuzzInput *in) {
        return in->left;
}

static inline uint8_t fuzz_take_u8(FuzzInput *in) {
        if (in->left == 0)
                return 0;
        in->left--;
        return *in->p++;
}

static inline uint16_t fuzz_take_u16(FuzzInput *in) {
        uint8_t hi = fuzz_take_u8(in);          /* two statements: the order of evaluation matters */
        return (uint16_t) ((hi << 8) | fuzz_take_u8(in));
}

static inline uint64_t fuzz_take_u64(FuzzInput *in) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | fuzz_take_u8(in);
        return v;
}

/* Copy up to n bytes (fewer at the input's end); returns the count copied. */
static inline size_t fuzz_take_bytes(FuzzInput *in, void *out, size_t n) {
        if (n > in->left)
                n = in->left;
        if (n)
                memcpy(out, in->p, n);
        in->p += n;
        in->left -= n;
        return n;
}
