#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Multipath scenario of the VM rig (issue 5), run inside the outer guest:
#
#   mpath.sh RESULTS PRHD MPATH-PR [KERNEL NESTED-INITRD]
#
# e.g. from the host:
#   test/vm/vm-run.sh -s "$PWD" -s "$BUILD" -r /tmp/res -- \
#       "$PWD/test/vm/mpath/mpath.sh" /tmp/res "$BUILD/src/daemon/prhd" "$BUILD/test/vm/mpath/mpath-pr"
#
# Set-up (mpath-lib.sh): the rig's LU on two tcm_loop nexuses = two paths of
# one dm-multipath map, multipathd running, reservation_key configured; a
# second LU on one nexus, blacklisted, is the plain SCSI device.  Then,
# through one prhd on the map's fd:
#   1. REGISTER, RESERVE, READ KEYS, READ RESERVATION, READ FULL STATUS,
#      REPORT CAPABILITIES, PREEMPT, RELEASE, CLEAR, each checked against
#      SG_IO on a path device (PR IN data byte for byte) and, after
#      REGISTER, the key on both I_T nexuses (sg_persist --in -s per path);
#   2. the same PR OUT sequence through prhd and through mpathpersist, from
#      the same state: equal outcomes, equal READ FULL STATUS after every step,
#      equal READ KEYS / READ RESERVATION as mpathpersist decodes them;
#   3. path failure: path B offline, REGISTER, path B back: multipathd
#      registers the key on it;
#   4. what the reference cannot do: REGISTER AND MOVE refused with INVALID
#      FIELD IN CDB, 40 transport IDs answered (55/04) without the daemon
#      dying, a key multipath.conf does not know logged with the hint;
#   5. the plain SCSI LU served by SG_IO in the same daemon;
#   6. (with KERNEL and NESTED-INITRD, see run-mpath.sh) real QEMU: a nested
#      guest's sg_persist session on a scsi-block disk backed by the map,
#      with pr-manager-helper on prhd;
#   7. a slow map does not starve plain devices: with multipathd stopped,
#      every library REGISTER waits for its reply (uxsock_timeout); a
#      second prhd with --max-requests=2 gets six of them at once, and a
#      request on the plain LU must still be answered at once;
#   8-10. issue 12's scenarios 6-8 (faults.sh): a path failing during
#      REGISTER + RESERVE + PREEMPT, a helper killed -9 with a nested
#      guest's request in flight, two nested guests (PRH_FX8_GUESTS)
#      fencing each other.
# Every check prints PASS/FAIL; the exit status is 0 only if all passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/vm/rig-lib.sh
. "$here/../rig-lib.sh"
# shellcheck source=test/vm/mpath/mpath-lib.sh
. "$here/mpath-lib.sh"

results=$1
PRHD=$2
MPR=$3
KERNEL=${4:-}
NESTED_INITRD=${5:-}
SOCK=/run/prhd-mpath.sock
K=123abc                # = MP_KEY, the map's reservation_key
KF=f0f0                 # a key multipath.conf does not know ("the other host")
# (pass, fail, check, check_re and their counters $checks, $fails: rig-lib.sh)

pr() {                  # through prhd, on the map
        "$MPR" -k "$SOCK" "$MP_MAP" "$@"
}

pr_on() {               # through prhd, on another device
        dev=$1
        shift
        "$MPR" -k "$SOCK" "$dev" "$@"
}

direct() {              # SG_IO on path A, as a reference
        "$MPR" --direct "$RIG_DEV_A" "$@"
}

first() {
        printf '%s\n' "$1" | head -n 1
}

status_of() {
        first "$1" | sed 's/ len=.*//'
}

