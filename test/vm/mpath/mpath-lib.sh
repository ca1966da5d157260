# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Guest-side multipath set-up for the VM rig, on top of ../rig-lib.sh
# (sourced first).  The recipe of docs real-device-rig.md, "dm-multipath
# over the two paths":
#
#   mp_init                 modules (scsi_dh_alua before tcm_loop), LIO, the LU on two nexuses,
#                           an overlay on /etc with multipath.conf (reservation_key, find_multipaths no),
#                           udev, multipathd, one map over both paths; sets MP_MAP (/dev/mapper/NAME)
#   mp_path_state DEV       the path's state as multipathd reports it (active/failed/...)
#   mp_path_fail DEV / mp_path_reinstate DEV   take a path offline (SCSI device offline + multipathd fail) and back
#   mp_stop                 stop multipathd and udevd

MP_KEY=${MP_KEY:-0x123abc}
MP_UPPER=/run/prh-etc

# A second LU on nexus A only, kept out of multipath by its WWID: the
# "plain SCSI device" that prhd must still serve with SG_IO.
MP_PLAIN_SERIAL_PREFIX=aaaa
MP_PLAIN_FILE=/run/prh-lu1.img

mp_log() {
        echo "mpath: $*" >&2
}

mp_init() {
        # scsi_dh_alua must be there before tcm_loop's disks appear, or
        # "error attaching hardware handler" keeps the map from forming.
        for m in scsi_dh_alua dm_mod dm_multipath dm_round_robin dm_service_time overlay; do
                modprobe "$m" || rig_die "modprobe $m failed"
        done
        lio_init
        lio_lu_create
        mp_plain_lu_create

        # /etc is the host's, read-only: put a tmpfs-backed overlay on it.
        mkdir -p "$MP_UPPER/upper" "$MP_UPPER/work"
        mountpoint -q /etc || mount -t overlay overlay \
                -o "lowerdir=/etc,upperdir=$MP_UPPER/upper,workdir=$MP_UPPER/work" /etc ||
                rig_die "cannot mount an overlay on /etc"
        mkdir -p /etc/multipath
        cat > /etc/multipath.conf <<EOF
defaults {
        find_multipaths no
        user_friendly_names no
        reservation_key $MP_KEY
        polling_interval 1
        no_path_retry fail
}
blacklist {
        devnode "^(ram|loop|fd|md|dm-|sr|scd|st|vd|nvme)"
        wwid "^36001405$MP_PLAIN_SERIAL_PREFIX"
}
EOF

        export SYSTEMD_IGNORE_CHROOT=1
        /lib/systemd/systemd-udevd --daemon || rig_die "systemd-udevd failed"
        # only the block devices: multipathd needs their udev properties
        # (ID_SERIAL, ...); the guest's other devices (ttys, CPUs, memory,
        # PCI) are of no use here and cost seconds each batch under TCG
        _t=$(rig_uptime)
        udevadm trigger --action=add --subsystem-match=block
        udevadm settle -t 30 || mp_log "udevadm settle: timed out after 30 s"
        mp_log "udev coldplug of the block devices took $(rig_since "$_t") s"
        multipathd -s || rig_die "multipathd failed to start"
        for _ in $(seq 1 100); do
                multipathd show daemon 2>/dev/null | grep -q running && break
                sleep 0.1
        done
        multipath -v2 >&2 || true
        MP_MAP=
        for _ in $(seq 1 100); do
                name=$(dmsetup ls --target multipath 2>/dev/null | awk 'NR == 1 && $1 != "No" { print $1 }')
                if [ -n "$name" ] && [ -b "/dev/mapper/$name" ]; then
                        MP_MAP=/dev/mapper/$name
                        break
                fi
                sleep 0.1
        done
        [ -n "$MP_MAP" ] || { multipath -ll >&2; rig_die "no multipath map appeared"; }
        MP_NAME=$name
        export MP_MAP MP_NAME
        # both paths active in the map
        for _ in $(seq 1 100); do
                [ "$(mp_path_state "$RIG_DEV_A")" = active ] && [ "$(mp_path_state "$RIG_DEV_B")" = active ] && break
                sleep 0.1
        done
        multipath -ll >&2
}

mp_plain_lu_create() {
        bs=$RIG_CFG/core/fileio_1/disk1
        truncate -s 16M "$MP_PLAIN_FILE"
        mkdir -p "$bs" || rig_die "cannot create the plain backstore"
        echo "fd_dev_name=$MP_PLAIN_FILE,fd_dev_size=$((16 * 1024 * 1024))" > "$bs/control"
        echo "${MP_PLAIN_SERIAL_PREFIX}000000000002" > "$bs/wwn/vpd_unit_serial"
        echo 1 > "$bs/enable" || rig_die "cannot enable the plain backstore"
        tpg=$RIG_CFG/loopback/$RIG_TGT_WWN_A/tpgt_1
        mkdir "$tpg/lun/lun_1" || rig_die "cannot create LUN 1"
        ln -s "$bs" "$tpg/lun/lun_1/disk1" || rig_die "cannot map the plain backstore"
        addr=$(cat "$tpg/address")
        MP_PLAIN=
        for _ in $(seq 1 100); do
                d=/sys/class/scsi_device/$addr:1/device/block
                if [ -d "$d" ] && [ -b "/dev/$(ls "$d")" ]; then
                        MP_PLAIN=/dev/$(ls "$d")
                        break
                fi
                sleep 0.1
        done
        [ -n "$MP_PLAIN" ] || rig_die "no disk for the plain LU"
        export MP_PLAIN
}

# multipathd's checker state of a path ("active", "failed", ...): dm state column.
mp_path_state() {
        dev=${1#/dev/}
        multipathd show paths format "%d %t" 2>/dev/null | awk -v d="$dev" '$1 == d { print $2 }'
}

# Offline the SCSI device and let multipathd's checker fail the path (as
# for a cable pull); tell it directly if the checker is slow.
mp_path_fail() {
        dev=${1#/dev/}
        echo offline > "/sys/block/$dev/device/state"
        for i in $(seq 1 200); do
                [ "$(mp_path_state "$dev")" = failed ] && return 0
                [ "$i" = 100 ] && multipathd fail path "$dev" >/dev/null
                sleep 0.1
        done
        return 1
}

# Bring the device back and let the checker reinstate the path: that
# transition is where multipathd registers the map's key on the path.
mp_path_reinstate() {
        dev=${1#/dev/}
        echo running > "/sys/block/$dev/device/state"
        for _ in $(seq 1 300); do
                [ "$(mp_path_state "$dev")" = active ] && return 0
                sleep 0.1
        done
        return 1
}

mp_stop() {
        multipathd shutdown >/dev/null 2>&1 || true
        udevadm control --exit 2>/dev/null || true
}
