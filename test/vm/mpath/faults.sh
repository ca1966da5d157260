# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Issue 12's scenarios 6, 7 and 8 ("faults on real storage"), sourced by
# mpath.sh as its sections 8, 9 and 10, in the multipath rig's outer guest
# (its LU 0 on two tcm_loop paths under multipathd, prhd on $SOCK, and the
# nested kernel and initramfs of section 6).  The tables they print are
# docs/faults.md's.
#
#   8. (scenario 6) a path fails in the middle of REGISTER + RESERVE +
#      PREEMPT on the map: REGISTER, RESERVE (Write Exclusive), the path
#      holding the reservation fails, PREEMPT of the map's own key (the
#      reservation moves to the surviving path), the path returns; through
#      prhd, mpathpersist and qemu-pr-helper (no multipath support: plain
#      SG_IO on the map, which dm-multipath passes to one path).
#   9. (scenario 7) a helper killed with a request in flight: a nested
#      guest's REGISTER hangs in the helper's SG_IO on a dm-multipath map
#      whose only path failed (queue_if_no_path), the helper is killed -9,
#      started again, the path restored; for qemu-pr-helper and prhd.
#  10. (scenario 8) nested guests at once (PRH_FX8_GUESTS, 2 by default,
#      up to 4), each on its own I_T nexus of one LU, through one prhd: all
#      register, 1 reserves, 2 preempts it; the final READ FULL STATUS
#      agrees with every answer.
#
# Each step's outcome is written next to it (FX_* below); a changed
# outcome fails the section.

REFBIN=/usr/bin/qemu-pr-helper

# fx_ms: a clock in milliseconds
fx_ms() {
        echo $(($(date +%s%N) / 1000000))
}

# fx_state DEV LABELS: the LU's PR state from READ FULL STATUS over SG_IO
# on DEV, one word per registered I_T nexus, "LABEL:KEY" ("*" for the
# reservation holder, then "/type=T"); LABELS maps the initiators' SAS
# addresses to labels ("5001405000000b01=A ...").  "none" when nothing is
# registered; "error STATUS SENSE" when the command failed (after a unit
# attention, which is reported and cleared, it is sent again).
fx_state() {
        r=$("$MPR" --direct "$1" in 3 | head -n 1)
        case "$r" in
        *sense=6/*) r=$("$MPR" --direct "$1" in 3 | head -n 1) ;;   # a unit attention first
        esac
        printf '%s\n' "$r" | awk -v labels="$2" '{
                n = split(labels, L, " ")
                for (i = 1; i <= n; i++) { split(L[i], kv, "="); lab[kv[1]] = kv[2] }
                if ($1 != "status=0x00") { print "error " $1 " " $2; exit }
                d = $NF; sub(/^data=/, "", d)
                m = 0
                for (i = 17; i + 95 <= length(d); i += 96) {
                        desc = substr(d, i, 96)
                        key = substr(desc, 1, 16); sub(/^0+/, "", key)
                        addr = substr(desc, 57, 16)
                        w = ((addr in lab) ? lab[addr] : addr) ":0x" key
                        if (index("13579bdf", substr(desc, 26, 1)) > 0)
                                w = w "*/type=" substr(desc, 28, 1)
                        e[++m] = w
                }
                for (i = 1; i <= m; i++)
                        for (j = i; j > 1 && e[j] < e[j - 1]; j--) { t = e[j]; e[j] = e[j - 1]; e[j - 1] = t }
                out = ""
                for (i = 1; i <= m; i++) out = out (i > 1 ? " " : "") e[i]
                print (m ? out : "none")
        }'
}

# fx_direct_twice DEV ARGS: a direct command, again if a unit attention came first
fx_direct_twice() {
        dev=$1
        shift
        r=$("$MPR" --direct "$dev" "$@" | head -n 1)
        case "$r" in
        *sense=6/*) r=$("$MPR" --direct "$dev" "$@" | head -n 1) ;;
        esac
        echo "$r" | sed 's/ len=.*//'
}

# ---- 8. scenario 6: a path fails in the middle of REGISTER + RESERVE + PREEMPT ----
if want 8; then
echo "== 8. (issue 12, scenario 6) a path fails between RESERVE and PREEMPT on $MP_MAP"
fx_t0=$(rig_uptime)
FX_REFSOCK=/run/faults-ref-map.sock
rm -f "$FX_REFSOCK"
"$REFBIN" -k "$FX_REFSOCK" -f /run/faults-ref-map.pid -d || fail "qemu-pr-helper -d failed"
for _ in $(seq 1 100); do
        [ -S "$FX_REFSOCK" ] && break
        sleep 0.1
