# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# The nested guests of issue 12's scenarios 7 and 8 (faults.sh, run by
# mpath.sh as sections 9 and 10); sourced by nested-mpath-init.sh when the
# kernel command line has prh.mode=..., after the modules are loaded.
# Output framed as in nested-init.sh ("@@BEGIN name" ... "@@END name rc=N";
# "@@T name SECONDS" gives a command's time to answer), then "@@DONE".
#
# prh.mode=kill (scenario 7): two scsi-block disks on the same stalling
# dm-multipath map of the outer guest, scsi-id 0 through pr-manager-helper
# pr0 = qemu-pr-helper, scsi-id 1 through pr1 = prhd.  For each: REGISTER,
# then ask the outer script (ttyS1) to fail the map's only path (queueing),
# send a REGISTER that changes the key (it hangs in the helper's SG_IO),
# ask the outer script to kill -9 the helper while it does, read what
# sg_persist got, ask for the helper to be started again (and the path
# back), then READ KEYS and the key change once more: QEMU reconnects.
#
# prh.mode=fence prh.role=N prh.guests=G (scenario 8): one of G guests (2
# to 4, default 4), each on its own I_T nexus of one LU, all through one
# prhd.  All register key 0xabcN; guest 1 reserves (Write Exclusive) once
# all G are registered; guest 2 preempts it once it holds the reservation;
# guest 1 then tries to register again with its old key (fenced:
# RESERVATION CONFLICT); 3 and 4 wait until all G are registered and then
# until key 1 is gone.  Each guest ends with READ FULL STATUS.

cmdline=" $(cat /proc/cmdline) "
mode=${cmdline#* prh.mode=}
mode=${mode%% *}
role=
case "$cmdline" in
*" prh.role="*) role=${cmdline#* prh.role=}; role=${role%% *} ;;
esac
guests=4
case "$cmdline" in
*" prh.guests="*) guests=${cmdline#* prh.guests=}; guests=${guests%% *} ;;
esac
echo "@@MODE $mode $role $guests"

now() {
        cut -d' ' -f1 /proc/uptime
}

# tt NAME COMMAND...: t with the command's time to answer
tt() {
        _t0=$(now)
        t "$@"
        echo "@@T $1 $(echo "$_t0 $(now)" | awk '{ printf "%.2f", $2 - $1 }')"
}

# the disk with SCSI target id $1
disk() {
        for _ in $(seq 1 1200); do
                d=$(ls -d /sys/class/scsi_device/*:0:"$1":0/device/block 2>/dev/null | head -n1)
                if [ -n "$d" ] && [ -b "/dev/$(ls "$d")" ]; then
                        echo "/dev/$(ls "$d")"
                        return 0
                fi
                sleep 0.1
        done
        return 1
}

# poll SECONDS COMMAND...: run COMMAND every 0.5 s until it succeeds
poll() {
        _n=$(($1 * 2))
        shift
        while [ "$_n" -gt 0 ]; do
                "$@" && return 0
                sleep 0.5
                _n=$((_n - 1))
        done
        return 1
}

case "$mode" in
kill)
        REF=$(disk 0) || fail "no disk 0"
        PRHD=$(disk 1) || fail "no disk 1"
        echo "@@DISKS qemu-pr-helper=$REF prhd=$PRHD after $(now)s"
        stty -F /dev/ttyS1 raw -echo 2>/dev/null
        # ttyS1 stays open for reading: the 8250 driver clears the UART's
        # FIFO when the port is opened, and a reply that came while it was
        # closed (the KILL reply can come before sg_persist has returned)
        # would be lost
        exec 4< /dev/ttyS1
        ctl_send() {
                echo "@@$1" > /dev/ttyS1
        }
        ctl_reply() {
                read -r reply <&4
                echo "@@CTL $1 -> $reply"
        }
        for h in qemu-pr-helper prhd; do
                if [ "$h" = prhd ]; then D=$PRHD K1=0x7b1 K2=0x7b2; else D=$REF K1=0x7a1 K2=0x7a2; fi
                tt "$h-register" sg_persist -n --out --register --param-sark=$K1 "$D"
                ctl_send "STALL $h"
                ctl_reply "STALL $h"
                # the outer script kills the helper while this REGISTER is in its SG_IO
                ctl_send "KILL $h"
                # -vv: sg_persist prints the sense it got
                tt "$h-inflight" sg_persist -vv -n --out --register --param-rk=$K1 --param-sark=$K2 "$D"
                ctl_reply "KILL $h"
                ctl_send "RESTART $h"
                ctl_reply "RESTART $h"
                tt "$h-after-in" sg_persist -n --in --read-keys "$D"
                tt "$h-after-out" sg_persist -n --out --register --param-rk=$K1 --param-sark=$K2 "$D"
                tt "$h-unregister" sg_persist -n --out --register --param-rk=$K2 --param-sark=0 "$D"
        done
        ;;
fence)
        D=$(disk 0) || fail "no disk"
        echo "@@DISK $D after $(now)s"
        K=0xabc$role
        keys() {
                sg_persist -n --in --read-keys "$D" 2>/dev/null
        }
        all_keys() {
                [ "$(keys | grep -c "^ *0xabc[1-$guests]\$")" = "$guests" ]
        }
        holder_is() {
                sg_persist -n --in --read-reservation "$D" 2>/dev/null | grep -q "Key=$1\$"
        }
        not_holder() {
                sg_persist -n --in --read-reservation "$D" > /tmp/resv 2>&1 || return 1
                ! grep -q "Key=$K\$" /tmp/resv
        }
        key1_gone() {
                keys > /tmp/keys || return 1
                ! grep -q '^ *0xabc1$' /tmp/keys
        }
        tt fence-register sg_persist -n --out --register --param-sark=$K "$D"
        case "$role" in
        1)
                poll 300 all_keys || echo "@@WAIT all $guests keys: timed out"
                tt fence-reserve sg_persist -n --out --reserve --param-rk=$K --prout-type=1 "$D"
                poll 300 not_holder || echo "@@WAIT preempted: timed out"
                # fenced: the old key is gone
                tt fence-fenced sg_persist -n --out --register --param-rk=$K --param-sark=$K "$D"
                ;;
        2)
                poll 300 holder_is 0xabc1 || echo "@@WAIT reservation by 0xabc1: timed out"
                tt fence-preempt sg_persist -n --out --preempt --param-rk=$K --param-sark=0xabc1 --prout-type=1 "$D"
                ;;
        *)
                # first all registered (else key 1 is "gone" before it came)
                poll 300 all_keys || echo "@@WAIT all $guests keys: timed out"
                poll 300 key1_gone || echo "@@WAIT key 0xabc1 gone: timed out"
                ;;
        esac
        tt fence-read-full-status sg_persist -n --in --read-full-status "$D"
        ;;
*)
        fail "unknown prh.mode=$mode"
        ;;
esac
echo "@@DONE after $(now)s"
power_off
