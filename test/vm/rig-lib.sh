# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Guest-side helpers of the VM rig, sourced by the scenario scripts that
# vm-run.sh runs inside the outer guest:
#
#   lio_init                    load LIO + tcm_loop + sd/sg, mount configfs, set a writable dbroot
#   lio_lu_create [MB]          one fileio LU exported through two tcm_loop I_T nexuses;
#                               sets RIG_DEV_A/RIG_DEV_B (/dev/sdX) and RIG_SG_A/RIG_SG_B
#   lio_lu_destroy              remove the LU again (its PR state goes with it)
#   lio_lu_fresh                destroy + create: a LU with no PR state and PRgeneration 0
#   helper_start NAME BIN SOCK  start a helper daemon (-d) on SOCK, wait until it is up
#   helper_stop NAME            SIGTERM that helper, wait for it to exit
#
# The LU is the same for both nexuses, so RIG_DEV_A and RIG_DEV_B are two
# "hosts" of a cluster: PR registrations and reservations made through one
# are seen, and enforced, on the other.

RIG_CFG=/sys/kernel/config/target
# LIO writes PR/ALUA metadata under its dbroot; the default /etc/target is
# read-only in the guest.  The directory also exists in the initramfs (the
# kernel thread resolves the path from there).
RIG_DBROOT=/run/prh-target
RIG_LU_FILE=/run/prh-lu0.img
# Target port and initiator WWNs of the two nexuses (SAS addresses).
RIG_TGT_WWN_A=naa.5001405000000a01
RIG_TGT_WWN_B=naa.5001405000000a02
RIG_INI_WWN_A=naa.5001405000000b01
RIG_INI_WWN_B=naa.5001405000000b02

rig_log() {
        echo "rig: $*" >&2
}

rig_die() {
        echo "rig: FATAL: $*" >&2
        exit 1
}

rig_uptime() {
        cut -d' ' -f1 /proc/uptime
}

lio_init() {
        # LIO logs every refused PR command at KERN_ERR; keep the console for
        # the test's output (dmesg keeps them).  A kernel deadlock (LIO has
        # some) panics the guest after 90 s instead of hanging until the rig's
        # timeout; vm-run.sh then reports the guest's death with its console.
        echo 1 > /proc/sys/kernel/printk
        echo 90 > /proc/sys/kernel/hung_task_timeout_secs
        echo 1 > /proc/sys/kernel/hung_task_panic
        for m in configfs target_core_mod target_core_file tcm_loop sd_mod sg; do
                modprobe "$m" || rig_die "modprobe $m failed"
        done
        mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config ||
                rig_die "cannot mount configfs"
        mkdir -p "$RIG_DBROOT/pr" "$RIG_DBROOT/alua"
        echo "$RIG_DBROOT" > "$RIG_CFG/dbroot" || rig_die "cannot set the LIO dbroot"
        [ "$(cat "$RIG_CFG/dbroot")" = "$RIG_DBROOT" ] || rig_die "LIO dbroot not taken"
}

# Print the block device and the sg device behind a tcm_loop target port.
lio_port_devs() {
        addr=$(cat "$RIG_CFG/loopback/$1/tpgt_1/address") || return 1
        sdir=/sys/class/scsi_device/$addr:0/device
        for _ in $(seq 1 100); do
                if [ -d "$sdir/block" ] && [ -d "$sdir/scsi_generic" ]; then
                        b=$(ls "$sdir/block")
                        g=$(ls "$sdir/scsi_generic")
                        if [ -b "/dev/$b" ] && [ -c "/dev/$g" ]; then
                                echo "/dev/$b /dev/$g"
                                return 0
                        fi
                fi
                sleep 0.1
        done
        return 1
}