done
# fx6_step TOOL STEP: one PR OUT through TOOL; prints "OUTCOME MS"
fx6_step() {
        case "$2" in
        register) a="out 0 0 0 $K" m="--out --register --param-sark=0x$K" ;;
        reserve) a="out 1 1 $K 0" m="--out --reserve --param-rk=0x$K --prout-type=1" ;;
        preempt) a="out 4 1 $K $K" m="--out --preempt --param-rk=0x$K --param-sark=0x$K --prout-type=1" ;;
        esac
        t=$(fx_ms)
        case "$1" in
        prhd)
                # shellcheck disable=SC2086
                o=$("$MPR" -k "$SOCK" "$MP_MAP" $a | head -n 1 | sed 's/ len=.*//; s/status=0x\(..\) sense=/\1:/')
                ;;
        qemu-pr-helper)
                # shellcheck disable=SC2086
                o=$("$MPR" -k "$FX_REFSOCK" "$MP_MAP" $a | head -n 1 | sed 's/ len=.*//; s/status=0x\(..\) sense=/\1:/')
                ;;
        mpathpersist)
                # shellcheck disable=SC2086
                mpathpersist $m "$MP_MAP" > /dev/null 2>&1
                o="exit$?"
                ;;
        esac
        echo "$o $(($(fx_ms) - t))"
}
# The path holding the reservation after RESERVE is the one that fails: H;
# the other is S.  States are read over SG_IO on S (no unit attention there).
fx6_run() {
        tool=$1
        for d in "$RIG_DEV_A" "$RIG_DEV_B"; do
                fx_direct_twice "$d" out 6 0 0 0 > /dev/null
        done
        # the same start for each: multipathd does not think the map registered
        # (the library tells it after each REGISTER and CLEAR; plain SG_IO does not)
        multipathd unsetprstatus map "$MP_NAME" > /dev/null 2>&1
        lab="${RIG_INI_WWN_A#naa.}=A ${RIG_INI_WWN_B#naa.}=B"
        [ "$(fx_state "$RIG_DEV_A" "$lab")" = none ] || fail "$tool: the LU is not clean at the start: $(fx_state "$RIG_DEV_A" "$lab")"
        # shellcheck disable=SC2046 # two words: outcome, milliseconds
        set -- $(fx6_step "$tool" register)
        o_reg=$1 t_reg=$2
        s_reg=$(fx_state "$RIG_DEV_A" "$lab")
        # shellcheck disable=SC2046
        set -- $(fx6_step "$tool" reserve)
        o_res=$1 t_res=$2
        s_res=$(fx_state "$RIG_DEV_A" "$lab")
        # H: the holder; with no reservation the one registered path, if only one is
        case "$s_res" in
        *"B:0x$K*"*) h=B ;;
        *"A:0x$K*"*) h=A ;;
        "B:0x$K") h=B ;;
        *) h=A ;;
        esac
        if [ "$h" = B ]; then
                H=$RIG_DEV_B S=$RIG_DEV_A lab="${RIG_INI_WWN_B#naa.}=H ${RIG_INI_WWN_A#naa.}=S"
                hs='s/A:/S:/g; s/B:/H:/g'
        else
                H=$RIG_DEV_A S=$RIG_DEV_B lab="${RIG_INI_WWN_A#naa.}=H ${RIG_INI_WWN_B#naa.}=S"
                hs='s/A:/H:/g; s/B:/S:/g'
        fi
        # the states so far in H/S words, sorted again
        s_reg=$(echo "$s_reg" | sed "$hs" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
        s_res=$(echo "$s_res" | sed "$hs" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
        t=$(fx_ms)
        mp_path_fail "$H" || fail "$tool: path $H did not fail"
        t_fail=$(($(fx_ms) - t))
        # shellcheck disable=SC2046
        set -- $(fx6_step "$tool" preempt)
        o_pre=$1 t_pre=$2
        s_pre=$(fx_state "$S" "$lab")
        t=$(fx_ms)
        mp_path_reinstate "$H" || fail "$tool: path $H not reinstated"
        # multipathd registers the map's key on a returning path when it
        # knows the map has one: give it 5 s
        s_back=
        for _ in $(seq 1 50); do
                s_back=$(fx_state "$S" "$lab")
                case "$s_back" in *"H:0x$K"*) break ;; esac
                sleep 0.1
        done
        t_back=$(($(fx_ms) - t))
        printf '| %s | %s (%s ms) | %s | %s (%s ms) | %s | %s ms | %s (%s ms) | %s | %s (%s ms) |\n' "$tool" \
                "$o_reg" "$t_reg" "$s_reg" "$o_res" "$t_res" "$s_res" "$t_fail" "$o_pre" "$t_pre" "$s_pre" "$s_back" "$t_back" \
                | tee -a "$results/faults-6.md"
        echo "$tool $o_reg $s_reg | $o_res $s_res | $o_pre $s_pre | $s_back" >> "$results/faults-6.txt"
}
rm -f "$results/faults-6.md" "$results/faults-6.txt"
echo "| helper | REGISTER | state | RESERVE WE | state | path H fails | PREEMPT own key | state | H back |" > "$results/faults-6.md"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |" >> "$results/faults-6.md"
for tool in prhd mpathpersist qemu-pr-helper; do
        fx6_run "$tool"
