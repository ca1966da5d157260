/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strict number parsing: whole string, no sign surprises; 0 or -errno. */
#pragma once

#include <stdint.h>

int safe_atou64(const char *s, uint64_t *ret);
int safe_atou32(const char *s, uint32_t *ret);
/* Parse "<n>" with an optional ms/s suffix into milliseconds. */
int parse_msec(const char *s, uint32_t *ret_ms);