lio_lu_create() {
        mb=${1:-16}
        bs=$RIG_CFG/core/fileio_0/disk0
        [ -e "$RIG_LU_FILE" ] || truncate -s "${mb}M" "$RIG_LU_FILE"
        mkdir -p "$bs" || rig_die "cannot create the backstore"
        echo "fd_dev_name=$RIG_LU_FILE,fd_dev_size=$((mb * 1024 * 1024))" > "$bs/control"
        # a unit serial gives the LU a stable identity (multipath needs it too)
        echo 5052480000000001 > "$bs/wwn/vpd_unit_serial"
        echo 1 > "$bs/enable" || rig_die "cannot enable the backstore"
        for t in "$RIG_TGT_WWN_A:$RIG_INI_WWN_A" "$RIG_TGT_WWN_B:$RIG_INI_WWN_B"; do
                tpg=$RIG_CFG/loopback/${t%%:*}/tpgt_1
                if [ ! -d "$tpg" ]; then
                        mkdir -p "$tpg" || rig_die "cannot create $tpg"
                        # the nexus must exist before the LUN, or no disk appears
                        echo "${t#*:}" > "$tpg/nexus" || rig_die "cannot create the nexus ${t#*:}"
                fi
                mkdir "$tpg/lun/lun_0" || rig_die "cannot create LUN 0 in $tpg"
                ln -s "$bs" "$tpg/lun/lun_0/disk0" || rig_die "cannot map the backstore in $tpg"
        done
        devs=$(lio_port_devs "$RIG_TGT_WWN_A") || rig_die "no disk for nexus A"
        RIG_DEV_A=${devs% *}
        RIG_SG_A=${devs#* }
        devs=$(lio_port_devs "$RIG_TGT_WWN_B") || rig_die "no disk for nexus B"
        RIG_DEV_B=${devs% *}
        RIG_SG_B=${devs#* }
        export RIG_DEV_A RIG_SG_A RIG_DEV_B RIG_SG_B
}

lio_lu_destroy() {
        for w in "$RIG_TGT_WWN_A" "$RIG_TGT_WWN_B"; do
                lun=$RIG_CFG/loopback/$w/tpgt_1/lun/lun_0
                if [ -d "$lun" ]; then
                        rm -f "$lun/disk0"
                        rmdir "$lun" || rig_die "cannot remove $lun"
                fi
        done
        if [ -d "$RIG_CFG/core/fileio_0/disk0" ]; then
                rmdir "$RIG_CFG/core/fileio_0/disk0" || rig_die "cannot remove the backstore"
        fi
        # the removed SCSI devices must be gone before the next LU reuses names
        for _ in $(seq 1 100); do
                [ -z "$(ls /sys/class/scsi_disk 2>/dev/null)" ] && return 0
                sleep 0.1
        done
        rig_die "SCSI disks still present after removing the LU"
}

lio_lu_fresh() {
        lio_lu_destroy
        lio_lu_create "$@"
}

# helper_start NAME BIN SOCKET: start BIN as a daemon the way its users do
# (the same command line for qemu-pr-helper and prhd: -k SOCKET -f PIDFILE
# -d) and wait until its socket and pidfile exist.  NAME labels it for
# helper_stop; the pidfile is /run/NAME.pid.
helper_start() {
        name=$1
        bin=$2
        sock=$3
        pidfile=/run/$name.pid
        rm -f "$pidfile"
        "$bin" -k "$sock" -f "$pidfile" -d || rig_die "$bin -k $sock -f $pidfile -d failed with $?"
        for _ in $(seq 1 100); do
                if [ -S "$sock" ] && [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
                        rig_log "$name ($bin) is pid $(cat "$pidfile") on $sock"
                        return 0
                fi
                sleep 0.1
        done
        rig_die "$bin did not come up on $sock"
}

# helper_stop NAME: SIGTERM, wait for the exit (SIGKILL after 10 s: fails).
helper_stop() {
        pidfile=/run/$1.pid
        [ -s "$pidfile" ] || return 0
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
                if ! kill -0 "$pid" 2>/dev/null; then
                        rm -f "$pidfile"
                        return 0
                fi
                sleep 0.1
        done
        rig_log "$1 (pid $pid) ignored SIGTERM for 10 s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
        return 1
}