done
# What each must give (outcome of REGISTER, state; RESERVE, state; PREEMPT, state; state once H is back)
FX6_PRHD="prhd 00:0/00/00 H:0x$K S:0x$K | 00:0/00/00 H:0x$K*/type=1 S:0x$K | 00:0/00/00 S:0x$K*/type=1 | H:0x$K S:0x$K*/type=1"
FX6_MPP="mpathpersist exit0 H:0x$K S:0x$K | exit0 H:0x$K*/type=1 S:0x$K | exit0 S:0x$K*/type=1 | H:0x$K S:0x$K*/type=1"
# qemu-pr-helper: SG_IO on the map, which dm-multipath passes to the path its
# selector picks (service-time takes turns among equal paths): REGISTER
# reaches one path only, and the RESERVE lands on that path (GOOD) or on the
# other, unregistered one (LIO: NOT READY, LOGICAL UNIT COMMUNICATION
# FAILURE); either way the PREEMPT through the surviving, unregistered path
# gets RESERVATION CONFLICT and the key stays on H alone.
FX6_REF1="qemu-pr-helper 00:0/00/00 H:0x$K | 00:0/00/00 H:0x$K*/type=1 | 18:0/00/00 H:0x$K*/type=1 | H:0x$K*/type=1"
FX6_REF2="qemu-pr-helper 00:0/00/00 H:0x$K | 02:2/08/00 H:0x$K | 18:0/00/00 H:0x$K | H:0x$K"
check "scenario 6, prhd" "$(sed -n 1p "$results/faults-6.txt")" "$FX6_PRHD"
check "scenario 6, mpathpersist" "$(sed -n 2p "$results/faults-6.txt")" "$FX6_MPP"
got=$(sed -n 3p "$results/faults-6.txt")
if [ "$got" = "$FX6_REF1" ] || [ "$got" = "$FX6_REF2" ]; then
        pass "scenario 6, qemu-pr-helper (no multipath support: SG_IO on one path)"
else
        fail "scenario 6, qemu-pr-helper: got '$got', want '$FX6_REF1' or '$FX6_REF2'"
fi
check "scenario 6: prhd's states = mpathpersist's" \
        "$(sed -n 1p "$results/faults-6.txt" | sed 's/^[^ ]* //; s/00:0\/00\/00/ok/g')" \
        "$(sed -n 2p "$results/faults-6.txt" | sed 's/^[^ ]* //; s/exit0/ok/g')"
kill "$(cat /run/faults-ref-map.pid)" 2>/dev/null
for d in "$RIG_DEV_A" "$RIG_DEV_B"; do
        fx_direct_twice "$d" out 6 0 0 0 > /dev/null
done
rig_log "section 8 (scenario 6) took $(rig_since "$fx_t0") s"
fi

# ---- 9. scenario 7: a helper killed with a request in flight ----------------------
if want 9; then
echo "== 9. (issue 12, scenario 7) a helper killed -9 while a nested guest's REGISTER is in its SG_IO"
fx_t0=$(rig_uptime)
if [ -z "$KERNEL" ] || [ ! -s "$NESTED_INITRD" ]; then
        fail "9: no kernel / nested initramfs given (run-mpath.sh builds them)"
