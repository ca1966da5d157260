#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Benchmark driver: prhd, Debian's qemu-pr-helper and bench/floor side by
# side, in one run, on the same machine state.  Writes OUT/benchmarks.md and
# OUT/benchmarks-*.png (OUT = docs/ for the real run).
#
#   bench/run.sh [--smoke] [--builddir DIR] [--out DIR] [--duration S] [--rounds N]
#                [--real-device | --no-real-device]
#   meson compile -C BUILDDIR bench        # full run, rewrites docs/benchmarks.md
#   meson compile -C BUILDDIR bench-smoke  # ~1 s per piece, into BUILDDIR/bench-smoke
#
# --real-device (default in the full run when the test/vm rig can boot) runs
# bench/guest-bench.sh in the rig's TCG guest: READ KEYS on an LIO LU through
# each helper and by direct SG_IO.
#
# Load runs are interleaved (for each round, for each client count: every
# helper in turn) so that whatever else the machine does during the run is
# spread over all three alike; figures are medians over the rounds.
# Nothing here judges timings: the exit status is non-zero only when a piece
# failed to run (a helper did not start, a connection or reply failed).
set -u

# The machine is shared: run the full benchmark at a higher priority (nice
# -10, inherited by every helper and the generator) so that builds at nice 0
# disturb it less.  PRH_BENCH_NICE=0 turns this off; the smoke run never does it.
NICE=${PRH_BENCH_NICE:--10}
case " $* " in *" --smoke "*) NICE=0 ;; esac
if [ "$NICE" != 0 ] && [ -z "${PRH_BENCH_NICED-}" ] && nice -n "$NICE" true 2>/dev/null; then
        export PRH_BENCH_NICED=$NICE
        exec nice -n "$NICE" "$0" "$@"
fi

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=$SRC/build-bench
OUT=
SMOKE=0
DURATION=
ROUNDS=
REAL=
REF=${REF:-/usr/bin/qemu-pr-helper}
ARGS=("$@")

while [ $# -gt 0 ]; do
        case $1 in
        --smoke) SMOKE=1 ;;
        --builddir) BUILDDIR=$2; shift ;;
        --out) OUT=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --real-device) REAL=1 ;;
        --no-real-device) REAL=0 ;;
        -h|--help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 1 ;;
        esac
        shift
done
BUILDDIR=$(cd "$BUILDDIR" && pwd) || exit 1

if [ $SMOKE = 1 ]; then
        : "${DURATION:=1}" "${ROUNDS:=1}"
        WARMUP=0.2 IDLE_COUNTS="100 1000" STARTUP_RUNS=3 STALL_S=0.5 ISO_D=2 REAL_D=1 REAL_ROUNDS=1
        : "${REAL:=0}"
        : "${OUT:=$BUILDDIR/bench-smoke}"
else
        : "${DURATION:=3}" "${ROUNDS:=3}"
        WARMUP=0.5 IDLE_COUNTS="1000 10000" STARTUP_RUNS=20 STALL_S=2 ISO_D=16 REAL_D=2 REAL_ROUNDS=3
        : "${REAL:=auto}"
        : "${OUT:=$SRC/docs}"
