#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of the scenario matrix (issue item 1): LIO with one LU on
# two tcm_loop nexuses, the helpers started as daemons on their sockets,
# then pr-matrix compares every reply across direct SG_IO and each helper.
# Then the same over a second fabric, for what tcm_loop cannot run (a
# PREEMPT AND ABORT that succeeds deadlocks LIO through tcm_loop in Linux
# 6.1): a LU on LIO's iSCSI target at 127.0.0.1, logged in to by the
# kernel's initiator (open-iscsi) under two initiator names (iscsi-lib.sh).
# Each fabric has its own output and verdict; both must pass.
#
#   guest-matrix.sh RESULTS PR-MATRIX NAME=HELPER-BINARY... [-- PR-MATRIX-ARGS]
#
# e.g. guest-matrix.sh /res build/test/vm/pr-matrix \
#          qemu-pr-helper=/usr/bin/qemu-pr-helper prhd=build/src/daemon/prhd
# PR-MATRIX-ARGS (e.g. --only NAME,...) go to both pr-matrix runs; a fabric
# none of whose scenarios is selected is not set up.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/rig-lib.sh"
. "$here/iscsi-lib.sh"

results=$1
matrix=$2
shift 2

secs() {
        echo "$1 $2" | awk '{ printf "%.1f", $2 - $1 }'
}

helper_args=
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
        helper_args="$helper_args $1"
        shift
done
[ "$#" -gt 0 ] && shift

iscsi_args="--iscsi $(iscsi_tpg) --initiator-a $ISCSI_INI_A --initiator-b $ISCSI_INI_B --backstore $ISCSI_BACKSTORE"
iscsi_args="$iscsi_args --lu-file $ISCSI_LU_FILE"
# which fabrics the selection needs (pr-matrix refuses unknown names)
loop_sel=$("$matrix" --list "$@") || exit 1
# shellcheck disable=SC2086
iscsi_sel=$("$matrix" $iscsi_args --list "$@") || exit 1
if [ -n "$iscsi_sel" ] && ! { command -v iscsiadm && command -v iscsid; } > /dev/null; then
        echo "guest-matrix: SKIP: iscsiadm/iscsid missing (open-iscsi; see test/vm/setup-packages.sh)" >&2
        exit 77
fi

t0=$(rig_uptime)
lio_init
if [ -n "$iscsi_sel" ]; then
        # set up in the background while the tcm_loop matrix runs (it is
        # mostly waiting for exec over 9p): the two fabrics share nothing
        # but LIO's core, and pr-matrix finds each one's disks by its own
        # target port or session
        # shellcheck disable=SC2034 # read by iscsi_init
        ISCSI_LOG=$results/iscsid.log
        (
                iscsi_init
                iscsi_lu_create
                iscsi_login
                rig_log "iSCSI ready after $(secs "$t0" "$(rig_uptime)") s:" \
                        "A=$ISCSI_DEV_A ($ISCSI_INI_A) B=$ISCSI_DEV_B ($ISCSI_INI_B)"
        ) > "$results/iscsi-setup.log" 2>&1 &
        iscsi_setup=$!
fi
if [ -n "$loop_sel" ]; then
        lio_lu_create
        rig_log "LIO ready in $(secs "$t0" "$(rig_uptime)") s: A=$RIG_DEV_A ($RIG_SG_A) B=$RIG_DEV_B ($RIG_SG_B)"
fi