else
        out=$results/faults-7
        logs=$out/helper-logs
        rm -rf "$out"
        mkdir -p "$out" "$logs"
        # the plain LU (nexus A) also on nexus B: READ FULL STATUS through another nexus
        tpgb=$RIG_CFG/loopback/$RIG_TGT_WWN_B/tpgt_1
        if ! mkdir "$tpgb/lun/lun_1" || ! ln -s "$RIG_CFG/core/fileio_1/disk1" "$tpgb/lun/lun_1/disk1"; then
                fail "cannot map the plain LU on nexus B"
        fi
        PLAIN_B=
        for _ in $(seq 1 100); do
                d=/sys/class/scsi_device/$(cat "$tpgb/address"):1/device/block
                if [ -d "$d" ] && [ -b "/dev/$(ls "$d")" ]; then
                        PLAIN_B=/dev/$(ls "$d")
                        break
                fi
                sleep 0.1
        done
        [ -n "$PLAIN_B" ] || fail "no disk for the plain LU on nexus B"
        lab7="${RIG_INI_WWN_A#naa.}=A ${RIG_INI_WWN_B#naa.}=B"
        # The stalling device: a dm-multipath map of its own (no mpath- uuid:
        # multipathd leaves it alone) over the plain LU's one path, queueing
        # when no path is left.  SG_IO on it waits in the kernel (dm retries
        # every 10 ms) until a path comes back or the caller gets SIGKILL.
        mm=$(printf '%d:%d' "0x$(stat -c %t "$MP_PLAIN")" "0x$(stat -c %T "$MP_PLAIN")")
        dmsetup create --noudevsync prh-stall \
                --table "0 $(blockdev --getsz "$MP_PLAIN") multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 $mm 1" ||
                fail "cannot create the stalling map"
        STALL=/dev/mapper/prh-stall
        [ -b "$STALL" ] || { dmsetup mknodes prh-stall; }
        # prhd with multipath support would send this map's PR commands
        # through libmpathpersist (multipathd does not know the map): with
        # --no-multipath it sends SG_IO on the map, as qemu-pr-helper does.
        printf '#!/bin/sh\nexec %s --no-multipath "$@"\n' "$PRHD" > /run/prhd-nompath
        chmod 755 /run/prhd-nompath
        helper_start qemu-pr-helper "$REFBIN" /run/faults-7-ref.sock "$logs"
        helper_start prhd /run/prhd-nompath /run/faults-7-prhd.sock "$logs"
        ctl=/run/faults-7-ctl
        rm -f "$ctl.in" "$ctl.out"
        mkfifo "$ctl.in" "$ctl.out"
        # in_sgio PID: a thread of PID is in an ioctl on the map (syscall 16):
        # SG_IO (0x2285), or SG_GET_VERSION_NUM (0x2282), which prhd's fd
        # check sends first down the same dm path (src/backend/fd-check.c);
        # prints which
        in_sgio() {
                for st in /proc/"$1"/task/*/syscall; do
                        # shellcheck disable=SC2046 # the syscall number and its arguments
                        set -- $(cat "$st" 2>/dev/null)
                        [ "${1:-}" = 16 ] || continue
                        case "${3:-}" in
                        0x2285) echo SG_IO; return 0 ;;
                        0x2282) echo SG_GET_VERSION_NUM; return 0 ;;
                        esac
                done
                return 1
        }
        fx7_controller() {
                exec 3< "$ctl.out"
                while read -r line <&3; do
                        line=$(printf '%s' "$line" | tr -d '\r')
                        name=${line#* }
                        case "$name" in
                        qemu-pr-helper) bin=$REFBIN sock=/run/faults-7-ref.sock ;;
                        *) bin=/run/prhd-nompath sock=/run/faults-7-prhd.sock ;;
                        esac
                        case "$line" in
                        "@@STALL "*)
                                dmsetup message prh-stall 0 fail_path "$mm" && echo stalled > "$ctl.in" || echo stall-failed > "$ctl.in"
                                ;;
                        "@@KILL "*)
                                pid=$(cat "/run/$name.pid")
                                t=$(fx_ms)
                                ok=
                                for _ in $(seq 1 600); do
                                        ok=$(in_sgio "$pid") && break
                                        sleep 0.1
                                done
                                if [ -z "$ok" ]; then
                                        echo "$name: no thread in an ioctl on the map after 60 s" >> "$out/controller-failures"
                                        # let the request through, or the guest waits for ever
                                        dmsetup message prh-stall 0 reinstate_path "$mm"
                                        echo not-in-flight > "$ctl.in"
                                        continue
                                fi
                                # in flight: wait 2 s more, so the request is stuck, not just slow
                                sleep 2
                                in_sgio "$pid" > /dev/null || echo "$name: the ioctl ended by itself" >> "$out/controller-failures"
                                echo "$name $(($(fx_ms) - t)) $ok" >> "$out/in-flight"
                                kill -KILL "$pid"
                                for _ in $(seq 1 100); do
                                        helper_pid_alive "$pid" || break
                                        sleep 0.1
                                done
                                if helper_pid_alive "$pid"; then
                                        echo "$name: alive 10 s after SIGKILL" >> "$out/controller-failures"
                                fi
                                echo killed > "$ctl.in"
                                ;;
                        "@@RESTART "*)
                                dmsetup message prh-stall 0 reinstate_path "$mm" ||
                                        echo "$name: reinstate_path failed" >> "$out/controller-failures"
                                # after kill -9 the socket file and the pidfile are still there
                                stale=$(stat -c %i "$sock" 2>/dev/null)
                                echo "$name stale-socket=${stale:+yes} stale-pidfile=$([ -e "/run/$name.pid" ] && echo yes)" >> "$out/restart"
                                if (helper_start "$name" "$bin" "$sock" "$logs"); then
                                        # the new process's socket (not the stale file)
                                        for _ in $(seq 1 100); do
                                                [ "$(stat -c %i "$sock" 2>/dev/null)" != "$stale" ] && break
                                                sleep 0.1
                                        done
                                        echo started > "$ctl.in"
                                else
                                        echo "$name: did not start again" >> "$out/controller-failures"
                                        echo start-failed > "$ctl.in"
                                fi
                                # the LU's state, over another nexus
                                echo "$name $(fx_state "$PLAIN_B" "$lab7")" >> "$out/state-after-restart"
                                ;;
                        esac
                done
        }
        accel=$(rig_nested_accel)
        RIG_RETRY_FILE=$results/retries.log
        ts=$(rig_uptime)
        for boot in 1 2 3; do
                fx7_controller &
                cpid=$!
                PRH_NESTED_APPEND="prh.mode=kill" rig_nested_qemu "$accel" "${PRH_MPATH_NESTED_TIMEOUT:-1200}" "$out" "$KERNEL" "$NESTED_INITRD" /run/faults-7-ref.sock \
                        -object pr-manager-helper,id=pr1,path=/run/faults-7-prhd.sock \
                        -chardev pipe,id=ctl,path="$ctl" -serial chardev:ctl \
                        -blockdev driver=raw,node-name=hr,file.driver=host_device,file.filename="$STALL",file.pr-manager=pr0,file.locking=off \
                        -device scsi-block,bus=scsi0.0,drive=hr,scsi-id=0,lun=0 \
                        -blockdev driver=raw,node-name=hp,file.driver=host_device,file.filename="$STALL",file.pr-manager=pr1,file.locking=off \
                        -device scsi-block,bus=scsi0.0,drive=hp,scsi-id=1,lun=0
                qrc=$?
                kill "$cpid" 2>/dev/null
                wait "$cpid" 2>/dev/null
                [ "$boot" -lt 3 ] || break
                # a reset before /init: retried only if both helpers' logs are
                # clean (rig_nested_retry checks qemu-pr-helper's and records the retry)
                if ! helper_alive prhd || ! helper_log_check prhd "$logs" > /dev/null; then
                        break
                fi
                rig_nested_retry rig-mpath "$out" "of scenario 7" "$boot" "$qrc" qemu-pr-helper "$logs" || break
        done
        rig_log "scenario 7 nested guest: qemu exit $qrc after $(rig_since "$ts") s"
        tr -d '\r' < "$out/console.log" > "$out/console.txt" 2>/dev/null || : > "$out/console.txt"
        if grep -q '^@@DONE' "$out/console.txt"; then
                pass "scenario 7: nested guest finished"
        else
                fail "scenario 7: nested guest did not finish (qemu exit $qrc)"
                tail -n 40 "$out/console.txt"
                sed 's/^/  qemu: /' "$out/qemu.log"
        fi
        if [ -s "$out/controller-failures" ]; then
                fail "scenario 7: $(tr '\n' '|' < "$out/controller-failures")"
        fi
        fx7_section() {
                awk -v n="$1" '$0 == "@@BEGIN " n { on = 1; next } on && /^@@END / { exit } on { print }' "$out/console.txt"
        }
        fx7_rc() {
                grep "^@@END $1 " "$out/console.txt" | sed 's/.* rc=//'
        }
        fx7_t() {
                grep "^@@T $1 " "$out/console.txt" | sed 's/.* //'
        }
        rm -f "$results/faults-7.md"
        echo "| helper | REGISTER before | time to answer | guest's answer (sg_persist exit, its message) | in flight when killed (ms to see it, ioctl) | at the restart | LU state after the restart (nexus B) | next commands |" > "$results/faults-7.md"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- |" >> "$results/faults-7.md"
        for h in qemu-pr-helper prhd; do
                case $h in prhd) k1=7b1 ;; *) k1=7a1 ;; esac
                inflight=$(fx7_section "$h-inflight" | tr '\n' ' ' | sed 's/  */ /g; s/ $//')
                # the sense as sg_persist decoded it, and its own verdict
                said=$(fx7_section "$h-inflight" | grep -Ei 'sense key|additional sense|failed:' | sed 's/^ *//' | tr '\n' ';' | sed 's/;$//')
                st=$(grep "^$h " "$out/state-after-restart" | cut -d' ' -f2-)
                keys=$(fx7_section "$h-after-in" | grep -c "0x$k1\$")
                printf '| %s | %s | %s s | %s (%s) | %s | %s | %s | %s |\n' "$h" "$(fx7_rc "$h-register")" "$(fx7_t "$h-inflight")" \
                        "$(fx7_rc "$h-inflight")" "$said" "$(grep "^$h " "$out/in-flight" | cut -d' ' -f2-)" \
                        "$(grep "^$h " "$out/restart" | cut -d' ' -f2-)" "$st" \
                        "READ KEYS $(fx7_rc "$h-after-in"), key change $(fx7_rc "$h-after-out") ($(fx7_t "$h-after-out") s)" \
                        | tee -a "$results/faults-7.md"
                check "scenario 7, $h: REGISTER before the stall" "$(fx7_rc "$h-register")" 0
                case $h in prhd) w=SG_GET_VERSION_NUM ;; *) w=SG_IO ;; esac
                check "scenario 7, $h: the request waited in the helper's $w ioctl on the map" \
                        "$(grep "^$h " "$out/in-flight" | cut -d' ' -f3)" "$w"
                # QEMU 7.2's pr-manager-helper turns a connection that ends
                # before the reply into -EINVAL, which scsi-block reports as
                # ILLEGAL REQUEST, INVALID FIELD IN CDB (docs/faults.md)
                check "scenario 7, $h: the REGISTER in flight when the helper was killed: ILLEGAL REQUEST (sg_persist exit 5)" "$(fx7_rc "$h-inflight")" 5
                check_re "scenario 7, $h: the sense sg_persist printed (-vv): ILLEGAL REQUEST, INVALID FIELD IN CDB" "$inflight" \
                        "Sense key: Illegal Request Additional sense: Invalid field in cdb Raw sense data \(in hex\), sb_len=18, embedded_len=18 70 00 05 00 00 00 00 0a 00 00 00 00 24 00 "
                check "scenario 7, $h: LU state after the restart (nexus B): the key change never reached the LU" "$st" "A:0x$k1"
                check "scenario 7, $h: QEMU reconnects: READ KEYS" "$(fx7_rc "$h-after-in")" 0
                check "scenario 7, $h: READ KEYS shows the old key" "$keys" 1
                check "scenario 7, $h: QEMU reconnects: the key change" "$(fx7_rc "$h-after-out")" 0
                check "scenario 7, $h: unregister" "$(fx7_rc "$h-unregister")" 0
                if helper_alive "$h"; then pass "scenario 7: $h running again"; else fail "scenario 7: $h not running"; fi
                if ev=$(helper_log_check "$h" "$logs"); then pass "scenario 7: $ev"; else fail "scenario 7: $ev"; fi
                helper_stop "$h" || fail "scenario 7: $h did not exit within 10 s of SIGTERM"
        done
        check "scenario 7: LU clean at the end" "$(fx_state "$PLAIN_B" "$lab7")" none
        dmsetup remove prh-stall || fail "cannot remove the stalling map"
        rm -f "$tpgb/lun/lun_1/disk1"
        rmdir "$tpgb/lun/lun_1"
