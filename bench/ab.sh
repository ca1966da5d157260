#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A/B of two prhd binaries on the host (closed-loop READ KEYS on /dev/null,
# bench/loadgen): for each round, for each client count, A then B (then B
# then A in the next round, so that drift in the machine's load hits both
# alike).  Prints one RESULT line per run and the medians per side.
#
#   bench/ab.sh A_PRHD B_PRHD LOADGEN [ROUNDS] [DURATION] [-- EXTRA B ARGS]
#
# Used for docs/benchmarks.md, "Counters, policy (issue 14)": the same daemon before
# and after the per-thread counters.  Run it under flock /tmp/prh-test.lock.
set -eu
A=$1 B=$2 LG=$3 ROUNDS=${4:-4} DUR=${5:-2}
shift $(( $# >= 5 ? 5 : $# ))
[ "${1-}" = -- ] && shift
BEXTRA=("$@")
TMP=$(mktemp -d /tmp/prh-ab-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

run() {         # tag binary clients extra...
        local tag=$1 bin=$2 c=$3 pid line
        shift 3
        rm -f "$TMP/sock"
        "$bin" --unsafe-any-fd -q -k "$TMP/sock" "$@" 2>>"$TMP/err" &
        pid=$!
        for _ in $(seq 100); do [ -S "$TMP/sock" ] && break; sleep 0.02; done
        line=$("$LG" -k "$TMP/sock" -c "$c" -d "$DUR" -p "$pid" 2>>"$TMP/err" | grep '^RESULT' || true)
        kill "$pid"; wait "$pid" || true
        echo "$tag c=$c $line"
}

for r in $(seq "$ROUNDS"); do
        for c in 1 8 64; do
                if [ $((r % 2)) = 1 ]; then
                        run A "$A" "$c"; run B "$B" "$c" "${BEXTRA[@]}"
                else
                        run B "$B" "$c" "${BEXTRA[@]}"; run A "$A" "$c"
                fi
        done
done | tee "$TMP/all"

echo "# medians over $ROUNDS rounds of ${DUR} s"
for c in 1 8 64; do
        for s in A B; do
                grep "^$s c=$c " "$TMP/all" | python3 -c '
import sys, statistics, re
rps, cpu, p50 = [], [], []
for l in sys.stdin:
    d = dict(re.findall(r"(\w+)=([0-9.]+)", l))
    if "rps" in d: rps.append(float(d["rps"]))
    if "srv_us_per_req" in d: cpu.append(float(d["srv_us_per_req"]))
    if "p50_us" in d: p50.append(float(d["p50_us"]))
print("%s clients=%s req/s=%.1fk p50_us=%.1f server_us_cpu_per_req=%s" % (sys.argv[1], sys.argv[2],
      statistics.median(rps) / 1000 if rps else 0, statistics.median(p50) if p50 else 0, ("%.2f" % statistics.median(cpu)) if cpu else "?"))
' "$s" "$c"
        done
done
