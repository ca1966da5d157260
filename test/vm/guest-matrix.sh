#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of the scenario matrix (issue item 1): LIO with one LU on
# two tcm_loop nexuses, the helpers started as daemons on their sockets,
# then pr-matrix compares every reply across direct SG_IO and each helper.
#
#   guest-matrix.sh RESULTS PR-MATRIX NAME=HELPER-BINARY... [-- PR-MATRIX-ARGS]
#
# e.g. guest-matrix.sh /res build/test/vm/pr-matrix \
#          qemu-pr-helper=/usr/bin/qemu-pr-helper prhd=build/src/daemon/prhd
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/rig-lib.sh"

results=$1
matrix=$2
shift 2

t0=$(rig_uptime)
lio_init
lio_lu_create
t1=$(rig_uptime)
rig_log "LIO ready in $(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }') s: A=$RIG_DEV_A ($RIG_SG_A) B=$RIG_DEV_B ($RIG_SG_B)"

helpers=
names=
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
        name=${1%%=*}
        bin=${1#*=}
        helper_start "$name" "$bin" "/run/$name.sock"
        helpers="$helpers --helper $name=/run/$name.sock"
        names="$names $name"
        shift
done
[ "$#" -gt 0 ] && shift

rc=0
# shellcheck disable=SC2086
"$matrix" --port-a "$RIG_TGT_WWN_A" --port-b "$RIG_TGT_WWN_B" --lu-file "$RIG_LU_FILE" \
        --log "$results/pr-matrix.log" $helpers "$@" | tee "$results/pr-matrix.txt" || rc=$?
# tee hides the exit status in plain sh; pr-matrix prints its verdict last
grep -q ': 0 mismatches, 0 unexpected outcomes, 0 call errors$' "$results/pr-matrix.txt" || rc=1

for name in $names; do
        if ! kill -0 "$(cat "/run/$name.pid")" 2>/dev/null; then
                rig_log "FAIL: helper $name died during the matrix"
                rc=1
        fi
        helper_stop "$name" || rc=1
done
exit "$rc"
