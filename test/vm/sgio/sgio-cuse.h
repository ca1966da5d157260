/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What sgio-cuse (the programmable SG_IO device) and the tests that drive it
 * share: its data limit, the byte pattern of its "fill" answers, and the hex
 * text its "answer" and "request" files carry bytes in.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Largest data transfer the device serves (the helpers' PR IN buffer). */
#define SGIO_CUSE_MAX_DATA 8192

/* Byte i of the pattern seeded by seed: never zero, so a stale byte is never mistaken for a cleared one. */
static inline uint8_t sgio_cuse_fill_byte(unsigned seed, size_t i) {
        return (uint8_t) ((seed * 31u + i * 7u) % 255u + 1u);
}

/* Bytes from hex text ("0a1b...", whitespace allowed between bytes); how many were read. */
static inline size_t sgio_cuse_hex_parse(const char *s, uint8_t *out, size_t max) {
        size_t n = 0;

        while (*s && n < max) {
                unsigned v;

                if (*s == ' ' || *s == '\t' || *s == '\n') {
                        s++;
                        continue;
                }
                if (sscanf(s, "%2x", &v) != 1)
                        break;
                out[n++] = (uint8_t) v;
                s += 2;
        }
        return n;
}
