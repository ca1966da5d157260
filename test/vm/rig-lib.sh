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
#   lio_lu_create_idx IDX [MB], lio_lu_destroy_idx IDX: further LUs, each on its own two nexuses
#   helper_start NAME BIN SOCK  start a helper daemon (-d) on SOCK, wait until it is up
#   helper_stop NAME            SIGTERM that helper, wait for it to exit
#
# The LU is the same for both nexuses, so RIG_DEV_A and RIG_DEV_B are two
# "hosts" of a cluster: PR registrations and reservations made through one
# are seen, and enforced, on the other.

# shellcheck disable=SC2034 # the variables below are for the scripts that source this file
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

# The accelerator for a nested guest: PRH_NESTED_ACCEL if set, else kvm when the
# outer guest's TCG CPU ("-cpu max", which emulates AMD SVM) lets KVM load (one
# level of binary translation instead of two: several times faster than TCG in
# TCG), else tcg.
rig_nested_accel() {
        if [ -n "${PRH_NESTED_ACCEL:-}" ]; then
                echo "$PRH_NESTED_ACCEL"
        elif grep -qw svm /proc/cpuinfo && modprobe kvm_amd 2>/dev/null && [ -c /dev/kvm ]; then
                echo kvm
        elif grep -qw vmx /proc/cpuinfo && modprobe kvm_intel 2>/dev/null && [ -c /dev/kvm ]; then
                echo kvm
        else
                echo tcg
        fi
}

# Boot a nested guest under TIMEOUT seconds: its console (ttyS0) goes to
# OUT/console.log and QEMU's own messages to OUT/qemu.log; the caller's
# QEMU-ARGS add the disks (scsi-block on bus scsi0, through pr-manager-helper
# pr0 on HELPER-SOCKET) and any further serial line.  Returns QEMU's status.
#   rig_nested_qemu ACCEL TIMEOUT OUT KERNEL INITRD HELPER-SOCKET [QEMU-ARGS...]
rig_nested_qemu() {
        _accel=$1 _timeout=$2 _out=$3 _kernel=$4 _initrd=$5 _sock=$6
        shift 6
        timeout -k 5 "$_timeout" qemu-system-x86_64 \
                -machine q35,accel="$_accel" -cpu max -smp 1 -m 384 \
                -nodefaults -no-user-config -display none -no-reboot \
                -kernel "$_kernel" -initrd "$_initrd" \
                -append "console=ttyS0 panic=-1 quiet loglevel=1 mitigations=off" \
                -chardev file,id=con,path="$_out/console.log" -serial chardev:con \
                -object pr-manager-helper,id=pr0,path="$_sock" \
                -device virtio-scsi-pci,id=scsi0 \
                "$@" < /dev/null > "$_out/qemu.log" 2>&1
}

