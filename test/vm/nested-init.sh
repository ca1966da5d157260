#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# /init of the nested guest (guest-qemu.sh starts it with QEMU's
# pr-manager-helper and three scsi-block disks on the outer LIO LU):
#
#   scsi-id 0  nexus A, read-write       (the "host" under test)
#   scsi-id 1  nexus B, read-write       (the other host of the cluster)
#   scsi-id 2  nexus A, read-only drive  (item 4)
#
# Every PR command below travels nested guest -> virtio-scsi -> scsi-block
# -> pr-manager-helper -> the helper's socket -> SG_IO -> LIO.  Each test's
# output is framed by "@@BEGIN name" / "@@END name rc=N" lines on the
# console; guest-qemu.sh cuts them out and compares them across helpers.
# ttyS1 is the control line to guest-qemu.sh (helper stop/start).
# prh.parts= on the kernel command line runs only some of the parts below
# (sgp iscsi restart ro; default all; "hold" keeps the guest up once done;
# "large" alone: guest-matrix.sh's READ KEYS / READ FULL STATUS of the
# iSCSI LU with 1102 registrations, disks 0 and 1 its nexuses A and B):
# guest-systemd.sh's libvirt domains have neither the control line nor the
# read-only drive, and are stopped by virsh destroy.  Part "policy" (not in
# the default) is rig-prhctl's, with four disks of its own (see there).
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo 1 > /proc/sys/kernel/printk

. /lib/nested-lib.sh

load_modules

parts="sgp iscsi restart ro"
for arg in $(cat /proc/cmdline); do
        case "$arg" in prh.parts=*) parts=$(echo "${arg#prh.parts=}" | tr , ' ') ;; esac
done
part() {
        case " $parts " in *" $1 "*) return 0 ;; esac
        return 1
}

# The three disks, by SCSI target id (two without the read-only part; four
# of its own for part policy).
ids="0 1 2"
part ro || ids="0 1"
part policy && ids="0 1 2 3"
echo "@@INIT after $(cut -d' ' -f1 /proc/uptime)s"
for _ in $(seq 1 1200); do
        n=$(ls /sys/class/scsi_disk 2>/dev/null | wc -l)
        [ "$n" -ge "$(echo $ids | wc -w)" ] && break
        sleep 0.1