fi
rig_log "section 9 (scenario 7) took $(rig_since "$fx_t0") s"
fi

# ---- 10. scenario 8: guests fence each other through one prhd ----------------------
# PRH_FX8_GUESTS guests (default 2: four at once killed the outer kernel in
# KVM_RUN, docs/faults.md), started PRH_FX8_STAGGER s apart (default 3),
# with PRH_FX8_MEM MiB each (default 192).  A guest that resets before its
# /init ran is booted again on its own (rig_nested_retry: nothing was sent
# yet).  A guest that resets in the middle of the scenario changes what the
# others see (they wait on each other, and on the LU's state), so then the
# others are stopped and the whole scenario runs once more on a fresh LU 7,
# only with the reset shown and every answer so far the expected one
# (fx8_reset_retry); anything else fails.
if want 10; then
fx8_n=${PRH_FX8_GUESTS:-2}
fx8_all=$(seq 1 "$fx8_n" | tr '\n' ' ')
echo "== 10. (issue 12, scenario 8) $fx8_n nested guests, $fx8_n I_T nexuses, one prhd"
fx_t0=$(rig_uptime)
if [ -z "$KERNEL" ] || [ ! -s "$NESTED_INITRD" ]; then
        fail "10: no kernel / nested initramfs given (run-mpath.sh builds them)"
