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
# stops and restarts the helper) and the read-only checks.  qemu-report.sh
# then compares, on the host, every test's output across the helpers.
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

accel=$(rig_nested_accel)
rig_log "nested guests use accel=$accel"

t0=$(rig_uptime)
lio_init
lio_lu_create
rig_log "LIO ready in $(rig_since "$t0") s"

# Baseline: iscsi-test-cu straight on the LU's sg nodes, no QEMU, no helper.
mkdir -p "$results/direct"
iscsi-test-cu -d -t 'ALL.Prin*' "$RIG_SG_A" > "$results/direct/iscsi-prin.txt" 2>&1 || true
iscsi-test-cu -d -t 'ALL.Prout*' "$RIG_SG_A" "$RIG_SG_B" > "$results/direct/iscsi-prout.txt" 2>&1 || true

# Retries of identified infrastructure failures are written here; run-rig.sh
# passes them on to PRH_RETRY_LOG on the host.
# shellcheck disable=SC2034 # read by rig_retry (rig-lib.sh)
RIG_RETRY_FILE=$results/retries.log
# The helpers' stderr and connection traces (helper_start LOGDIR).
logs=$results/helper-logs

# The nested guest's control line: STOP and START requests for the helper.
# A helper that does not stop on SIGTERM, or does not start, fails the test
# (OUT/helper-stop, OUT/helper-start: qemu-report.sh fails on them).
controller() {
        name=$1 bin=$2 sock=$3 ctl=$4 out=$5
        exec 3< "$ctl.out"
        while read -r line <&3; do
                line=$(printf '%s' "$line" | tr -d '\r')
                case "$line" in
                @@STOP)
                        if helper_stop "$name"; then
                                rig_log "helper $name stopped at the nested guest's request"
                                echo stopped > "$ctl.in"
                        else
                                echo "did not exit on SIGTERM at the nested guest's request" >> "$out/helper-stop"
                                echo stop-failed > "$ctl.in"
                        fi
                        ;;
                @@START)
                        if (helper_start "$name" "$bin" "$sock" "$logs"); then
                                echo started > "$ctl.in"
                        else
                                echo "did not start again at the nested guest's request" >> "$out/helper-start"
                                echo start-failed > "$ctl.in"
                        fi
                        ;;
                esac
        done
}

# One nested guest with helper NAME (BIN) on the LU devices DEV_A, DEV_B of
# LU IDX.
nested_run() {
        name=$1 bin=$2 dev_a=$3 dev_b=$4 idx=$5
        out=$results/qemu-$name
        sock=/run/$name.sock
        if ! (helper_start "$name" "$bin" "$sock" "$logs"); then
                echo "helper did not start" > "$out/state"
                return 1
        fi
        ctl=/run/ctl-$name
        rm -f "$ctl.in" "$ctl.out"
        mkfifo "$ctl.in" "$ctl.out"

        # A nested guest that resets before its /init runs is booted again
        # (at most twice), but only when that is shown to be no fault of the
        # helper (rig_nested_retry); any other failure fails the test.
        # A nested guest reset in the middle of its tests is tried again the
        # same way on a fresh LU (rig_nested_reset_evidence); qemu-report.sh
        # still compares the tests that boot finished with the other helpers'.
        for boot in 1 2 3; do
                nested_boot "$name" "$dev_a" "$dev_b" "$out" "$sock" "$ctl" "$bin"
                [ "$boot" = 3 ] && break
                rig_nested_retry "${PRH_RIG_NAME:-rig-qemu}" "$out" "with $name" "$boot" "$qrc" "$name" "$logs" && continue
                ev=$(rig_nested_reset_evidence "$out" "$qrc" "$name" "$logs") || break
                mkdir -p "$out/boot-$boot"
                mv "$out/console.log" "$out/qemu.log" "$out/qemu-debug.log" "$out/boot-$boot/"
                rig_retry "${PRH_RIG_NAME:-rig-qemu}" "nested guest with $name (boot $boot): $ev; logs kept in $out/boot-$boot"
                if [ "$idx" = 0 ]; then
                        lio_lu_fresh
                else
                        lio_lu_destroy_idx "$idx"
                        lio_lu_create_idx "$idx"
                fi
                dev_a=$RIG_DEV_A dev_b=$RIG_DEV_B
                rig_log "$name: LU $idx again, on $dev_a and $dev_b"
        done
        if [ -s "$out/qemu.log" ]; then
                sed "s/^/  qemu ($name): /" "$out/qemu.log" >&2
        fi
        if ! helper_alive "$name"; then
                rig_log "FAIL: helper $name is not running after the nested guest"
                echo dead > "$out/helper-state"
        fi
        if ! helper_stop "$name"; then
                echo "did not exit on SIGTERM after the nested guest" >> "$out/helper-stop"
        fi
        # QEMU reconnects to a helper that closed its connection: a failed
        # accept or handshake would not show in the guest's results
        if ev=$(helper_log_check "$name" "$logs"); then
                rig_log "$ev"
        else
                rig_log "FAIL: $ev"
                echo "$ev" > "$out/helper-log"
        fi
        if ! grep -q '^@@DONE' "$out/console.log"; then
                rig_log "FAIL: the nested guest with $name did not finish; its console:"
                tr -d '\r' 2>/dev/null < "$out/console.log" | tail -n 60 >&2
                rig_log "FAIL: (with $name) this guest's memory: $(free -m | awk '/^Mem:/ { print $3 " MiB used, " $7 " MiB available" }'); its kernel's last lines:"
                dmesg | tail -n 15 | sed "s/^/  dmesg: /" >&2
                echo unfinished > "$out/state"
        fi
}