fi
CLIENTS="1 8 64 512"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# A path as the generated file shows it: relative to the repository, or under
# "BUILDDIR" for a build directory outside it, so that docs/ never names one
# machine's directories.  System paths (/usr/bin/...) stay as they are.
rel() {
        case $1 in
        "$SRC") echo . ;;
        "$SRC"/*) echo "${1#"$SRC"/}" ;;
        "$BUILDDIR") echo BUILDDIR ;;
        "$BUILDDIR"/*) echo "BUILDDIR/${1#"$BUILDDIR"/}" ;;
        *) echo "$1" ;;
        esac
}
CMDLINE="bench/run.sh"
for ((i = 0; i < ${#ARGS[@]}; i++)); do
        a=${ARGS[i]}
        case $a in
        --builddir) CMDLINE="$CMDLINE $a $(rel "$BUILDDIR")"; i=$((i + 1)) ;;
        --out) CMDLINE="$CMDLINE $a $(rel "$OUT")"; i=$((i + 1)) ;;
        *) CMDLINE="$CMDLINE $a" ;;
        esac
done

LOADGEN=$BUILDDIR/bench/loadgen
FLOOR=$BUILDDIR/bench/floor
STALLFS=$BUILDDIR/bench/stallfs
PRHD=${PRHD:-$BUILDDIR/src/daemon/prhd}

TMP=$(mktemp -d /tmp/prh-bench.XXXXXX)
RAW=$TMP/raw.txt
FAILED=0
declare -A PIDS=()

log() { echo "bench: $*" >&2; }

cleanup() {
        for h in "${!PIDS[@]}"; do kill "${PIDS[$h]}" 2>/dev/null; done
        wait 2>/dev/null
        if mountpoint -q "$TMP/fuse" 2>/dev/null; then
                fusermount3 -u "$TMP/fuse" 2>/dev/null || umount -l "$TMP/fuse"
        fi
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for f in "$LOADGEN" "$FLOOR"; do
        [ -x "$f" ] || { echo "run.sh: $f missing: meson compile -C $BUILDDIR" >&2; exit 1; }
done

HELPERS=()
declare -A CMD=()
if [ -x "$PRHD" ]; then
        HELPERS+=(prhd)
        # Limits: prhd may cap connections below what the memory test opens.
        PRHD_ARGS=${PRHD_ARGS-}
        # The load generator is one uid: the per-peer bound (3/4 of the global one by
        # default) would cap the idle-connection test at 7,488 on a hard fd limit of 20,000.
        if [ -z "$PRHD_ARGS" ]; then
                PRHD_ARGS="--max-connections=20000 --max-connections-per-peer=20000"
        fi
        # The load sends /dev/null and FUSE fds, which prhd acts on only with --unsafe-any-fd.
        PRHD_ARGS="--unsafe-any-fd $PRHD_ARGS"
        CMD[prhd]="$PRHD -k @SOCK@ $PRHD_ARGS"
else
        log "no prhd at $PRHD: measuring the reference and the floor only"
fi
if [ -x "$REF" ]; then
        HELPERS+=(ref)
        CMD[ref]="$REF -k @SOCK@"
else
        log "no $REF"
fi
HELPERS+=(floor)
CMD[floor]="$FLOOR -k @SOCK@"

# Every helper and the generator may hold 10,000+ fds: give them the hard limit
# (raising it needs CAP_SYS_RESOURCE, which containers often lack).
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
# prhd budgets two fds per connection plus 32: 10,000 idle connections need
# 20,032.  Raise the limit where we may (root with CAP_SYS_RESOURCE).
if [ "$NOFILE" -lt 65536 ] && prlimit --nofile=65536:65536 true 2>/dev/null; then
        NOFILE=65536
fi

start_helper() {        # name -> PIDS[name], socket $TMP/name.sock
        local h=$1 sock=$TMP/$1.sock
        rm -f "$sock"
        # shellcheck disable=SC2086
        prlimit --nofile=$NOFILE:$NOFILE ${CMD[$h]//@SOCK@/$sock} 2>>"$TMP/$h.log" &
        PIDS[$h]=$!
        for _ in $(seq 500); do
                [ -S "$sock" ] && break
                sleep 0.01
        done
        if [ ! -S "$sock" ]; then
                log "$h did not create $sock"; FAILED=1; return 1
        fi
        sleep 0.1
}

stop_helper() {
        local h=$1
        [ -n "${PIDS[$h]-}" ] || return 0
        kill "${PIDS[$h]}" 2>/dev/null
        wait "${PIDS[$h]}" 2>/dev/null
        unset "PIDS[$h]"
}

lg() {          # tag, loadgen args...: run, keep the RESULT line under tag
        local tag=$1 line rc; shift
        line=$(prlimit --nofile=$NOFILE:$NOFILE "$LOADGEN" "$@" 2>>"$TMP/loadgen.log")
        rc=$?
        [ $rc = 0 ] || { log "loadgen $* exited $rc"; FAILED=1; }
        echo "$tag $line" >>"$RAW"
        echo "$tag $line" >&2
}

field() {       # tag field -> values (one per matching line)
        grep -E "^$1 " "$RAW" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
med() { field "$1" "$2" | median; }
mean() { field "$1" "$2" | awk '{s+=$1} END {if (NR) printf "%.0f", s/NR; else print "nan"}'; }

snapshot_load() {
        echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg); busiest now: $(top -bn1 -o %CPU | awk 'NR > 7 && NR <= 10 {printf "%s %s%%, ", $12, $9}' | sed 's/, $//')"
}

LOAD_BEFORE=$(snapshot_load)
T_START=$(date -u +%FT%TZ)
log "helpers: ${HELPERS[*]}; out: $OUT; $LOAD_BEFORE"

# ---- 1. throughput and latency, host mode (/dev/null: SG_IO fails at once with ENOTTY) ----
for h in "${HELPERS[@]}"; do start_helper "$h" || exit 1; done
for r in $(seq "$ROUNDS"); do
        for c in $CLIENTS; do
                for h in "${HELPERS[@]}"; do
                        lg "load:$h:$c" -k "$TMP/$h.sock" -c "$c" -d "$DURATION" -w "$WARMUP" \
                                -f /dev/null -p "${PIDS[$h]}"
                done
        done
done
for h in "${HELPERS[@]}"; do stop_helper "$h"; done

# ---- 2. memory: idle RSS, and with N idle clients, then one request on each ----
for n in $IDLE_COUNTS; do
        for h in "${HELPERS[@]}"; do
                start_helper "$h" || continue
                sleep 0.3
                lg "idle:$h:$n" -k "$TMP/$h.sock" --idle "$n" -p "${PIDS[$h]}"
                stop_helper "$h"
        done
done

# ---- 3. startup: exec to first completed handshake ----
for h in "${HELPERS[@]}"; do
        # shellcheck disable=SC2086
        lg "startup:$h" -k "$TMP/$h.startup.sock" --startup "$STARTUP_RUNS" -- \
                ${CMD[$h]//@SOCK@/$TMP/$h.startup.sock}
done

# ---- 4. isolation: 8 clients on /dev/null, one more whose device stalls ----
ISO=0
if [ -x "$STALLFS" ] && [ -c /dev/fuse ]; then
        mkdir -p "$TMP/fuse"
        "$STALLFS" -s "$STALL_S" "$TMP/fuse" -f -o default_permissions 2>>"$TMP/stallfs.log" &
        STALLFS_PID=$!
        for _ in $(seq 300); do [ -e "$TMP/fuse/stall" ] && break; sleep 0.01; done
        if [ -e "$TMP/fuse/stall" ]; then
                ISO=1
                for h in "${HELPERS[@]}"; do
                        start_helper "$h" || continue
                        # the ninth client alternates: a stalled request, a pause as long; the
                        # fast clients' rate is compared between the two phases of one run
                        lg "iso:$h" -k "$TMP/$h.sock" -c 8 -d "$ISO_D" -w "$WARMUP" \
                                --stall "$TMP/fuse/stall" --stall-pause "$STALL_S" -p "${PIDS[$h]}"
                        stop_helper "$h"
                done
        else
                log "stallfs did not mount: isolation skipped"; FAILED=1
        fi
        fusermount3 -u "$TMP/fuse" 2>/dev/null || umount -l "$TMP/fuse"
        wait "$STALLFS_PID" 2>/dev/null
else
        log "no stallfs or /dev/fuse: isolation skipped"
fi

# ---- 5. where the time goes: syscalls and context switches per request, 64 clients ----
PROF=0
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
        PROF=1
        SC_LIST="recvmsg sendmsg epoll_wait epoll_ctl fcntl ioctl close futex read write poll ppoll"
        SC_EVENTS=
        for sc in $SC_LIST; do
                perf stat -e "syscalls:sys_enter_$sc" -- true >/dev/null 2>&1 && SC_EVENTS="$SC_EVENTS,syscalls:sys_enter_$sc"
        done
        for h in "${HELPERS[@]}"; do
                # the helper runs under perf from its exec, so that every thread it
                # ever creates is counted (perf stat -p misses later threads)
                sock=$TMP/$h.sock
                rm -f "$sock"
                # shellcheck disable=SC2086
                prlimit --nofile=$NOFILE:$NOFILE perf stat -x, -o "$TMP/perf.$h" \
                        -e raw_syscalls:sys_enter,context-switches,task-clock$SC_EVENTS -- \
                        ${CMD[$h]//@SOCK@/$sock} 2>>"$TMP/$h.log" &
                perf_pid=$!
                for _ in $(seq 500); do [ -S "$sock" ] && break; sleep 0.01; done
                hpid=$(pgrep -P "$perf_pid" | head -1)
                if [ ! -S "$sock" ] || [ -z "$hpid" ]; then
                        log "$h did not start under perf"; kill "$perf_pid" 2>/dev/null; wait "$perf_pid"; FAILED=1
                        continue
                fi
                sleep 0.1
                lg "prof-load:$h" -k "$sock" -c 64 -d "$DURATION" -w "$WARMUP" -p "$hpid"
                kill "$hpid"
                wait "$perf_pid"
                # Requests: every helper issues exactly one SG_IO ioctl per request, so
                # the ioctl count is the request count of the very threads counted.
                replies=$(field "prof-load:$h" check | tail -1)
                replies=$((replies + $(field "prof-load:$h" good | tail -1)))
                awk -F, -v r="$replies" -v tag="prof:$h" '
                        $3 ~ /raw_syscalls/ { sc = $1 } $3 ~ /context-switches/ { cs = $1 } $3 ~ /task-clock/ { tc = $1 }
                        $3 ~ /syscalls:sys_enter_/ { n = $3; sub(/.*sys_enter_/, "", n); per[n] = $1 }
                        END { if (per["ioctl"] > 0) r = per["ioctl"]
                                if (r > 0) { printf "%s RESULT mode=prof requests=%d syscalls_per_req=%.2f cs_per_req=%.3f cpu_us_per_req=%.2f", tag, r, sc / r, cs / r, tc * 1000 / r
                                for (n in per) printf " sc_%s=%.2f", n, per[n] / r; printf "\n" } }' \
                        "$TMP/perf.$h" | tee -a "$RAW" >&2
        done
fi

# ---- 6. real device: LIO in the test/vm rig's guest ----
REAL_OK=0
VMRUN=$SRC/test/vm/vm-run.sh
if [ "$REAL" = auto ]; then
        if [ -x "$VMRUN" ] && [ -f "$SRC/test/vm/rig-lib.sh" ] && command -v qemu-system-x86_64 >/dev/null &&
                ls /boot/vmlinuz-* >/dev/null 2>&1; then
                REAL=1
        else
                REAL=0
                log "no test/vm rig: real-device part skipped"
        fi
fi
if [ "$REAL" = 1 ]; then
        mkdir -p "$TMP/vm"
        real_helpers=()
        for h in "${HELPERS[@]}"; do
                real_helpers+=("$h=$(echo "${CMD[$h]}" | awk '{print $1}')")
        done
        log "real device: booting the rig guest (TCG)"
        if "$VMRUN" -c "$BUILDDIR/bench-vm-cache" -r "$TMP/vm" -s "$SRC" -s "$BUILDDIR" -t 900 -- \
                "$SRC/bench/guest-bench.sh" "$TMP/vm" "$LOADGEN" "$REAL_D" "$REAL_ROUNDS" "${real_helpers[@]}" >"$TMP/vm.log" 2>&1 &&
                [ -s "$TMP/vm/real.txt" ]; then
                cat "$TMP/vm/real.txt" >>"$RAW"
                REAL_OK=1
                GUEST=$(cat "$TMP/vm/guest.txt" 2>/dev/null)
        else
                log "real-device run failed: $(tail -5 "$TMP/vm.log")"
                FAILED=1
        fi
fi

LOAD_AFTER=$(snapshot_load)
T_END=$(date -u +%FT%TZ)

# ---- report ----
fmt_k() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "–"; else if (v >= 10000) printf "%.1fk", v/1000; else printf "%.0f", v }'; }
fmt() { awk -v v="$1" -v f="${2:-%.1f}" 'BEGIN { if (v == "nan" || v == "") print "–"; else printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.2f", a / b }'; }
verdict() {     # value op bound -> met / not met
        awk -v v="$1" -v op="$2" -v b="$3" 'BEGIN {
                if (v == "nan" || v == "") { print "no figure"; exit }
                ok = (op == ">=") ? (v >= b) : (v <= b); print ok ? "met" : "**not met**" }'
}
name() { case $1 in prhd) echo prhd ;; ref) echo "qemu-pr-helper" ;; floor) echo floor ;; esac; }
has() { for x in "${HELPERS[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

CPU_MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
HYPER=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor: *//p' | head -1)
MEM=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
PRHD_VER=$(has prhd && "$PRHD" --version 2>&1 | head -1)
PRHD_VER=${PRHD_VER/#"$PRHD"/$(rel "$PRHD")}    # --version starts with argv[0]
REF_VER=$(has ref && "$REF" --version 2>&1 | head -1)
# the tree the binaries were built from (maybe an export of a commit, with .prh-rev)
BUILD_SRC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
        "$BUILDDIR/meson-info/meson-info.json" 2>/dev/null || echo "$SRC")