# READ FULL STATUS on path A without the PRgeneration and with the
# descriptors sorted: the LU's PR state.  (The library registers the paths
# in parallel threads, so the device lists them in either order.)  The
# rig's transport IDs are SAS: every descriptor is 48 bytes.
state() {
        first "$(direct in 3)" | awk '{
                d = $NF; sub(/^data=/, "", d)
                n = 0
                for (i = 17; i <= length(d); i += 96)
                        desc[++n] = substr(d, i, 96)
                for (i = 1; i <= n; i++)        # insertion sort, n is tiny
                        for (j = i; j > 1 && desc[j] < desc[j - 1]; j--) {
                                t = desc[j]; desc[j] = desc[j - 1]; desc[j - 1] = t
                        }
                out = substr(d, 9, 8)
                for (i = 1; i <= n; i++)
                        out = out " " desc[i]
                $NF = "data=gen " out
                print
        }'
}

# PRH_MPATH_SECTIONS: which sections to run (default all), e.g. "6" to try the nested part alone.
want() {
        case " ${PRH_MPATH_SECTIONS:-1 2 3 4 5 6 7 8 9 10} " in
        *" $1 "*) return 0 ;;
        esac
        return 1
}

prhd_alive() {
        kill -0 "$PRHD_PID" 2>/dev/null
}

t0=$(rig_uptime)
mp_init
t1=$(rig_uptime)
rig_log "multipath ready in $(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }') s: map $MP_MAP over $RIG_DEV_A $RIG_DEV_B, plain LU $MP_PLAIN"

# prhd in the foreground (stderr kept), -v -v: debug lines show which way
# each request went; its connection trace goes to prhd-mpath.trace.
rm -f "$SOCK" "$results/prhd-mpath.trace"     # prhd appends to its trace file
"$PRHD" -k "$SOCK" -f /run/prhd-mpath.pid -v -v -T "conn_*,file=$results/prhd-mpath.trace" \
        2> "$results/prhd-mpath.log" &
PRHD_PID=$!
for _ in $(seq 1 100); do
        [ -S "$SOCK" ] && break
        sleep 0.1
done
[ -S "$SOCK" ] || rig_die "prhd did not come up"
check_re "prhd: multipath support active" "$(cat "$results/prhd-mpath.log")" "Multipath support active"

# ---- 1. the PR sequence through prhd on the map -------------------------------
if want 1; then
echo "== 1. PR commands through prhd on $MP_MAP"
check "READ KEYS, nothing registered" "$(status_of "$(pr in 0)")" "status=0x00 sense=0/00/00"
check "REGISTER" "$(status_of "$(pr out 0 0 0 $K)")" "status=0x00 sense=0/00/00"
for dev in "$RIG_DEV_A" "$RIG_DEV_B"; do
        # each nexus sees two registrations of the key: its own and the other path's
        n=$(sg_persist --in -k "$dev" 2>/dev/null | grep -c "0x$K\$")
        check "REGISTER reached both I_T nexuses (sg_persist --in -k $dev)" "$n" 2
        n=$(sg_persist --in -s "$dev" 2>/dev/null | grep -c "Key=0x$K\$")
        check "sg_persist --in -s $dev lists the key for both nexuses" "$n" 2
done
rfs=$(sg_persist --in -s "$RIG_DEV_A" 2>/dev/null)
check_re "initiator A registered" "$rfs" "0x5001405000000b01|5001405000000b01"
check_re "initiator B registered" "$rfs" "0x5001405000000b02|5001405000000b02"

check "RESERVE Write Exclusive" "$(status_of "$(pr out 1 1 $K 0)")" "status=0x00 sense=0/00/00"
for sa in 0 1 2 3; do
        check "PR IN service action $sa: prhd on the map = SG_IO on a path" "$(first "$(pr in $sa)")" "$(first "$(direct in $sa)")"
done
# short allocation lengths: the library path answers exactly the allocation length
check "READ KEYS, allocation length 10" "$(first "$(pr in 0 10)")" "$(first "$(direct in 0 10)")"
r=$(pr in 1)
check_re "READ RESERVATION shows the holder" "$(printf '%s\n' "$r" | sed -n 2p)" "^resv gen=0x[0-9a-f]+ 0x$K type=1\$"
r=$(pr in 3)
# The library registers the paths in parallel: the descriptors come in either order.
check_re "READ FULL STATUS: 2 descriptors, nexus A's SAS transport ID" "$(first "$r")" "len=104 data=.{16}0000000000${K}.*06000000${RIG_INI_WWN_A#naa.}"
check_re "READ FULL STATUS: nexus B's SAS transport ID" "$(first "$r")" "len=104 data=.*06000000${RIG_INI_WWN_B#naa.}"
check_re "REPORT CAPABILITIES" "$(first "$(pr in 2)")" "^status=0x00 sense=0/00/00 len=8 data=0008"