# One boot of the nested guest; sets qrc to QEMU's exit status.
nested_boot() {
        name=$1 dev_a=$2 dev_b=$3 out=$4 sock=$5 ctl=$6 bin=$7
        ts=$(rig_uptime)
        rig_nested_qemu "$accel" "$nested_timeout" "$out" "$kernel" "$initrd" "$sock" \
                -chardev pipe,id=ctl,path="$ctl" -serial chardev:ctl \
                -blockdev driver=raw,node-name=hda,file.driver=host_device,file.filename="$dev_a",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hda,scsi-id=0,lun=0 \
                -blockdev driver=raw,node-name=hdb,file.driver=host_device,file.filename="$dev_b",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdb,scsi-id=1,lun=0 \
                -blockdev driver=raw,node-name=hdro,read-only=on,file.driver=host_device,file.filename="$dev_a",file.read-only=on,file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdro,scsi-id=2,lun=0 &
        qpid=$!
        controller "$name" "$bin" "$sock" "$ctl" "$out" &
        cpid=$!
        qrc=0
        wait "$qpid" || qrc=$?
        kill "$cpid" 2>/dev/null || true
        wait "$cpid" 2>/dev/null || true
        te=$(rig_uptime)
        rig_log "nested guest with $name: qemu exit $qrc after $(echo "$ts $te" | awk '{ printf "%.1f", $2 - $1 }') s"
}

# Each helper gets its own fresh LU (LU 0, then 2, 3, ...: LU 1 is the
# multipath scenario's) and the nested guests run at the same time, one
# per vCPU of this guest; PRH_NESTED_SERIAL=1 runs them one after another.
names=
pids=
idx=0
for arg in "$@"; do
        name=${arg%%=*}
        bin=${arg#*=}
        names="$names $name"
        rm -rf "$results/qemu-$name" "$logs/$name".*
        mkdir -p "$results/qemu-$name"
        if [ "$idx" = 0 ]; then
                lio_lu_fresh
        else
                lio_lu_destroy_idx "$idx"
                lio_lu_create_idx "$idx"
        fi
        rig_log "$name: LU $idx on $RIG_DEV_A and $RIG_DEV_B"
        if [ "${PRH_NESTED_SERIAL:-0}" = 1 ]; then
                nested_run "$name" "$bin" "$RIG_DEV_A" "$RIG_DEV_B" "$idx" || true
        else
                nested_run "$name" "$bin" "$RIG_DEV_A" "$RIG_DEV_B" "$idx" &
                pids="$pids $!"
        fi
        idx=$((idx == 0 ? 2 : idx + 1))
done
for p in $pids; do
        wait "$p" || true
done
# The comparison and the report run on the host (qemu-report.sh): forks are
# cheap there and dear in an emulated guest.
echo "$names" > "$results/helpers"

