#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# /init of the nested guest of the multipath scenario (mpath.sh, section 6),
# put over the rig's nested initramfs (same modules and programs, this init).
# QEMU gives it one scsi-block disk backed by the outer guest's dm-multipath
# map, with pr-manager-helper on prhd: every PR command below travels
# nested guest -> virtio-scsi -> scsi-block -> pr-manager-helper -> prhd ->
# libmpathpersist -> both LIO paths.  Output framed as in the rig's
# nested-init.sh: "@@BEGIN name" ... "@@END name rc=N", then "@@DONE".
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 > /proc/sys/kernel/printk
# nested TCG can take minutes to get here: show that it did
echo "@@INIT after $(cut -d' ' -f1 /proc/uptime)s"

. /lib/nested-lib.sh

load_modules

# Issue 12's scenarios 7 and 8 (faults.sh, mpath.sh sections 9 and 10) use
# this initramfs too: the kernel command line says which (prh.mode=...).
case " $(cat /proc/cmdline) " in
*" prh.mode="*)
        . /lib/nested-faults.sh         # powers off at its end
        ;;
esac

D=
for _ in $(seq 1 300); do
        d=$(ls -d /sys/class/scsi_device/*:0:0:0/device/block 2>/dev/null | head -n1)
        if [ -n "$d" ] && [ -b "/dev/$(ls "$d")" ]; then
                D=/dev/$(ls "$d")
                break
        fi
        sleep 0.1
done
[ -n "$D" ] || fail "no disk"
echo "@@DISK $D after $(cut -d' ' -f1 /proc/uptime)s"

# The map's reservation_key (multipath.conf) is 0x123abc.
K=0x123abc
t register sg_persist -n --out --register --param-sark=$K "$D"
t reserve sg_persist -n --out --reserve --param-rk=$K --prout-type=1 "$D"
t read-keys sg_persist -n --in --read-keys "$D"
t read-reservation sg_persist -n --in --read-reservation "$D"
t read-full-status sg_persist -n --in --read-full-status "$D"
t report-capabilities sg_persist -n --in --report-capabilities "$D"
t release sg_persist -n --out --release --param-rk=$K --prout-type=1 "$D"
t read-reservation-2 sg_persist -n --in --read-reservation "$D"
# registered on both paths (checked from outside) until the outer guest clears
echo "@@DONE after $(cut -d' ' -f1 /proc/uptime)s"
power_off
