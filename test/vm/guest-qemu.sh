#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of "real QEMU as the client" (issue items 2, 3, 4).  For
# each helper in turn, on a fresh LU: start the helper as a daemon, boot a
# nested guest under qemu-system-x86_64 with
#   -object pr-manager-helper,path=<helper socket>
#   -device virtio-scsi-pci + scsi-block on /dev/sdA (rw), /dev/sdB (rw),
#                              /dev/sdA again through a read-only drive
# and let nested-init.sh run its sg_persist session, iscsi-test-cu's PR
# tests, the helper restart (it asks over a second serial line; this script
# stops and restarts the helper) and the read-only checks.  Then every
# test's output and exit status must be identical for all helpers, and the
# outcomes the issue asks for must hold.
#
#   guest-qemu.sh RESULTS KERNEL NESTED-INITRD NAME=HELPER-BINARY...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/rig-lib.sh"

results=$1
kernel=$2
initrd=$3
shift 3
[ "$#" -ge 1 ] || rig_die "no helper given"

nested_timeout=${PRH_NESTED_TIMEOUT:-900}

# The outer guest's TCG CPU ("-cpu max") emulates AMD SVM, so KVM loads in
# it: the nested guest then runs under KVM on the emulated SVM, one level
# of binary translation instead of two (several times faster than TCG in
# TCG).  PRH_NESTED_ACCEL=tcg forces pure emulation.
accel=${PRH_NESTED_ACCEL:-}
if [ -z "$accel" ]; then
        accel=tcg
        if grep -qw svm /proc/cpuinfo && modprobe kvm_amd 2>/dev/null && [ -c /dev/kvm ]; then
                accel=kvm
        elif grep -qw vmx /proc/cpuinfo && modprobe kvm_intel 2>/dev/null && [ -c /dev/kvm ]; then
                accel=kvm
        fi
fi
rig_log "nested guests use accel=$accel"

t0=$(rig_uptime)
lio_init
lio_lu_create
rig_log "LIO ready in $(echo "$t0 $(rig_uptime)" | awk '{ printf "%.1f", $2 - $1 }') s"

# Split a nested console log into OUT/<test>.txt and OUT/<test>.rc.
split_console() {
        tr -d '\r' < "$1/console.log" | awk -v dir="$1" '
                /^@@BEGIN / { name = $2; f = dir "/" name ".txt"; printf "" > f; next }
                /^@@END / { split($3, a, "="); print a[2] > (dir "/" name ".rc"); close(f);
                            close(dir "/" name ".rc"); print name >> (dir "/tests"); name = ""; next }
                # the only run-dependent line: CUnit's elapsed time
                name != "" && /^Elapsed time = / { next }
                name != "" { print >> f }'
}

# The nested guest's control line: STOP and START requests for the helper.
controller() {
        name=$1 bin=$2 sock=$3 ctl=$4
        exec 3< "$ctl.out"
        while read -r line <&3; do
                line=$(printf '%s' "$line" | tr -d '\r')
                case "$line" in
                @@STOP)
                        if helper_stop "$name"; then
                                rig_log "helper $name stopped at the nested guest's request"
                                echo stopped > "$ctl.in"
                        else
                                echo stop-failed > "$ctl.in"
                        fi
                        ;;
                @@START)
                        if (helper_start "$name" "$bin" "$sock"); then
                                echo started > "$ctl.in"
                        else
                                echo start-failed > "$ctl.in"
                        fi
                        ;;
                esac
        done
}