# PREEMPT: nexus B changes its key (another host's key), A's key preempts it
sg_persist --out --register --param-rk=$K --param-sark=$KF "$RIG_DEV_B" > /dev/null 2>&1
check_re "nexus B now holds $KF" "$(sg_persist --in -k "$RIG_DEV_A" 2>/dev/null)" "0x$KF"
check "PREEMPT $KF" "$(status_of "$(pr out 4 1 $K $KF)")" "status=0x00 sense=0/00/00"
check "after PREEMPT: only A's key" "$(pr in 0 | sed -n 2p | cut -d' ' -f3-)" "0x$K"
check "REGISTER AND IGNORE EXISTING KEY (B back)" "$(status_of "$(pr out 6 0 0 $K)")" "status=0x00 sense=0/00/00"
check "RELEASE" "$(status_of "$(pr out 2 1 $K 0)")" "status=0x00 sense=0/00/00"
check_re "no reservation after RELEASE" "$(pr in 1 | sed -n 2p)" " none\$"
check "CLEAR" "$(status_of "$(pr out 3 0 $K 0)")" "status=0x00 sense=0/00/00"
check "no keys after CLEAR" "$(pr in 0 | sed -n 2p | cut -d' ' -f3-)" ""

fi

# ---- capabilities: prhd has served requests, so it is past its privilege drop.
# Multipath support is active: CAP_SYS_ADMIN (device-mapper ioctls) stays
# besides CAP_SYS_RAWIO; with --no-multipath only CAP_SYS_RAWIO.
cap_eff() {             # PID
        sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$1/status"
}
check "prhd with multipath support active keeps CAP_SYS_RAWIO and CAP_SYS_ADMIN" "$(cap_eff "$PRHD_PID")" 0000000000220000
rm -f /run/prhd-nompath.sock
"$PRHD" --no-multipath -v -v -k /run/prhd-nompath.sock 2> "$results/prhd-nompath.log" &
nompath_pid=$!
# the drop follows the socket's creation: wait (5 s at most) until it is done
nompath_caps=
for _ in $(seq 1 50); do
        nompath_caps=$(cap_eff "$nompath_pid")
        [ -S /run/prhd-nompath.sock ] && [ "$nompath_caps" = 0000000000020000 ] && break
        sleep 0.1
done
check "prhd --no-multipath keeps CAP_SYS_RAWIO only" "$nompath_caps" 0000000000020000
check "prhd --no-multipath does not load multipath support" "$(grep -c 'Multipath support' "$results/prhd-nompath.log")" 0
kill "$nompath_pid"
nompath_rc=0
wait "$nompath_pid" || nompath_rc=$?
check "prhd --no-multipath exits 0 on SIGTERM" "$nompath_rc" 0