done
BLK2= SG2=
for t in $ids; do
        d=$(ls -d /sys/class/scsi_device/*:0:$t:0 2>/dev/null | head -n1)
        [ -n "$d" ] || fail "no SCSI device with target id $t"
        eval "BLK$t=/dev/$(ls "$d/device/block")"
        eval "SG$t=/dev/$(ls "$d/device/scsi_generic")"
done
A=$BLK0 B=$BLK1 RO=$BLK2
echo "@@DISKS A=$A ($SG0) B=$B ($SG1) RO=$RO ($SG2) after $(cut -d' ' -f1 /proc/uptime)s"

stty -F /dev/ttyS1 raw -echo 2>/dev/null
ctl() {
        echo "@@$1" > /dev/ttyS1
        read -r reply < /dev/ttyS1
        echo "@@CTL $1 -> $reply"
}

KA=0xa1a1 KB=0xb2b2 KC=0xc3c3 KD=0xd4d4

# --- item 2: an sg_persist session of two cluster hosts ----------------------
if part sgp; then
t sgp-register-a sg_persist -n --out --register --param-sark=$KA $A
t sgp-register-b sg_persist -n --out --register --param-sark=$KB $B
t sgp-reserve-a sg_persist -n --out --reserve --param-rk=$KA --prout-type=1 $A
t sgp-read-keys sg_persist -n --in --read-keys $B
t sgp-read-reservation sg_persist -n --in --read-reservation $B
t sgp-read-full-status sg_persist -n --in --read-full-status $A
t sgp-report-capabilities sg_persist -n --in --report-capabilities $A
t sgp-preempt-by-b sg_persist -n --out --preempt --param-rk=$KB --param-sark=$KA --prout-type=1 $B
t sgp-read-keys-a-ua sg_persist -n --in --read-keys $A
t sgp-read-keys-a sg_persist -n --in --read-keys $A
t sgp-read-reservation-2 sg_persist -n --in --read-reservation $A
t sgp-release-b sg_persist -n --out --release --param-rk=$KB --prout-type=1 $B
t sgp-read-reservation-3 sg_persist -n --in --read-reservation $A
t sgp-clear-b sg_persist -n --out --clear --param-rk=$KB $B
t sgp-read-keys-final sg_persist -n --in --read-keys $A

fi

# --- item 2: libiscsi's PR tests on the nested guest's SCSI disks -------------
if part iscsi; then
t iscsi-prin iscsi-test-cu -d -t 'ALL.Prin*' $SG0
t iscsi-prout iscsi-test-cu -d -t 'ALL.Prout*' $SG0 $SG1
# iscsi-test-cu leaves registrations behind when a test fails half-way
t clean-a sg_persist -n --out --register-ignore --param-sark=0 $A
t clean-b sg_persist -n --out --register-ignore --param-sark=0 $B
t clean-read-keys sg_persist -n --in --read-keys $A

fi

# --- item 3: the helper restarts while QEMU is connected ----------------------
if part restart; then
t restart-before sg_persist -n --out --register --param-sark=$KC $A
ctl STOP
t restart-while-down sg_persist -n --in --read-keys $A
ctl START
t restart-after sg_persist -n --in --read-keys $A
t restart-after-out sg_persist -n --out --register --param-rk=$KC --param-sark=0 $A
ctl STOP
ctl START
t restart-after-2 sg_persist -n --out --register --param-sark=$KC $A

fi

# --- item 4: a read-only scsi-block drive -------------------------------------
if part ro; then
# The disk is write-protected in the guest (sd opens it read-only only), so
# use its sg node; QEMU still holds the drive through an O_RDONLY fd.
t ro-read-keys sg_persist -n --in --read-keys $SG2
t ro-register sg_persist -n --out --register --param-sark=$KD $SG2
t ro-reserve sg_persist -n --out --reserve --param-rk=$KC --prout-type=1 $SG2
t ro-read-keys-rw sg_persist -n --in --read-keys $A

fi

# --- issue 14: prhd's per-socket policy, with QEMU as the client ------------
# (src/cli/rig-prhctl.py, prh.parts=policy; not in the default parts.)
#   scsi-id 0  LU 0, nexus A, through prhd's tenant socket (its policy forbids
#              PREEMPT and PREEMPT AND ABORT)
#   scsi-id 1  LU 0, nexus B, through the same prhd's socket that allows all
#   scsi-id 2  LU 2, nexus A, and scsi-id 3, LU 2, nexus B, through a prhd
#              without a configuration
# The same steps on both LUs, each from a directory in which "a" and "b"
# name its two disks, so that the outputs (-vv: CDBs, parameter lists,
# response and sense bytes) can be compared byte for byte.
if part policy; then
policy_steps() {
        if ! { mkdir -p "/tmp/$1" && cd "/tmp/$1" && ln -s "$2" a && ln -s "$3" b; }; then
                fail "no directory for $1"
        fi
        t "$1-register-b" sg_persist -n -vv --out --register --param-sark=$KB b
        t "$1-reserve-b" sg_persist -n -vv --out --reserve --param-rk=$KB --prout-type=1 b
        t "$1-register-a" sg_persist -n -vv --out --register --param-sark=$KA a
        t "$1-read-keys" sg_persist -n -vv --in --read-keys a
        t "$1-read-reservation" sg_persist -n -vv --in --read-reservation a
        t "$1-read-full-status" sg_persist -n -vv --in --read-full-status a
        t "$1-report-capabilities" sg_persist -n -vv --in --report-capabilities a
        t "$1-preempt-a" sg_persist -n -vv --out --preempt --param-rk=$KA --param-sark=$KB --prout-type=1 a
        t "$1-read-keys-after" sg_persist -n -vv --in --read-keys a
        t "$1-read-full-status-after" sg_persist -n -vv --in --read-full-status a
        cd /
}
policy_steps plain "$BLK2" "$BLK3"
policy_steps policy "$BLK0" "$BLK1"
# (never on the LU without a policy: LIO deadlocks on it, see rig-prhctl.py)
cd /tmp/policy || fail "no /tmp/policy"
t policy-preempt-abort-a sg_persist -n -vv --out --preempt-abort --param-rk=$KA --param-sark=$KB --prout-type=1 a
t policy-read-full-status-end sg_persist -n -vv --in --read-full-status a
cd /
fi

# --- issue 12, large replies (prh.parts=large, from guest-matrix.sh) -----------
# Raw PR IN CDBs (sg_raw prints the bytes received, or the sense): sg_persist
# prints as many keys as ADDITIONAL LENGTH says, past the bytes it received
# (garbage from its heap).
# The allocation lengths are pr-matrix's large-replies ones: 8192 for READ
# FULL STATUS would make LIO 6.1 write past its buffer (docs/faults.md).
if part large; then
# sg_raw's output cut short for the slow console: its first lines (status,
# sense or the first 64 bytes) and the md5 of all of it
raw() {
        sg_raw -r "$@" > /tmp/raw.out 2>&1
        _r=$?
        head -n 7 /tmp/raw.out
        echo "md5 $(md5sum < /tmp/raw.out)"
        return $_r
}
t large-read-keys raw 8192 $A 5e 00 00 00 00 00 00 20 00 00
t large-read-keys-4500 raw 4500 $A 5e 00 00 00 00 00 00 11 94 00
t large-read-full-status-8140 raw 8140 $A 5e 03 00 00 00 00 00 1f cc 00
t large-read-reservation raw 8192 $B 5e 01 00 00 00 00 00 20 00 00
# above 8192: QEMU's pr-manager-helper client refuses it
t large-read-keys-8193 raw 8193 $A 5e 00 00 00 00 00 00 20 01 00
fi

echo "@@DONE after $(cut -d' ' -f1 /proc/uptime)s"
# part "hold": stay up, for a test that stops the VM from outside (virsh destroy)
if part hold; then
        echo "@@HOLD"
        while :; do
                sleep 3600
        done
fi
power_off
