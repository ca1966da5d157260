/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What sgio-cuse (the programmable SG_IO device) and the tests that drive it
 * share: its data limit and the byte pattern of its "fill" answers.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Largest data transfer the device serves (the helpers' PR IN buffer). */
#define SGIO_CUSE_MAX_DATA 8192

/* Byte i of the pattern seeded by seed: never zero, so a stale byte is never mistaken for a cleared one. */
static inline uint8_t sgio_cuse_fill_byte(unsigned seed, size_t i) {
        return (uint8_t) ((seed * 31u + i * 7u) % 255u + 1u);
}