if [ -f "$BUILD_SRC/.prh-rev" ]; then
        GIT_REV="$(cat "$BUILD_SRC/.prh-rev"), exported"
        GIT_DIRTY=
else
        GIT_REV=$(git -C "$BUILD_SRC" rev-parse --short HEAD 2>/dev/null)
        GIT_DIRTY=$(git -C "$BUILD_SRC" status --porcelain -- src 2>/dev/null | grep -q . && echo " + uncommitted changes in src/")
fi
CC_VER=$(cc --version | head -1)
BUILDTYPE=$(python3 -c 'import json,sys; print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"]=="buildtype"))' \
        "$BUILDDIR/meson-info/intro-buildoptions.json" 2>/dev/null)

# plot data: clients rps(prhd ref floor) p99(prhd ref floor)
PLOT=$TMP/plot.dat
for c in $CLIENTS; do
        row="$c"
        for h in prhd ref floor; do row="$row $(has $h && med "load:$h:$c" rps || echo nan)"; done
        for h in prhd ref floor; do row="$row $(has $h && med "load:$h:$c" p99_us || echo nan)"; done
        for h in prhd ref floor; do row="$row $(has $h && med "load:$h:$c" srv_us_per_req || echo nan)"; done
        echo "$row"
done >"$PLOT"
PNG_T=benchmarks-throughput.png
PNG_L=benchmarks-latency.png
PNG_C=benchmarks-cpu.png
gnuplot <<EOF 2>>"$TMP/gnuplot.log" || log "gnuplot failed"
set terminal pngcairo size 800,500 font "sans,10"
set datafile missing "nan"
set logscale x 2
set xtics (1, 8, 64, 512)
set xrange [0.7:750]
set key top left
set grid
set xlabel "client connections"
set output "$OUT/$PNG_T"
set title "PR IN throughput, host mode (fd = /dev/null), median of $ROUNDS x ${DURATION} s"
set ylabel "requests/s"
set yrange [0:*]
plot "$PLOT" u 1:2 w lp lw 2 t "prhd", "" u 1:3 w lp lw 2 t "qemu-pr-helper", "" u 1:4 w lp lw 2 dt 2 t "floor"
set output "$OUT/$PNG_L"
set title "PR IN latency p99, host mode"
set ylabel "p99 latency (us)"
set logscale y
set yrange [*:*]
plot "$PLOT" u 1:5 w lp lw 2 t "prhd", "" u 1:6 w lp lw 2 t "qemu-pr-helper", "" u 1:7 w lp lw 2 dt 2 t "floor"
set output "$OUT/$PNG_C"
set title "Server CPU time per request, host mode"
set ylabel "CPU us per request"
unset logscale y
set yrange [0:*]
plot "$PLOT" u 1:8 w lp lw 2 t "prhd", "" u 1:9 w lp lw 2 t "qemu-pr-helper", "" u 1:10 w lp lw 2 dt 2 t "floor"
EOF

