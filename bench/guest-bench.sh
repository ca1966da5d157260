#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Real-device benchmark, guest side: runs inside the test/vm rig's guest
# (test/vm/vm-run.sh), sets up LIO with one LU (test/vm/rig-lib.sh), then
# PR IN READ KEYS on that LU's block device, 1 and 8 clients, through each
# helper and by direct SG_IO.  Writes RESULT lines (bench/loadgen) tagged
# real:WHAT:CLIENTS to RESULTS/real.txt; bench/run.sh --real-device reads them.
#
#   guest-bench.sh RESULTS LOADGEN DURATION ROUNDS NAME=BINARY...
#
# (perf stat inside the TCG guest gave inconsistent counts, so the guest
# figures stop at requests/s, latency and the server's CPU time.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../test/vm/rig-lib.sh"

results=$1
loadgen=$2
duration=$3
rounds=$4
shift 4
out=$results/real.txt
: >"$out"

lio_init
lio_lu_create
rig_log "LIO ready: $RIG_DEV_A ($RIG_SG_A)"
dev=$RIG_DEV_A

run() {         # tag, loadgen args
        tag=$1
        shift
        line=$("$loadgen" "$@" 2>>"$results/loadgen.log") || rig_log "loadgen $* exited $?"
        echo "$tag $line" | tee -a "$dest"
}

# Interleaved like the host runs: for each round and client count, every path
# in turn.  Round 0 is a warm-up and is not reported: TCG translates code on
# its first run, and in a trial run on 2026-11-26 every path was 1.2-2x
# slower in the first round than in the two after it.
for round in $(seq 0 "$rounds"); do
if [ "$round" = 0 ]; then
        dest=$results/warmup.txt
else
        dest=$out
fi
for c in 1 8; do
        run "real:direct:$c" --direct -f "$dev" -c "$c" -d "$duration" -w 0.5
        for h in "$@"; do
                name=${h%%=*}
                bin=${h#*=}
                sock=/run/bench-$name.sock
                rm -f "$sock"
                "$bin" -k "$sock" 2>>"$results/$name.log" &
                pid=$!
                for _ in $(seq 1 200); do
                        [ -S "$sock" ] && break
                        sleep 0.05
                done
                sleep 0.2
                run "real:$name:$c" -k "$sock" -f "$dev" -c "$c" -d "$duration" -w 0.5 -p "$pid"
                kill "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
done
done
echo "$(uname -r) $(nproc) vCPUs" >"$results/guest.txt"
