#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Fail if the shared library exports any symbol outside the prh_* namespace,
# or exports nothing at all.
set -eu
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sed 's/@.*//' | sort -u)
n=$(printf '%s\n' "$syms" | grep -c '^prh_' || true)
bad=$(printf '%s\n' "$syms" | grep -v -e '^prh_' -e '^LIBPRH_' -e '^$' || true)
if [ -n "$bad" ]; then
        echo "unexpected exported symbols:" >&2
        printf '%s\n' "$bad" >&2
        exit 1
fi
if [ "$n" -lt 10 ]; then
        echo "only $n prh_* symbols exported" >&2
        exit 1
fi
echo "$n prh_* symbols exported, nothing else"