# After a boot of a nested guest whose files are OUT/console.log and
# OUT/qemu.log: true if its /init ran (it prints "@@INIT").  Under nested
# KVM on the outer guest's emulated SVM a nested guest now and then resets
# before its kernel prints anything; then say so and keep that boot's files
# as OUT/console-bootN.log and OUT/qemu-bootN.log for the next attempt.
#   rig_nested_booted OUT WHAT BOOT-NUMBER QEMU-EXIT
rig_nested_booted() {
        grep -aq '^@@INIT' "$1/console.log" 2>/dev/null && return 0
        rig_log "nested guest $2 ended before its /init ran (boot $3, qemu exit $4)"
        sed "s/^/  qemu (boot $3): /" "$1/qemu.log" >&2
        mv "$1/console.log" "$1/console-boot$3.log" 2>/dev/null
        mv "$1/qemu.log" "$1/qemu-boot$3.log" 2>/dev/null
        return 1
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
        for _ in $(seq 1 300); do
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

# lio_lu_create_idx IDX [MB]: LU number IDX (fileio_IDX/diskIDX, file
# /run/prh-luIDX.img) exported through its own two tcm_loop target ports
# naa.5001405000000a0<2*IDX+1> and ...a0<2*IDX+2>, with the initiators
# $RIG_INI_WWN_A and $RIG_INI_WWN_B.
# Sets RIG_DEV_A/B and RIG_SG_A/B to that LU's devices.  IDX 0 is the
# rig's default LU (lio_lu_create); use IDX >= 2 for more (the multipath
# scenario puts a plain LU at fileio_1).
# A fileio backstore fileio_IDX/diskIDX on /run/prh-luIDX.img (MB MiB);
# prints its configfs directory.  The unit serial (as pr-matrix gives it
# when it replaces a LU) gives the LU a stable identity; multipath needs it.
lio_backstore_create() {
        file=/run/prh-lu$1.img
        bs=$RIG_CFG/core/fileio_$1/disk$1
        [ -e "$file" ] || truncate -s "$2M" "$file"
        mkdir -p "$bs" || rig_die "cannot create the backstore $bs"
        echo "fd_dev_name=$file,fd_dev_size=$(($2 * 1024 * 1024))" > "$bs/control"
        printf '50524800000000%02x\n' $(($1 + 1)) > "$bs/wwn/vpd_unit_serial"
        echo 1 > "$bs/enable" || rig_die "cannot enable the backstore $bs"
        echo "$bs"
}

lio_lu_create_idx() {
        idx=$1
        mb=${2:-16}
        ta=naa.5001405000000a0$((2 * idx + 1)) tb=naa.5001405000000a0$((2 * idx + 2))
        # the same two initiators on every LU: replies that carry transport
        # IDs (READ FULL STATUS) are then equal across LUs
        ia=$RIG_INI_WWN_A ib=$RIG_INI_WWN_B
        bs=$(lio_backstore_create "$idx" "$mb") || exit 1
        for t in "$ta:$ia" "$tb:$ib"; do
                tpg=$RIG_CFG/loopback/${t%%:*}/tpgt_1
                if [ ! -d "$tpg" ]; then
                        mkdir -p "$tpg" || rig_die "cannot create $tpg"
                        # the nexus must exist before the LUN, or no disk appears
                        echo "${t#*:}" > "$tpg/nexus" || rig_die "cannot create the nexus ${t#*:}"
                fi
                mkdir "$tpg/lun/lun_0" || rig_die "cannot create LUN 0 in $tpg"
                ln -s "$bs" "$tpg/lun/lun_0/disk$idx" || rig_die "cannot map the backstore in $tpg"
        done
        devs=$(lio_port_devs "$ta") || rig_die "no disk for nexus A of LU $idx"
        RIG_DEV_A=${devs% *}
        RIG_SG_A=${devs#* }
        devs=$(lio_port_devs "$tb") || rig_die "no disk for nexus B of LU $idx"
        RIG_DEV_B=${devs% *}
        RIG_SG_B=${devs#* }
        export RIG_DEV_A RIG_SG_A RIG_DEV_B RIG_SG_B
}

lio_lu_destroy_idx() {
        idx=$1
        addrs=
        for w in naa.5001405000000a0$((2 * idx + 1)) naa.5001405000000a0$((2 * idx + 2)); do
                tpg=$RIG_CFG/loopback/$w/tpgt_1
                [ -d "$tpg" ] || continue
                addrs="$addrs $(cat "$tpg/address")"
                lun=$tpg/lun/lun_0
                if [ -d "$lun" ]; then
                        rm -f "$lun/disk$idx"
                        rmdir "$lun" || rig_die "cannot remove $lun"
                fi
        done
        if [ -d "$RIG_CFG/core/fileio_$idx/disk$idx" ]; then
                rmdir "$RIG_CFG/core/fileio_$idx/disk$idx" || rig_die "cannot remove the backstore"
        fi
        # this LU's SCSI devices must be gone before the next LU reuses names
        for a in $addrs; do
                for _ in $(seq 1 300); do
                        [ -e "/sys/class/scsi_device/$a:0" ] || break
                        sleep 0.1
                done
                [ -e "/sys/class/scsi_device/$a:0" ] && rig_die "SCSI device $a:0 still present after removing LU $idx"
        done
        return 0
}

lio_lu_create() {
        lio_lu_create_idx 0 "$@"
}

lio_lu_destroy() {
        lio_lu_destroy_idx 0
}

lio_lu_fresh() {
        lio_lu_destroy
        lio_lu_create "$@"
}

# helper_start NAME BIN SOCKET: start BIN as a daemon the way its users do
# (the same command line for qemu-pr-helper and prhd: -k SOCKET -f PIDFILE
# -d) and wait (up to 30 s) until its socket and pidfile exist.  NAME labels it for
# helper_stop; the pidfile is /run/NAME.pid.
helper_start() {
        name=$1
        bin=$2
        sock=$3
        pidfile=/run/$name.pid
        rm -f "$pidfile"
        "$bin" -k "$sock" -f "$pidfile" -d || rig_die "$bin -k $sock -f $pidfile -d failed with $?"
        # generous: a loaded CI machine under software emulation is slow
        for _ in $(seq 1 300); do
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