DOC=$OUT/benchmarks.md
# A hand-written analysis between these markers survives regeneration.
ANALYSIS=
if [ -f "$DOC" ]; then
        ANALYSIS=$(sed -n '/^<!-- BEGIN ANALYSIS/,/^<!-- END ANALYSIS/p' "$DOC")
fi
{
echo "# Benchmarks"
echo
if [ $SMOKE = 1 ]; then
        echo "**Smoke run**: every piece ran for about a second. These figures only show that the benchmark works."
        echo
fi
echo "Generated by \`$CMDLINE\` (\`meson compile -C BUILDDIR bench\` runs the same), $T_START – $T_END."
echo "Every figure below was measured in that one run; ratios compare figures of the same run."
echo "Nothing here is a pass/fail test: the \"met\" column reads the issue's targets against this run."
echo
echo "## How to run"
echo
echo "\`\`\`"
echo "meson setup build -Dbuildtype=release && meson compile -C build"
echo "meson compile -C build bench         # this file and docs/benchmarks-*.png (about 6 minutes)"
echo "meson compile -C build bench-smoke   # every piece for about a second, into build/bench-smoke/"
echo "bench/run.sh --help                  # options: --builddir, --out, --duration, --rounds, --no-real-device"
echo "\`\`\`"
echo
echo "Pieces (bench/): loadgen.c (closed-loop clients, idle clients, startup timing, direct SG_IO),"
echo "floor.c (the measuring stick), stallfs.c (FUSE file whose ioctl sleeps), guest-bench.sh (the"
echo "real-device part, run inside the test/vm guest), run.sh (the driver that writes this file)."
echo
echo "## Machine and versions"
echo
echo "| | |"
echo "| --- | --- |"
echo "| CPU | ${CPU_MODEL:-?}, $(nproc) online CPUs${HYPER:+, guest of $HYPER} |"
echo "| memory | $MEM |"
echo "| kernel | $(uname -r) |"
echo "| prhd | ${PRHD_VER:-not built} (git $GIT_REV$GIT_DIRTY, $BUILDTYPE build, $CC_VER) ${PRHD_ARGS:+, run with \`$PRHD_ARGS\`} |"
echo "| reference | ${REF_VER:-not installed} |"
echo "| floor | bench/floor.c, same build |"
echo "| other load | before: $LOAD_BEFORE; after: $LOAD_AFTER |"
echo "| priority | $( [ -n "${PRH_BENCH_NICED-}" ] && echo "nice $PRH_BENCH_NICED for everything the benchmark starts" || echo "nice 0") |"
echo
echo "The machine is shared with other work (builds, a TCG guest); load runs are interleaved so that"
echo "all helpers see the same background, and each load figure is the median of $ROUNDS runs."
echo
echo "## Targets (issue 6) against this run"
echo
echo "| target | figure in this run | met? |"
echo "| --- | --- | --- |"
if has prhd; then
        for c in 8 64; do
                rr=$(ratio "$(med load:prhd:$c rps)" "$(med load:ref:$c rps)")
                rf=$(ratio "$(med load:prhd:$c rps)" "$(med load:floor:$c rps)")
                echo "| throughput, $c clients: ≥ 2x reference | $rr x ($(fmt_k "$(med load:prhd:$c rps)") vs $(fmt_k "$(med load:ref:$c rps)") req/s) | $(verdict "$rr" ">=" 2) |"
                echo "| throughput, $c clients: ≥ 0.75x floor | $rf x ($(fmt_k "$(med load:prhd:$c rps)") vs $(fmt_k "$(med load:floor:$c rps)") req/s) | $(verdict "$rf" ">=" 0.75) |"
        done
        rp=$(ratio "$(med load:prhd:64 p99_us)" "$(med load:ref:64 p99_us)")
        echo "| p99 at 64 clients: ≤ 0.5x reference | $rp x ($(fmt "$(med load:prhd:64 p99_us)" %.0f) vs $(fmt "$(med load:ref:64 p99_us)" %.0f) µs) | $(verdict "$rp" "<=" 0.5) |"
        first_idle=${IDLE_COUNTS%% *}
        rss0=$(field "idle:prhd:$first_idle" rss0_kb | head -1)
        echo "| idle RSS ≤ 2 MB | $(fmt "$(awk -v k="$rss0" 'BEGIN{print k/1024}')" %.2f) MB | $(verdict "$rss0" "<=" 2048) |"
        for n in $IDLE_COUNTS; do
                pc=$(field "idle:prhd:$n" per_conn_b | head -1)
                echo "| ≤ 2 KB per idle connection ($n clients) | $(fmt "$pc" %.0f) B | $(verdict "$pc" "<=" 2048) |"
        done
        for n in $IDLE_COUNTS; do
                sv=$(field "idle:prhd:$n" served | head -1); fl=$(field "idle:prhd:$n" failed | head -1)
                echo "| $n idle connections served without error | ${sv:-0} served, ${fl:-?} failed | $( [ "${sv:-0}" = "$n" ] && [ "${fl:-1}" = 0 ] && echo met || echo '**not met**') |"
        done
        if [ $ISO = 1 ]; then
                keep=$(ratio "$(field iso:prhd stall_busy_rps)" "$(field iso:prhd stall_free_rps)")
                echo "| isolation: ≥ 95% of throughput with one device stalled | $(fmt "$(awk -v k="$keep" 'BEGIN{print k*100}')" %.0f)% | $(verdict "$keep" ">=" 0.95) |"
        fi
        if [ $REAL_OK = 1 ]; then
                for c in 1 8; do
                        rr=$(ratio "$(med real:prhd:$c rps)" "$(med real:ref:$c rps)")
                        rf=$(ratio "$(med real:prhd:$c rps)" "$(med real:floor:$c rps)")
                        echo "| real device, $c client(s): ≥ 2x reference | $rr x ($(fmt_k "$(med real:prhd:$c rps)") vs $(fmt_k "$(med real:ref:$c rps)") req/s) | $(verdict "$rr" ">=" 2) |"
                        echo "| real device, $c client(s): ≥ 0.8x floor | $rf x ($(fmt_k "$(med real:prhd:$c rps)") vs $(fmt_k "$(med real:floor:$c rps)") req/s) | $(verdict "$rf" ">=" 0.8) |"
                done
        else
                echo "| real device (LIO in the VM rig), 1 and 8 clients | not run: see below | no figure |"
        fi
else
        echo "| all | prhd was not built: no figures | – |"
fi
echo
if [ -n "$ANALYSIS" ]; then
        echo "$ANALYSIS"
        echo
fi
echo "## Throughput and latency, host mode"
echo
echo "PR IN READ KEYS (allocation length 1024) with an fd on /dev/null: SG_IO fails at once with ENOTTY"
echo "and every helper answers CHECK CONDITION, so the figure is the helper's own cost (socket, fd"
echo "passing, validation, ioctl, reply). Closed loop: each connection sends its next request when the"
echo "reply has arrived. ${DURATION} s measured after ${WARMUP} s warm-up; median of $ROUNDS interleaved runs."
echo "CPU columns: CPU time per request of the server and of the load generator (from /proc and"
echo "getrusage over the measured interval), which shows which side the time goes to; \"loadgen CPU %\" is"
echo "the generator's CPU use in percent of one CPU (it has $(nproc) threads at most): well below"
echo "$(nproc)00% means the generator was waiting for replies, not saturated."
echo
echo "| clients | helper | req/s | p50 µs | p99 µs | max µs | server µs CPU/req | loadgen µs CPU/req | loadgen CPU % | vs reference | vs floor |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for c in $CLIENTS; do
        for h in "${HELPERS[@]}"; do
                t=load:$h:$c
                echo "| $c | $(name $h) | $(fmt_k "$(med $t rps)") | $(fmt "$(med $t p50_us)") | $(fmt "$(med $t p99_us)" %.0f) | $(fmt "$(med $t max_us)" %.0f) | $(fmt "$(med $t srv_us_per_req)" %.2f) | $(fmt "$(med $t lg_us_per_req)" %.2f) | $(fmt "$(med $t lg_cpu_pct)" %.0f) | $(has ref && ratio "$(med $t rps)" "$(med load:ref:$c rps)" || echo –) | $(ratio "$(med $t rps)" "$(med load:floor:$c rps)") |"
        done
done
echo
echo "![throughput]($PNG_T)"
echo "![latency]($PNG_L)"
echo "![server CPU per request]($PNG_C)"
echo
echo "## Memory"
echo
echo "VmRSS of a freshly started helper, then with N clients connected and idle after the handshake,"
echo "then after one request on each of them (every connection must be answered)."
echo
echo "| helper | idle RSS | N | RSS with N idle | per idle connection | after one request each | per connection | served / failed |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in $IDLE_COUNTS; do
        for h in "${HELPERS[@]}"; do
                t=idle:$h:$n
                kb() { awk -v k="$1" 'BEGIN { if (k == "" || k < 0) print "–"; else printf "%.2f MB", k/1024 }'; }
                echo "| $(name $h) | $(kb "$(field $t rss0_kb | head -1)") | $n | $(kb "$(field $t rss_idle_kb | head -1)") | $(fmt "$(field $t per_conn_b | head -1)" %.0f) B | $(kb "$(field $t rss_served_kb | head -1)") | $(fmt "$(field $t per_conn_served_b | head -1)" %.0f) B | $(field $t served | head -1) / $(field $t failed | head -1) |"
        done
done
echo
echo "## Startup"
echo
echo "Time from posix_spawn() to the first completed handshake on the socket (the client polls connect"
echo "every 20 µs), $STARTUP_RUNS runs each."
echo
echo "| helper | median ms | min ms | max ms |"
echo "| --- | ---: | ---: | ---: |"
for h in "${HELPERS[@]}"; do
        t=startup:$h
        echo "| $(name $h) | $(fmt "$(field $t median_ms)" %.2f) | $(fmt "$(field $t min_ms)" %.2f) | $(fmt "$(field $t max_ms)" %.2f) |"
done
echo
echo "## Isolation"
echo
if [ $ISO = 1 ]; then
        echo "8 clients on /dev/null for ${ISO_D} s while a ninth client alternates: one request whose fd is a"
        echo "file on bench/stallfs (a FUSE file system whose ioctl handler sleeps ${STALL_S} s), then a ${STALL_S} s pause."
        echo "The fast clients' completions are counted per 100 ms; the rate in the intervals wholly inside a"
        echo "stall is compared with the rate in the intervals wholly outside one, a second or two apart in"
        echo "the same run, so that the background load affects both alike. The floor is single-threaded on"
        echo "purpose and shows what no isolation looks like."
        echo
        echo "| helper | req/s, no stall outstanding | req/s, one device stalled | kept | time stalled / free | stalled requests completed |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
        for h in "${HELPERS[@]}"; do
                t=iso:$h
                echo "| $(name $h) | $(fmt_k "$(field $t stall_free_rps)") | $(fmt_k "$(field $t stall_busy_rps)") | $(fmt "$(field $t stall_kept_pct)" %.0f)% | $(field $t stall_busy_s) s / $(field $t stall_free_s) s | $(field $t stall_done) |"
        done
else
        echo "Not run (no stallfs binary or no /dev/fuse)."
fi
echo
echo "## Real device (LIO in the VM rig)"
echo
if [ $REAL_OK = 1 ]; then
        echo "bench/guest-bench.sh in the test/vm rig's guest ($GUEST, TCG on this host): LIO fileio LU"
        echo "through tcm_loop, PR IN READ KEYS on its block device, ${REAL_D} s per run, median of $REAL_ROUNDS interleaved runs after a warm-up round that is not counted, direct SG_IO from"
        echo "N threads of the load generator, or N connections through each helper. Software emulation makes"
        echo "every context switch dear: compare only within this table."
        echo
        echo "| clients | path | req/s | p50 µs | p99 µs | vs reference | vs floor | vs direct | server CPU µs/req |"
        echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for c in 1 8; do
                for h in direct "${HELPERS[@]}"; do
                        t=real:$h:$c
                        echo "| $c | $( [ $h = direct ] && echo "direct SG_IO" || name $h) | $(fmt_k "$(med $t rps)") | $(fmt "$(med $t p50_us)" %.0f) | $(fmt "$(med $t p99_us)" %.0f) | $(ratio "$(med $t rps)" "$(med real:ref:$c rps)") | $(ratio "$(med $t rps)" "$(med real:floor:$c rps)") | $(ratio "$(med $t rps)" "$(med real:direct:$c rps)") | $( [ $h = direct ] && echo – || fmt "$(med $t srv_us_per_req)" %.0f) |"
                done
        done
else
        echo "Not run in this run (\`--real-device\` needs test/vm/vm-run.sh, a kernel in /boot and"
        echo "qemu-system-x86_64)."
fi
echo
if [ $PROF = 1 ]; then
        echo "## Where the time goes (64 clients, host mode)"
        echo
        echo "\`perf stat\` on each server, started under perf, over one more 64-client run: system calls,"
        echo "context switches and CPU time divided by the number of SG_IO ioctls (one per request in every"
        echo "helper; the startup's own system calls are a few hundred among 100,000s). System calls are dear"
        echo "on this machine (a guest), so the system calls per request explain most of the CPU difference"
        echo "to the floor."
        echo
        hdr="| helper | syscalls / request | context switches / request | server CPU µs / request |"
        sep="| --- | ---: | ---: | ---: |"
        for sc in $SC_LIST; do
                [ -n "$(grep '^prof:' "$RAW" | grep -o " sc_$sc=" | head -1)" ] || continue
                hdr="$hdr $sc |"; sep="$sep ---: |"
        done
        echo "$hdr"
        echo "$sep"
        for h in "${HELPERS[@]}"; do
                row="| $(name $h) | $(field prof:$h syscalls_per_req) | $(field prof:$h cs_per_req) | $(field prof:$h cpu_us_per_req) |"
                for sc in $SC_LIST; do
                        [ -n "$(grep '^prof:' "$RAW" | grep -o " sc_$sc=" | head -1)" ] || continue
                        row="$row $(field prof:$h sc_$sc) |"
                done
                echo "$row"
        done
        echo
        echo "Per-call columns: system calls of that name per request (only those seen in this run)."
        echo
fi
echo "## Raw results"
echo
echo "Each line: tag (piece:helper:clients) and the load generator's RESULT line."
echo
echo '```'
cat "$RAW"
echo '```'
} >"$DOC"

log "wrote $DOC"
[ $FAILED = 0 ] || log "some pieces failed to run (see above)"
exit $FAILED