else
        out=$results/faults-8
        logs=$out/helper-logs
        rm -rf "$out"
        mkdir -p "$out" "$logs"
        # LU 7, kept out of multipath (its serial starts like the plain LU's),
        # on a tcm_loop target port per guest, each its own nexus:
        # initiators naa.5001405000000d01, d02, ...
        bs=$RIG_CFG/core/fileio_7/disk7
        # fx8_lu_create: LU 7 with no PR state, on a tcm_loop target port per
        # guest; sets FX8_DEV1... and lab8
        fx8_lu_create() {
                rm -f /run/prh-lu7.img
                truncate -s 16M /run/prh-lu7.img
                mkdir -p "$bs"
                echo "fd_dev_name=/run/prh-lu7.img,fd_dev_size=$((16 * 1024 * 1024))" > "$bs/control"
                echo "${MP_PLAIN_SERIAL_PREFIX}000000000007" > "$bs/wwn/vpd_unit_serial"
                echo 1 > "$bs/enable" || fail "cannot enable LU 7"
                lab8=
                for i in $fx8_all; do
                        tpg=$RIG_CFG/loopback/naa.5001405000000c0$i/tpgt_1
                        if [ ! -d "$tpg" ]; then
                                mkdir -p "$tpg"
                                echo "naa.5001405000000d0$i" > "$tpg/nexus"
                        fi
                        mkdir "$tpg/lun/lun_0"
                        ln -s "$bs" "$tpg/lun/lun_0/disk7"
                        devs=$(lio_port_devs "naa.5001405000000c0$i") || fail "no disk for nexus $i of LU 7"
                        eval "FX8_DEV$i=${devs% *}"
                        lab8="$lab8 5001405000000d0$i=$i"
                done
        }
        # fx8_lu_destroy: LU 7 and its disks gone (the target ports stay)
        fx8_lu_destroy() {
                for i in $fx8_all; do
                        tpg=$RIG_CFG/loopback/naa.5001405000000c0$i/tpgt_1
                        a8=$(cat "$tpg/address")
                        rm -f "$tpg/lun/lun_0/disk7"
                        rmdir "$tpg/lun/lun_0" || fail "cannot remove LU 7 from nexus $i"
                        for _ in $(seq 1 300); do
                                [ -e "/sys/class/scsi_device/$a8:0" ] || break
                                sleep 0.1
                        done
                done
                rmdir "$bs" || fail "cannot remove LU 7's backstore"
        }
        fx8_lu_create
        helper_start prhd-fence "$PRHD" /run/faults-8.sock "$logs"
        accel=$(rig_nested_accel)
        RIG_RETRY_FILE=$results/retries.log
        fx8_guest() {
                i=$1
                o=$out/guest-$i
                mkdir -p "$o"
                eval "dev=\$FX8_DEV$i"
                for boot in 1 2 3; do
                        RIG_NESTED_MEM=${PRH_FX8_MEM:-192} PRH_NESTED_APPEND="prh.mode=fence prh.role=$i prh.guests=$fx8_n" \
                                rig_nested_qemu "$accel" "${PRH_MPATH_NESTED_TIMEOUT:-1200}" "$o" "$KERNEL" "$NESTED_INITRD" /run/faults-8.sock \
                                -blockdev driver=raw,node-name=hd,file.driver=host_device,file.filename="$dev",file.pr-manager=pr0,file.locking=off \
                                -device scsi-block,bus=scsi0.0,drive=hd,scsi-id=0,lun=0
                        qrc=$?
                        [ "$boot" -lt 3 ] || break
                        # a guest stopped because another one reset is not retried here
                        [ -e "$o/stopped" ] && break
                        rig_nested_retry rig-mpath "$o" "$i of scenario 8" "$boot" "$qrc" prhd-fence "$logs" || break
                done
                echo "$qrc" > "$o/qemu-exit"
        }
        # fx8_stop_others I: guest I ended without finishing: stop the
        # others' QEMUs now (each waits up to 300 s for what guest I was to
        # do), marking them stopped; found by their console file, which
        # only their own QEMU has on its command line
        fx8_stop_others() {
                for j in $fx8_all; do
                        [ "$j" = "$1" ] && continue
                        [ -e "$out/guest-$j/qemu-exit" ] && continue
                        : > "$out/guest-$j/stopped"
                        # (one grep: a fork per process is slow in the emulated guest)
                        for p in $(grep -l -a -F "path=$out/guest-$j/console.log" /proc/[0-9]*/cmdline 2>/dev/null |
                                sed -n 's|^/proc/\([0-9]*\)/cmdline$|\1|p'); do
                                kill -TERM "$p" 2>/dev/null || true
                        done
                done
        }
        # fx8_reset_retry: after an attempt in which a guest did not finish,
        # succeed (printing the evidence) only if some guest was shown to
        # have reset in the middle of the scenario (rig_nested_reset_evidence:
        # QEMU exit 0, qemu.log empty, a reset in QEMU's trace, no panic, no
        # @@FATAL, prhd running with a clean log), every other guest either
        # finished or was stopped for it, and every answer any guest had got
        # so far is the scenario's expected one (REGISTER, RESERVE, PREEMPT,
        # READ FULL STATUS GOOD; the fenced REGISTER RESERVATION CONFLICT).
        # A reset changes what the other guests see (they wait on each
        # other), so the whole scenario is run again on a fresh LU 7.
        fx8_reset_retry() {
                rr=
                for i in $fx8_all; do
                        o=$out/guest-$i
                        tr -d '\r' < "$o/console.log" 2>/dev/null | grep -q '^@@DONE' && continue
                        [ -e "$o/stopped" ] && continue
                        if ev=$(rig_nested_reset_evidence "$o" "$(cat "$o/qemu-exit")" prhd-fence "$logs"); then
                                rr="${rr:+$rr; }guest $i: $ev"
                        else
                                return 1
                        fi
                done
                [ -n "$rr" ] || return 1
                for i in $fx8_all; do
                        bad=$(tr -d '\r' < "$out/guest-$i/console.log" 2>/dev/null | awk '
                                /^@@END / { t = $2; r = $3; sub(/^rc=/, "", r)
                                            want = (t == "fence-fenced") ? 24 : 0
                                            if (r != want) print t " rc=" r }')
                        if [ -n "$bad" ]; then
                                echo "rig: scenario 8 not retried: guest $i got $(printf '%s' "$bad" | tr '\n' ' ')" >&2
                                return 1
                        fi
                done
                echo "$rr; the other guests stopped or finished, every answer so far the expected one"
        }
        ts=$(rig_uptime)
        fx8_attempt=1
        while :; do
                pids=
                for i in $fx8_all; do
                        [ "$i" = 1 ] || sleep "${PRH_FX8_STAGGER:-3}"
                        fx8_guest "$i" &
                        pids="$pids $!"
                done
                # watch: a guest that ended without @@DONE stops the others
                while :; do
                        left=0
                        for i in $fx8_all; do
                                o=$out/guest-$i
                                if [ -e "$o/qemu-exit" ]; then
                                        if ! tr -d '\r' < "$o/console.log" 2>/dev/null | grep -q '^@@DONE' && [ ! -e "$o/stopped" ]; then
                                                fx8_stop_others "$i"
                                        fi
                                else
                                        left=$((left + 1))
                                fi
                        done
                        [ "$left" = 0 ] && break
                        sleep 1
                done
                for p in $pids; do
                        wait "$p"
                done
                [ "$fx8_attempt" -lt 2 ] || break
                fin=0
                for i in $fx8_all; do
                        tr -d '\r' < "$out/guest-$i/console.log" 2>/dev/null | grep -q '^@@DONE' && fin=$((fin + 1))
                done
                [ "$fin" = "$fx8_n" ] && break
                ev=$(fx8_reset_retry) || break
                mkdir -p "$out/attempt-$fx8_attempt"
                for i in $fx8_all; do
                        mv "$out/guest-$i" "$out/attempt-$fx8_attempt/"
                done
                rig_retry rig-mpath "scenario 8 (attempt $fx8_attempt of 2): $ev; run again on a fresh LU 7; files kept in $out/attempt-$fx8_attempt"
                fx8_lu_destroy
                fx8_lu_create
                fx8_attempt=$((fx8_attempt + 1))
        done
        rig_log "scenario 8: $fx8_n nested guests done after $(rig_since "$ts") s"
        final=$(fx_state "$(eval "echo \$FX8_DEV$fx8_n")" "$lab8")
        rc_of() {       # GUEST TEST
                tr -d '\r' < "$out/guest-$1/console.log" | grep "^@@END $2 " | sed 's/.* rc=//'
        }
        t_of() {
                tr -d '\r' < "$out/guest-$1/console.log" | grep "^@@T $2 " | sed 's/.* //'
        }
        rm -f "$results/faults-8.md"
        echo "| guest | answers (sg_persist exit, time to answer) |" > "$results/faults-8.md"
        echo "| --- | --- |" >> "$results/faults-8.md"
        for i in $fx8_all; do
                c=$out/guest-$i/console.log
                if tr -d '\r' < "$c" | grep -q '^@@DONE'; then
                        pass "scenario 8: guest $i finished"
                else
                        fail "scenario 8: guest $i did not finish (qemu exit $(cat "$out/guest-$i/qemu-exit"))"
                        tr -d '\r' < "$c" | tail -n 20
                fi
                if tr -d '\r' < "$c" | grep -q '^@@WAIT'; then
                        fail "scenario 8: guest $i: $(tr -d '\r' < "$c" | grep '^@@WAIT')"
                fi
                ans="REGISTER $(rc_of "$i" fence-register) ($(t_of "$i" fence-register) s)"
                case $i in
                1) ans="$ans, RESERVE $(rc_of 1 fence-reserve) ($(t_of 1 fence-reserve) s), REGISTER with its old key after the preemption $(rc_of 1 fence-fenced)" ;;
                2) ans="$ans, PREEMPT 0xabc1 $(rc_of 2 fence-preempt) ($(t_of 2 fence-preempt) s)" ;;
                esac
                echo "| guest $i (nexus d0$i) | $ans |" | tee -a "$results/faults-8.md"
                check "scenario 8: guest $i REGISTER" "$(rc_of "$i" fence-register)" 0
                check "scenario 8: guest $i READ FULL STATUS at its end" "$(rc_of "$i" fence-read-full-status)" 0
                # every guest's last READ FULL STATUS comes after the PREEMPT:
                # it must show what the final state shows
                rfs=$(tr -d '\r' < "$c" | awk '$0 == "@@BEGIN fence-read-full-status" { on = 1; next } on && /^@@END / { exit } on { print }')
                check "scenario 8: guest $i's READ FULL STATUS: keys 2..$fx8_n and not 1" \
                        "$(printf '%s\n' "$rfs" | grep -c "Key=0xabc[2-$fx8_n]\$") $(printf '%s\n' "$rfs" | grep -c 'Key=0xabc1$')" "$((fx8_n - 1)) 0"
                check "scenario 8: guest $i's READ FULL STATUS: 0xabc2 holds Write Exclusive" \
                        "$(printf '%s\n' "$rfs" | awk '/Key=/ { k = $1 } /Reservation holder/ { h = k } /type: / && h != "" && t == "" { t = $0; sub(/.*type: /, "", t) } END { print h ", " t }')" \
                        "Key=0xabc2, Write Exclusive"
        done
        echo "final READ FULL STATUS (nexus $fx8_n): $final" | tee -a "$results/faults-8.md"
        check "scenario 8: guest 1 RESERVE" "$(rc_of 1 fence-reserve)" 0
        check "scenario 8: guest 2 PREEMPT" "$(rc_of 2 fence-preempt)" 0
        check "scenario 8: guest 1 fenced: REGISTER with its old key gets RESERVATION CONFLICT (exit 24)" "$(rc_of 1 fence-fenced)" 24
        # what the answers say the LU must hold: every key whose REGISTER got
        # GOOD, less 0xabc1 if the PREEMPT got GOOD; the holder is 2 if its
        # PREEMPT got GOOD, else 1 if its RESERVE did
        want8=
        for i in $fx8_all; do
                [ "$(rc_of "$i" fence-register)" = 0 ] || continue
                [ "$i" = 1 ] && [ "$(rc_of 2 fence-preempt)" = 0 ] && continue
                w="$i:0xabc$i"
                if [ "$i" = 2 ] && [ "$(rc_of 2 fence-preempt)" = 0 ]; then
                        w="$w*/type=1"
                elif [ "$i" = 1 ] && [ "$(rc_of 1 fence-reserve)" = 0 ]; then
                        w="$w*/type=1"
                fi
                want8="$want8${want8:+ }$w"
        done
        check "scenario 8: the final state agrees with the answers" "$final" "$want8"
        check "scenario 8: the final state" "$final" "$(for i in $fx8_all; do
                case $i in 1) ;; 2) printf '2:0xabc2*/type=1' ;; *) printf ' %s:0xabc%s' "$i" "$i" ;; esac
        done)"
        if helper_alive prhd-fence; then pass "scenario 8: prhd running"; else fail "scenario 8: prhd died"; fi
        if ev=$(helper_log_check prhd-fence "$logs"); then pass "scenario 8: $ev"; else fail "scenario 8: $ev"; fi
        helper_stop prhd-fence || fail "scenario 8: prhd did not exit within 10 s of SIGTERM"
fi
rig_log "section 10 (scenario 8) took $(rig_since "$fx_t0") s"
fi