# ---- 2. prhd vs mpathpersist from the same state --------------------------------
if want 2; then
echo "== 2. the same sequence through prhd and through mpathpersist"
# step: "prhd-args|mpathpersist-args" (B: a direct step on nexus B, the same in both runs)
steps="out 0 0 0 $K|--out --register --param-sark=$K
out 1 1 $K 0|--out --reserve --param-rk=$K --prout-type=1
B|B
out 4 1 $K $KF|--out --preempt --param-rk=$K --param-sark=$KF --prout-type=1
out 6 0 0 $K|--out --register-ignore --param-sark=$K
out 2 1 $K 0|--out --release --param-rk=$K --prout-type=1
out 1 3 $K 0|--out --reserve --param-rk=$K --prout-type=3
out 4 3 $K $K|--out --preempt --param-rk=$K --param-sark=$K --prout-type=3
out 3 0 $K 0|--out --clear --param-rk=$K"
run_sequence() {        # $1 = 1 (prhd) or 2 (mpathpersist); prints one line per step
        printf '%s\n' "$steps" | while IFS= read -r line; do
                a=$(printf '%s' "$line" | cut -d'|' -f"$1")
                if [ "$a" = B ]; then
                        sg_persist --out --register --param-rk=$K --param-sark=$KF "$RIG_DEV_B" > /dev/null 2>&1
                        outcome=direct
                elif [ "$1" = 1 ]; then
                        # shellcheck disable=SC2086
                        s=$(status_of "$(pr $a)")
                        case "$s" in
                        "status=0x00 "*) outcome=ok ;;
                        *) outcome="failed ($s)" ;;
                        esac
                else
                        # shellcheck disable=SC2086
                        if mpathpersist $a "$MP_MAP" > /dev/null 2>&1; then outcome=ok; else outcome="failed ($?)"; fi
                fi
                # the two runs fail for the same reasons, but say it in their own words
                case "$outcome" in failed*) outcome=failed ;; esac
                echo "$line -> $outcome; $(state)"
        done
}
seq_prhd=$(run_sequence 1)
seq_mpp=$(run_sequence 2)
printf '%s\n' "$seq_prhd" > "$results/sequence-prhd.txt"
printf '%s\n' "$seq_mpp" > "$results/sequence-mpathpersist.txt"
if [ "$(printf '%s\n' "$seq_prhd" | sed 's/^.* -> //')" = "$(printf '%s\n' "$seq_mpp" | sed 's/^.* -> //')" ]; then
        pass "prhd and mpathpersist: same outcome and same PR state after each of $(printf '%s\n' "$steps" | wc -l) steps"
else
        fail "prhd and mpathpersist differ:"
        paste -d'\n' "$results/sequence-prhd.txt" "$results/sequence-mpathpersist.txt"
fi
check "the sequences did something" "$(printf '%s\n' "$seq_prhd" | grep -c ' -> ok')" 8