# Paths: direct SG_IO and each helper, each on the block node and on the
# sg node (NAME-sg); prhd once more with dropped privileges (prhd-u: -u
# nobody -g disk), as packagers start it.
helpers=--direct-sg
names=
for h in $helper_args; do
        name=${h%%=*}
        bin=${h#*=}
        helper_start "$name" "$bin" "/run/$name.sock"
        helpers="$helpers --helper $name=/run/$name.sock --helper-sg $name-sg=/run/$name.sock"
        names="$names $name"
        if ! "$bin" --version 2>/dev/null | grep -q '(prh)$'; then
                # the reference's 1 ms SG_IO timeout applies on sg nodes
                # (docs/compatibility.md row 5): when a command is still
                # in flight as the queue's timeout timer fires, it is timed
                # out, at random; shown, not judged (docs/faults.md)
                helpers="$helpers --observe $name-sg"
        fi
        if "$bin" --version 2>/dev/null | grep -q '(prh)$'; then
                uname=$name-u   # (helper_start sets name)
                helper_start "$uname" "$bin" "/run/$uname.sock" "" -u nobody -g disk
                # the drop must have happened: the rig proves nothing otherwise
                pid=$(cat "/run/$uname.pid")
                ids=$(awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } END { print u ":" g }' "/proc/$pid/status")
                [ "$ids" = "65534:6" ] || rig_die "$uname (pid $pid) runs as uid:gid $ids, not nobody:disk (65534:6)"
                rig_log "$uname runs as uid:gid $ids"
                helpers="$helpers --helper $uname=/run/$uname.sock"
                names="$names $uname"
        fi
done

# run_matrix OUT PR-MATRIX-ARGS...: its table goes to OUT and stdout; fails
# unless the verdict pr-matrix prints last is clean
run_matrix() {
        out=$1
        shift
        mrc=0
        # shellcheck disable=SC2086
        "$matrix" "$@" $helpers | tee "$out" || mrc=$?
        # tee hides the exit status in plain sh
        grep -q ': 0 mismatches, 0 unexpected outcomes, 0 call errors$' "$out" || mrc=1
        return "$mrc"
}

rc=0
if [ -n "$loop_sel" ]; then
        run_matrix "$results/pr-matrix.txt" --port-a "$RIG_TGT_WWN_A" --port-b "$RIG_TGT_WWN_B" \
                --lu-file "$RIG_LU_FILE" --log "$results/pr-matrix.log" "$@" || rc=1
fi

if [ -n "$iscsi_sel" ]; then
        src=0
        wait "$iscsi_setup" || src=$?
        cat "$results/iscsi-setup.log" >&2
        if [ "$src" != 0 ]; then
                rig_log "FAIL: the iSCSI set-up failed (exit $src, above): the iSCSI scenarios did not run"
                rc=1
        else
                # shellcheck disable=SC2086
                run_matrix "$results/pr-matrix-iscsi.txt" $iscsi_args --log "$results/pr-matrix-iscsi.log" "$@" || rc=1
        fi
fi

# Large replies as a guest sees them (docs/faults.md#large-replies): on
# the LU large-replies left behind (1102 registrations), the nested guest's
# PR IN commands (sg_raw, nested-init.sh part "large") through scsi-block
# and pr-manager-helper, one nested guest per helper (the second started
# 5 s after the first), against the same commands run here on the disks
# directly.  Part of every run (run-rig.sh passes the nested kernel and
# initramfs in PRH_MATRIX_KERNEL, PRH_MATRIX_INITRD); PRH_MATRIX_NESTED=0
# leaves it out (by hand only).
large_direct() {
        a=$1 b=$2
        t() {
                echo "@@BEGIN $1"
                shift
                "$@" 2>&1
                echo "@@END rc=$?"
        }
        raw() {
                sg_raw -r "$@" > "$results/raw.out" 2>&1
                _r=$?
                head -n 7 "$results/raw.out"
                echo "md5 $(md5sum < "$results/raw.out")"
                return $_r
        }
        t large-read-keys raw 8192 "$a" 5e 00 00 00 00 00 00 20 00 00
        t large-read-keys-4500 raw 4500 "$a" 5e 00 00 00 00 00 00 11 94 00
        t large-read-full-status-8140 raw 8140 "$a" 5e 03 00 00 00 00 00 1f cc 00
        t large-read-reservation raw 8192 "$b" 5e 01 00 00 00 00 00 20 00 00
        t large-read-keys-8193 raw 8193 "$a" 5e 00 00 00 00 00 00 20 01 00
        rm -f "$results/raw.out"
}
# one test's output from a framed transcript (the nested guest's ends
# "@@END NAME rc=N", the direct one "@@END rc=N")
large_part() {
        tr -d '\r' < "$1" | awk -v n="$2" '$0 == "@@BEGIN " n { on = 1; next }
                on && /^@@END / { sub(/^@@END ([^ ]+ )?/, ""); print; exit } on { print }'
}
large_nested() {
        out=$results/large-nested
        mkdir -p "$out"
        if ! a=$(iscsi_session_disk "$ISCSI_INI_A") || ! b=$(iscsi_session_disk "$ISCSI_INI_B"); then
                rig_log "FAIL: large replies: no iSCSI disks"
                return 1
        fi
        large_direct "$a" "$b" > "$out/direct.txt"
        accel=$(rig_nested_accel)
        # Each nested guest has a helper of its own, started for it with its
        # stderr and connection trace kept (helper_start LOGDIR), so that a
        # retry can show the helper had nothing to do with the failure.
        logs=$out/helper-logs
        # shellcheck disable=SC2034 # read by rig_retry (rig-lib.sh)
        RIG_RETRY_FILE=$results/retries.log
        ts=$(rig_uptime)
        pids=
        for h in $helper_args; do
                n=${h%%=*}
                mkdir -p "$out/$n"
                if ! (helper_start "large-$n" "${h#*=}" "/run/large-$n.sock" "$logs"); then
                        echo "FAIL: large replies: helper $n did not start" >&2
                        echo "did not start" > "$out/$n/helper-state"
                        continue
                fi
                [ -z "$pids" ] || sleep 5
                (
                        # Up to 3 boots: one that resets before its /init ran
                        # (rig_nested_retry) or in the middle of its tests
                        # (rig_nested_reset_evidence: a reset, nothing from
                        # QEMU, the helper running with a clean log) is booted
                        # again on the same LU: PR IN changes no PR state, so
                        # the next boot reads the same replies.  Any other
                        # ending is compared as it is, and fails.
                        for boot in 1 2 3; do
                                qrc=0
                                RIG_NESTED_MEM=256 PRH_NESTED_APPEND=prh.parts=large \
                                        rig_nested_qemu "$accel" 300 "$out/$n" "$PRH_MATRIX_KERNEL" "$PRH_MATRIX_INITRD" \
                                        "/run/large-$n.sock" \
                                        -blockdev driver=raw,node-name=hda,file.driver=host_device,file.filename="$a",file.pr-manager=pr0,file.locking=off \
                                        -device scsi-block,bus=scsi0.0,drive=hda,scsi-id=0,lun=0 \
                                        -blockdev driver=raw,node-name=hdb,file.driver=host_device,file.filename="$b",file.pr-manager=pr0,file.locking=off \
                                        -device scsi-block,bus=scsi0.0,drive=hdb,scsi-id=1,lun=0 || qrc=$?
                                rig_log "large replies: nested guest with $n (boot $boot): qemu exit $qrc"
                                [ "$boot" = 3 ] && break
                                grep -aq '^@@DONE' "$out/$n/console.log" && break
                                rig_nested_retry rig-matrix "$out/$n" "with $n (large replies)" "$boot" "$qrc" "large-$n" "$logs" && continue
                                ev=$(rig_nested_reset_evidence "$out/$n" "$qrc" "large-$n" "$logs") || break
                                mkdir -p "$out/$n/boot-$boot"
                                mv "$out/$n/console.log" "$out/$n/qemu.log" "$out/$n/qemu-debug.log" "$out/$n/boot-$boot/"
                                rig_retry rig-matrix "nested guest with $n (large replies, boot $boot): $ev; logs kept in $out/$n/boot-$boot"
                        done
                ) &
                pids="$pids $!"
        done
        for p in $pids; do
                wait "$p" || true
        done
        rig_log "large replies: nested guests done after $(secs "$ts" "$(rig_uptime)") s"
        lrc=0
        for h in $helper_args; do
                n=${h%%=*}
                [ -e "$out/$n/helper-state" ] && { lrc=1; continue; }
                if ! helper_alive "large-$n"; then
                        echo "FAIL: large replies: helper $n died under its nested guest" >&2
                        lrc=1
                fi
                if ! helper_stop "large-$n"; then
                        echo "FAIL: large replies: helper $n did not exit on SIGTERM" >&2
                        lrc=1
                fi
                if ev=$(helper_log_check "large-$n" "$logs"); then
                        rig_log "large replies: $ev"
                else
                        echo "FAIL: large replies: $ev" >&2
                        lrc=1
                fi
                if ! grep -aq '^@@DONE' "$out/$n/console.log" 2>/dev/null; then
                        echo "FAIL: large replies: the nested guest with $n did not finish; its console:" >&2
                        tr -d '\r' < "$out/$n/console.log" 2>/dev/null | tail -n 30 >&2
                        sed "s/^/  qemu ($n): /" "$out/$n/qemu.log" >&2 2>/dev/null
                        lrc=1
                fi
        done
        printf '| %-28s | %-28s' "test (nested guest)" "direct (outer guest)"
        for h in $helper_args; do
                printf ' | %-36s' "${h%%=*} (through QEMU)"
        done
        printf ' |\n'
        for tn in large-read-keys large-read-keys-4500 large-read-full-status-8140 large-read-reservation large-read-keys-8193; do
                d=$(large_part "$out/direct.txt" "$tn")
                dsum=$(printf '%s\n' "$d" | large_summary)
                printf '| %-28s | %-28s' "$tn" "$dsum"
                for h in $helper_args; do
                        n=${h%%=*}
                        g=$(large_part "$out/$n/console.log" "$tn")
                        gsum=$(printf '%s\n' "$g" | large_summary)
                        printf ' | %-36s' "$gsum"
                        if [ "$tn" = large-read-keys-8193 ]; then
                                # QEMU refuses before any helper: 05/24/00
                                case "$g" in
                                *"Invalid field in cdb"*"rc="[1-9]*) ;;
                                *) lrc=1; echo "FAIL: large replies: $tn through $n: not QEMU's refusal (05/24/00):" >&2
                                   printf '%s\n' "$g" | tail -n 8 >&2 ;;
                                esac
                        elif [ "$g" != "$d" ]; then
                                lrc=1
                                echo "FAIL: large replies: $tn through $n differs from direct:" >&2
                                printf '%s\n' "$d" > "$out/$tn.direct"
                                printf '%s\n' "$g" > "$out/$tn.$n"
                                diff "$out/$tn.direct" "$out/$tn.$n" | head -n 10 >&2
                        fi
                done
                printf ' |\n'
        done
        case "$(large_part "$out/direct.txt" large-read-keys-8193)" in
        *"rc=0") ;;
        *) lrc=1; echo "FAIL: large replies: direct sg_raw with allocation length 8193 failed" >&2 ;;
        esac
        return "$lrc"
}
# large_summary: one transcript as a short cell: bytes received and the
# header's ADDITIONAL LENGTH, or the sense; sg_raw's exit status
large_summary() {
        awk 'function hex(x,  i, v) { v = 0; for (i = 1; i <= length(x); i++) v = v * 16 + index("0123456789abcdef", substr(tolower(x), i, 1)) - 1; return v }
             /Invalid field in cdb/ { s = "05/24/00" }
             /^Received [0-9]+ bytes/ { b = $2; getline; if ($1 == "00") add = hex($6 $7 $8 $9) }
             /^rc=/ { rc = $0 }
             END { o = ""
                   if (b != "") o = b " bytes, add. length " add
                   if (s != "") o = s
                   print o (o != "" ? ", " : "") rc }'
}