names=
for arg in "$@"; do
        name=${arg%%=*}
        bin=${arg#*=}
        names="$names $name"
        out=$results/qemu-$name
        rm -rf "$out"
        mkdir -p "$out"
        lio_lu_fresh
        sock=/run/$name.sock
        helper_start "$name" "$bin" "$sock"
        ctl=/run/ctl-$name
        rm -f "$ctl.in" "$ctl.out"
        mkfifo "$ctl.in" "$ctl.out"

        ts=$(rig_uptime)
        # shellcheck disable=SC2086
        timeout -k 5 "$nested_timeout" qemu-system-x86_64 \
                -machine q35,accel="$accel" -cpu max -smp 1 -m 384 \
                -nodefaults -no-user-config -display none -no-reboot \
                -kernel "$kernel" -initrd "$initrd" \
                -append "console=ttyS0 panic=-1 quiet loglevel=1 mitigations=off" \
                -chardev file,id=con,path="$out/console.log" -serial chardev:con \
                -chardev pipe,id=ctl,path="$ctl" -serial chardev:ctl \
                -object pr-manager-helper,id=pr0,path="$sock" \
                -device virtio-scsi-pci,id=scsi0 \
                -blockdev driver=raw,node-name=hda,file.driver=host_device,file.filename="$RIG_DEV_A",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hda,scsi-id=0,lun=0 \
                -blockdev driver=raw,node-name=hdb,file.driver=host_device,file.filename="$RIG_DEV_B",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdb,scsi-id=1,lun=0 \
                -blockdev driver=raw,node-name=hdro,read-only=on,file.driver=host_device,file.filename="$RIG_DEV_A",file.read-only=on,file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdro,scsi-id=2,lun=0 \
                < /dev/null > "$out/qemu.log" 2>&1 &
        qpid=$!
        controller "$name" "$bin" "$sock" "$ctl" &
        cpid=$!
        qrc=0
        wait "$qpid" || qrc=$?
        kill "$cpid" 2>/dev/null || true
        wait "$cpid" 2>/dev/null || true
        te=$(rig_uptime)
        rig_log "nested guest with $name: qemu exit $qrc after $(echo "$ts $te" | awk '{ printf "%.1f", $2 - $1 }') s"
        if [ -s "$out/qemu.log" ]; then
                sed 's/^/  qemu: /' "$out/qemu.log" >&2
        fi
        if ! kill -0 "$(cat "/run/$name.pid" 2>/dev/null)" 2>/dev/null; then
                rig_log "FAIL: helper $name is not running after the nested guest"
                echo dead > "$out/helper-state"
        fi
        helper_stop "$name" || true
        split_console "$out"
        if ! grep -q '^@@DONE' "$out/console.log"; then
                rig_log "FAIL: the nested guest with $name did not finish; its console:"
                tr -d '\r' < "$out/console.log" | tail -n 60 >&2
                echo unfinished > "$out/state"
        fi
done

# ---- compare ----------------------------------------------------------------
set -- $names
first=$1
rc=0
fail() {
        echo "FAIL: $*"
        rc=1
}

# iscsi-test-cu: "Test: NAME ...passed" / "...FAILED" per test.
cu_results() {
        grep -E '^ *Test: ' "$1" | sed -E 's/^ *Test: ([^ ]+) \.\.\.(.*)$/\1 \2/' | sed -E 's/ +$//'
}

echo
echo "== nested QEMU (pr-manager-helper -> helper -> LIO): per test, exit status through each helper"
printf '  %-26s' test
for n in $names; do printf ' %-16s' "$n"; done
echo " verdict"
for test in $(cat "$results/qemu-$first/tests" 2>/dev/null); do
        printf '  %-26s' "$test"
        verdict=identical
        for n in $names; do
                r=$(cat "$results/qemu-$n/$test.rc" 2>/dev/null || echo missing)
                printf ' %-16s' "rc=$r"
                if ! cmp -s "$results/qemu-$first/$test.txt" "$results/qemu-$n/$test.txt" ||
                   ! cmp -s "$results/qemu-$first/$test.rc" "$results/qemu-$n/$test.rc"; then
                        verdict=DIFFERENT
                fi
        done
        echo " $verdict"
        if [ "$verdict" != identical ]; then
                fail "$test differs between helpers"
                for n in $names; do
                        [ "$n" = "$first" ] && continue
                        diff -u --label "$first" --label "$n" "$results/qemu-$first/$test.txt" \
                                "$results/qemu-$n/$test.txt" | sed 's/^/    /' || true
                done
        fi
done
for n in $names; do
        [ -s "$results/qemu-$n/tests" ] || fail "no test output from the nested guest with $n"
        [ -e "$results/qemu-$n/state" ] && fail "nested guest with $n did not finish"
        [ -e "$results/qemu-$n/helper-state" ] && fail "helper $n died"
        if [ "$n" != "$first" ] && ! cmp -s "$results/qemu-$first/tests" "$results/qemu-$n/tests"; then
                fail "the nested guest ran different tests with $first and $n"
        fi
done

for suite in iscsi-prin iscsi-prout; do
        echo
        echo "== iscsi-test-cu $suite: each test's result"
        for n in $names; do
                cu_results "$results/qemu-$n/$suite.txt" > "$results/qemu-$n/$suite.results" 2>/dev/null || true
        done
        printf '  %-40s' test
        for n in $names; do printf ' %-16s' "$n"; done
        echo
        cut -d' ' -f1 "$results/qemu-$first/$suite.results" | while read -r tc; do
                printf '  %-40s' "$tc"
                for n in $names; do
                        printf ' %-16s' "$(grep "^$tc " "$results/qemu-$n/$suite.results" | head -n1 | cut -d' ' -f2-)"
                done
                echo
        done
        [ -s "$results/qemu-$first/$suite.results" ] || fail "iscsi-test-cu $suite reported no tests"
        grep -E 'Run Summary|tests ' "$results/qemu-$first/$suite.txt" | sed 's/^/  /' || true
done

# ---- what the issue requires, checked on every helper ----------------------
rc_of() {
        cat "$results/qemu-$1/$2.rc" 2>/dev/null || echo missing
}
echo
for n in $names; do
        for test in sgp-register-a sgp-register-b sgp-reserve-a sgp-read-keys sgp-read-reservation \
                    sgp-read-full-status sgp-report-capabilities sgp-preempt-by-b sgp-read-keys-a \
                    sgp-release-b sgp-clear-b sgp-read-keys-final; do
                [ "$(rc_of "$n" "$test")" = 0 ] || fail "$n: $test exited $(rc_of "$n" "$test"), expected success"
        done
        grep -q '0xb2b2' "$results/qemu-$n/sgp-read-reservation-2.txt" 2>/dev/null ||
                fail "$n: after PREEMPT the reservation is not B's"
        grep -q 'NO registered reservation keys' "$results/qemu-$n/sgp-read-keys-final.txt" 2>/dev/null ||
                fail "$n: CLEAR left keys behind"
        grep -q 'NO registered reservation keys' "$results/qemu-$n/clean-read-keys.txt" 2>/dev/null ||
                fail "$n: could not clean up after iscsi-test-cu"
        # item 3: the first PR command after the restart succeeds
        [ "$(rc_of "$n" restart-while-down)" != 0 ] || fail "$n: a PR command succeeded while the helper was down"
        for test in restart-before restart-after restart-after-out restart-after-2; do
                [ "$(rc_of "$n" "$test")" = 0 ] || fail "$n: $test exited $(rc_of "$n" "$test") (helper restart)"
        done
        # item 4: PR OUT through a read-only drive: CHECK CONDITION, ILLEGAL REQUEST
        [ "$(rc_of "$n" ro-read-keys)" = 0 ] || fail "$n: PR IN on the read-only drive failed"
        for test in ro-register ro-reserve; do
                [ "$(rc_of "$n" "$test")" != 0 ] || fail "$n: $test on the read-only drive succeeded"
                grep -qi 'illegal request' "$results/qemu-$n/$test.txt" 2>/dev/null ||
                        fail "$n: $test on the read-only drive did not fail with ILLEGAL REQUEST"
        done
        grep -q '0xd4d4' "$results/qemu-$n/ro-read-keys-rw.txt" 2>/dev/null &&
                fail "$n: the read-only drive registered a key"
done
[ "$rc" = 0 ] && echo "guest-qemu: all helpers gave identical results and every required outcome held"
exit "$rc"