# PR IN decoded by mpathpersist from the same state
pr out 0 0 0 $K > /dev/null
pr out 1 1 $K 0 > /dev/null
mk=$(mpathpersist --in -k "$MP_MAP" 2>/dev/null | awk '/generation=/ { sub(/.*generation=/, ""); sub(/,.*/, ""); g = $0; next }
        /^ *0x/ { k = k " " $1 } END { print "keys gen=" g k }')
check "READ KEYS: prhd = mpathpersist --in -k" "$(pr in 0 | sed -n 2p)" "$mk"
mr=$(mpathpersist --in -r "$MP_MAP" 2>/dev/null | awk '/generation=/ { sub(/.*generation=/, ""); sub(/,.*/, ""); g = $0 }
        /Key = / { k = $3 } /type = Write Exclusive$/ { t = 1 } END { print "resv gen=" g " " k " type=" t }')
check "READ RESERVATION: prhd = mpathpersist --in -r" "$(pr in 1 | sed -n 2p)" "$mr"
ms=$(mpathpersist --in -s "$MP_MAP" 2>/dev/null | grep -c "Key = 0x$K")
check "READ FULL STATUS: mpathpersist --in -s sees the same 2 registrations" "$ms" \
        "$(first "$(pr in 3)" | grep -o "0000000000${K}" | wc -l)"
pr out 3 0 $K 0 > /dev/null

fi

# ---- 3. path failure and return -------------------------------------------------
if want 3; then
echo "== 3. path B offline, REGISTER, path B back"
if mp_path_fail "$RIG_DEV_B"; then
        pass "path $RIG_DEV_B failed"
else
        fail "path $RIG_DEV_B did not fail"
fi
check "REGISTER with one path down" "$(status_of "$(pr out 0 0 0 $K)")" "status=0x00 sense=0/00/00"
check "only nexus A registered" "$(direct in 0 | sed -n 2p | cut -d' ' -f3-)" "0x$K"
if mp_path_reinstate "$RIG_DEV_B"; then
        pass "path $RIG_DEV_B reinstated"
else
        fail "path $RIG_DEV_B not reinstated"
fi
keys=
for _ in $(seq 1 100); do
        keys=$(direct in 0 | sed -n 2p | cut -d' ' -f3-)
        [ "$keys" = "0x$K 0x$K" ] && break
        sleep 0.1
done
check "multipathd registered the key on the returning path" "$keys" "0x$K 0x$K"
pr out 3 0 $K 0 > /dev/null

fi

# ---- 4. beyond the reference -----------------------------------------------------
if want 4; then
echo "== 4. REGISTER AND MOVE, 40 transport IDs, a key multipath.conf does not know"
pr out 0 0 0 $K > /dev/null
check "REGISTER AND MOVE: INVALID FIELD IN CDB" "$(status_of "$(pr out 7 1 $K $K)")" "status=0x02 sense=5/24/00"
check "40 transport IDs: INSUFFICIENT REGISTRATION RESOURCES" "$(status_of "$(pr out-tids 40 0 $K)")" "status=0x02 sense=5/55/04"
if prhd_alive; then pass "prhd alive after 40 transport IDs"; else fail "prhd died"; fi
check "PREEMPT with keys multipath.conf does not know: LUN COMMUNICATION FAILURE (as the reference)" \
        "$(status_of "$(pr out 4 1 $KF abcd)")" "status=0x02 sense=b/08/00"
check_re "prhd explains the reservation_key mismatch" "$(cat "$results/prhd-mpath.log")" \
        "refused PERSISTENT RESERVE OUT PREEMPT: .*reservation_key"
check "still registered (nothing changed)" "$(pr in 0 | sed -n 2p | cut -d' ' -f3-)" "0x$K 0x$K"
pr out 3 0 $K 0 > /dev/null

fi

# ---- 5. the plain SCSI device in the same daemon ---------------------------------
if want 5; then
echo "== 5. plain SCSI LU $MP_PLAIN"
before=$(grep -c "through libmpathpersist" "$results/prhd-mpath.log")
check "plain LU: REGISTER" "$(status_of "$(pr_on "$MP_PLAIN" out 0 0 0 abc)")" "status=0x00 sense=0/00/00"
check "plain LU: READ KEYS = SG_IO" "$(first "$(pr_on "$MP_PLAIN" in 0)")" "$(first "$("$MPR" --direct "$MP_PLAIN" in 0)")"
check "plain LU: REGISTER AND MOVE goes to the device (not refused by prhd)" \
        "$(status_of "$(pr_on "$MP_PLAIN" out 7 1 abc abc)" | grep -c "sense=5/24/00")" 0
check "plain LU: CLEAR" "$(status_of "$(pr_on "$MP_PLAIN" out 3 0 abc 0)")" "status=0x00 sense=0/00/00"
check "plain LU requests did not go through libmpathpersist" "$(grep -c "through libmpathpersist" "$results/prhd-mpath.log")" "$before"
check "path device $RIG_DEV_A is not the map: SG_IO" "$(first "$(pr_on "$RIG_DEV_A" in 2)")" "$(first "$(direct in 2)")"

fi

# ---- 6. real QEMU -------------------------------------------------------------------
if want 6; then
if [ -n "$KERNEL" ] && [ -s "$NESTED_INITRD" ]; then
        echo "== 6. nested QEMU: scsi-block on $MP_MAP, pr-manager-helper on prhd"
        out=$results/nested
        rm -rf "$out"
        mkdir -p "$out"
        before=$(grep -c "through libmpathpersist" "$results/prhd-mpath.log")
        ts=$(rig_uptime)
        accel=$(rig_nested_accel)
        rig_log "nested guest uses accel=$accel"
        # A nested guest that resets before its /init runs is booted again
        # (at most twice) only when rig_nested_retry shows it was no fault
        # of prhd: the trace of its connections is clean and prhd wrote
        # nothing during that boot (no PR request comes before /init).
        RIG_RETRY_FILE=$results/retries.log
        for boot in 1 2 3; do
                logged=$(wc -c < "$results/prhd-mpath.log")
                rig_nested_qemu "$accel" "${PRH_MPATH_NESTED_TIMEOUT:-1200}" "$out" "$KERNEL" "$NESTED_INITRD" "$SOCK" \
                        -blockdev driver=raw,node-name=hd,file.driver=host_device,file.filename="$MP_MAP",file.pr-manager=pr0,file.locking=off \
                        -device scsi-block,bus=scsi0.0,drive=hd,scsi-id=0,lun=0
                qrc=$?
                [ "$boot" -lt 3 ] || break
                logs=$out/helper-log-boot$boot
                mkdir -p "$logs"
                tail -c +$((logged + 1)) "$results/prhd-mpath.log" > "$logs/prhd-mpath.stderr"
                cp "$results/prhd-mpath.trace" "$logs/prhd-mpath.trace"
                rig_nested_retry rig-mpath "$out" "on $MP_MAP" "$boot" "$qrc" prhd-mpath "$logs" || break
        done
        rig_log "nested guest: qemu exit $qrc after $(rig_since "$ts") s"
        tr -d '\r' 2>/dev/null < "$out/console.log" > "$out/console.txt" || : > "$out/console.txt"
        if grep -q '^@@DONE' "$out/console.txt"; then
                pass "nested guest finished"
        else
                fail "nested guest did not finish (qemu exit $qrc)"
                tail -n 40 "$out/console.txt"
                sed 's/^/  qemu: /' "$out/qemu.log"
        fi
        section() {     # the output of one nested test
                awk -v n="$1" '$0 == "@@BEGIN " n { on = 1; next } on && /^@@END / { exit } on { print }' "$out/console.txt"
        }
        for test in register reserve read-keys read-reservation read-full-status report-capabilities release; do
                check "nested sg_persist $test" "$(grep "^@@END $test " "$out/console.txt" | sed 's/.* rc=//')" 0
        done
        check "nested READ KEYS: the key on both paths" "$(section read-keys | grep -c "0x$K\$")" 2
        check_re "nested READ RESERVATION: held by the key" "$(section read-reservation)" "Key=0x$K"
        check "nested READ FULL STATUS: both I_T nexuses" "$(section read-full-status | grep -c "Key=0x$K")" 2
        check_re "nested: no reservation after RELEASE" "$(section read-reservation-2)" "NO reservation held"
        for dev in "$RIG_DEV_A" "$RIG_DEV_B"; do
                n=$(sg_persist --in -k "$dev" 2>/dev/null | grep -c "0x$K\$")
                check "nested REGISTER reached both nexuses (sg_persist --in -k $dev)" "$n" 2
        done
        after=$(grep -c "through libmpathpersist" "$results/prhd-mpath.log")
        check "the nested guest's PR commands went through libmpathpersist" "$([ "$after" -ge $((before + 8)) ] && echo yes)" yes
        pr out 3 0 $K 0 > /dev/null
else
        fail "6. nested QEMU: no kernel / nested initramfs given (run-mpath.sh builds them)"
fi

fi

# ---- 7. a slow map and the execution slots ----------------------------------------
if want 7; then
echo "== 7. plain LU $MP_PLAIN served while requests on $MP_MAP are stuck in libmpathpersist"
ms() {
        echo $(($(date +%s%N) / 1000000))
}
SLOW=/run/prhd-mpath-slow.sock
rm -f "$SLOW"
# Two execution slots; the per-peer bound out of the way (every client here is root).
"$PRHD" -k "$SLOW" -f /run/prhd-mpath-slow.pid --max-requests=2 --max-requests-per-peer=16 -v -v \
        2> "$results/prhd-mpath-slow.log" &
slow_pid=$!
for _ in $(seq 1 100); do
        [ -S "$SLOW" ] && break
        sleep 0.1
done
[ -S "$SLOW" ] || rig_die "the second prhd did not come up"
t=$(ms)
check "plain LU, multipathd running: READ KEYS" "$(status_of "$("$MPR" -k "$SLOW" "$MP_PLAIN" in 0)")" "status=0x00 sense=0/00/00"
base_ms=$(($(ms) - t))
mpd=$(pidof multipathd)
# A stopped multipathd still accepts connections: after a successful REGISTER
# the library tells it the map's new PR state and waits for the answer.
kill -STOP $mpd
t=$(ms)
s=$(status_of "$("$MPR" -k "$SLOW" "$MP_MAP" out 6 0 0 $K)")
one_ms=$(($(ms) - t))
check "map, multipathd stopped: REGISTER AND IGNORE EXISTING KEY" "$s" "status=0x00 sense=0/00/00"
rig_log "plain READ KEYS ${base_ms} ms; one map REGISTER with multipathd stopped ${one_ms} ms"
if [ "$one_ms" -ge 500 ] && [ "$one_ms" -ge $((4 * base_ms)) ]; then
        pass "a map request is slow while multipathd is stopped (${one_ms} ms, plain ${base_ms} ms)"
else
        fail "could not make a map request slow: ${one_ms} ms (plain ${base_ms} ms); the rest of section 7 shows nothing"
fi
bg=
for i in 1 2 3 4 5 6; do
        "$MPR" -k "$SLOW" "$MP_MAP" out 6 0 0 $K > "$results/slow-map-$i.out" 2>&1 &
        bg="$bg $!"
done
sleep 1         # all six are in prhd: two or more in the library, or waiting for it
t=$(ms)
s=$(status_of "$("$MPR" -k "$SLOW" "$MP_PLAIN" in 0)")
plain_ms=$(($(ms) - t))
running=0
for p in $bg; do
        kill -0 "$p" 2>/dev/null && running=$((running + 1))
done
rig_log "plain READ KEYS behind six stuck map requests: ${plain_ms} ms, $running map requests still in flight"
check "plain LU behind stuck map requests: READ KEYS" "$s" "status=0x00 sense=0/00/00"
check "map requests still in flight when the plain one was answered" "$([ "$running" -ge 2 ] && echo yes)" yes
if [ "$plain_ms" -lt $((one_ms / 2)) ]; then
        pass "plain LU answered at once behind stuck map requests (${plain_ms} ms; one map request ${one_ms} ms)"
else
        fail "plain LU waited behind map requests: ${plain_ms} ms (one map request ${one_ms} ms, plain alone ${base_ms} ms)"
fi
kill -CONT $mpd
ok=0
for p in $bg; do
        wait "$p" && ok=$((ok + 1))
done
check "the six map requests completed" "$(cat "$results"/slow-map-*.out | grep -c '^status=0x00 sense=0/00/00')" 6
check "the six map clients exited 0" "$ok" 6
kill -TERM "$slow_pid"
slow_rc=0
wait "$slow_pid" || slow_rc=$?
check "the second prhd exits 0 on SIGTERM" "$slow_rc" 0
pr out 3 0 $K 0 > /dev/null

fi

# ---- 8-10. issue 12's scenarios 6-8 ----------------------------------------------------
# shellcheck source=test/vm/mpath/faults.sh
. "$here/faults.sh"

if prhd_alive; then pass "prhd alive at the end"; else fail "prhd died"; fi
if ev=$(helper_log_check prhd-mpath "$results"); then pass "$ev"; else fail "$ev"; fi
kill -TERM "$PRHD_PID" 2>/dev/null
for _ in $(seq 1 100); do
        helper_pid_alive "$PRHD_PID" || break
        sleep 0.1
done
if helper_pid_alive "$PRHD_PID"; then
        fail "prhd did not exit within 10 s of SIGTERM"
        kill -KILL "$PRHD_PID" 2>/dev/null
fi
wait "$PRHD_PID"
check "prhd's exit status after SIGTERM" "$?" 0
mp_stop
echo "mpath: $checks checks, $fails failed"
[ "$fails" = 0 ]