if [ "$rc" = 0 ] && [ -n "$iscsi_sel" ] && [ "${PRH_MATRIX_NESTED:-1}" = 1 ] &&
        grep -q '^large-replies: ' "$results/pr-matrix-iscsi.txt"; then
        if [ -z "${PRH_MATRIX_INITRD:-}" ] || [ ! -s "$PRH_MATRIX_INITRD" ]; then
                rig_log "FAIL: large replies through QEMU: no nested initramfs (PRH_MATRIX_INITRD='${PRH_MATRIX_INITRD:-}')"
                rc=1
        fi
fi
if [ "$rc" = 0 ] && [ -n "$iscsi_sel" ] && [ "${PRH_MATRIX_NESTED:-1}" = 1 ] &&
        grep -q '^large-replies: ' "$results/pr-matrix-iscsi.txt"; then
        lnrc=0
        tl=$(rig_uptime)
        large_nested > "$results/large-nested.md" || lnrc=$?
        cat "$results/large-nested.md"
        rig_log "large replies through QEMU took $(secs "$tl" "$(rig_uptime)") s in all"
        if [ "$lnrc" != 0 ]; then
                rig_log "FAIL: large replies through QEMU (above)"
                rc=1
        fi
fi

for name in $names; do
        if ! kill -0 "$(cat "/run/$name.pid")" 2>/dev/null; then
                rig_log "FAIL: helper $name died during the matrix"
                rc=1
        fi
        helper_stop "$name" || rc=1
done
exit "$rc"
