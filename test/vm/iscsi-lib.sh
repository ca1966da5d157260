# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Guest-side helpers for a second fabric of the VM rig: one LIO LU exported
# through LIO's iSCSI target on 127.0.0.1 and logged in to with the kernel's
# iSCSI initiator (open-iscsi) under two initiator names, so the LU is seen
# through two I_T nexuses as two SCSI disks.  Sourced after rig-lib.sh
# (needs lio_init).
#
#   iscsi_init          the target (a TPG on $ISCSI_PORTAL with an ACL per
#                       initiator name, no LUN yet) and the initiator side
#                       (iscsid, an iface per initiator name)
#   iscsi_lu_create     a fileio backstore ($ISCSI_BACKSTORE) as LUN 0, mapped
#                       into both ACLs
#   iscsi_lun_map       any backstore as any LUN, mapped into the ACLs given
#   iscsi_login         log in under both initiator names; sets ISCSI_DEV_A/B;
#                       ISCSI_NODE_SETTINGS (NAME=VALUE lines) go into the
#                       node records first
#
# Why a second fabric: with tcm_loop, LIO in Linux 6.1 deadlocks on a
# PREEMPT AND ABORT that succeeds (core_tmr_lun_reset() flush_work()s the
# device's submission work from inside it, target_queued_submit_work); the
# iSCSI target does not submit through that work item.
#
# pr-matrix --iscsi replaces the LU behind LUN 0 for every run, with the
# sessions logged in: the target does not tell the initiator, whose disks
# stay, and the new LUN 0, mapped into both ACLs, answers in the running
# sessions at once (no rescan, no unit attention).

# shellcheck disable=SC2034 # the variables below are for the scripts that source this file
ISCSI_TARGET_IQN=iqn.2003-01.org.prh.rig:lu
ISCSI_INI_A=iqn.2003-01.org.prh.rig:host-a
ISCSI_INI_B=iqn.2003-01.org.prh.rig:host-b
ISCSI_PORTAL=127.0.0.1:3260
ISCSI_IDX=9                     # backstore fileio_9/disk9, file /run/prh-lu9.img
ISCSI_LU_FILE=/run/prh-lu$ISCSI_IDX.img
ISCSI_BACKSTORE=fileio_$ISCSI_IDX/disk$ISCSI_IDX
ISCSI_LOG=/run/iscsid.log       # iscsid's messages

iscsi_tpg() {
        echo "$RIG_CFG/iscsi/$ISCSI_TARGET_IQN/tpgt_1"
}

iscsi_init() {
        for p in iscsiadm iscsid; do
                command -v "$p" > /dev/null || rig_die "$p missing: install open-iscsi (test/vm/setup-packages.sh)"
        done
        # both sides ask the crypto API for crc32c (digests) at login, and the
        # kernel cannot load it by itself here: its modprobe helper runs in
        # the initramfs root, which has no modules ("crypto_alloc_ahash()
        # failed", "iSCSI Login negotiation failed" without it)
        for m in iscsi_target_mod crc32c_generic iscsi_tcp; do
                modprobe "$m" || rig_die "modprobe $m failed"
        done
        ip link set lo up || rig_die "cannot bring up lo"

        # --- target: a TPG on 127.0.0.1 with an ACL per initiator, no auth
        tpg=$(iscsi_tpg)
        mkdir -p "$tpg" || rig_die "cannot create $tpg"
        mkdir "$tpg/np/$ISCSI_PORTAL" || rig_die "cannot create the portal $ISCSI_PORTAL"
        echo 0 > "$tpg/attrib/authentication" || rig_die "cannot turn off iSCSI authentication"
        echo 0 > "$tpg/attrib/generate_node_acls"
        for ini in $ISCSI_INI_A $ISCSI_INI_B; do
                mkdir "$tpg/acls/$ini" || rig_die "cannot create the ACL of $ini"
        done
        echo 1 > "$tpg/enable" || rig_die "cannot enable the iSCSI TPG"

        # --- initiator: /etc/iscsi is the host's, read-only: a private one
        [ -d /etc/iscsi ] || rig_die "/etc/iscsi missing: install open-iscsi"
        mount -t tmpfs tmpfs /etc/iscsi || rig_die "cannot mount a tmpfs on /etc/iscsi"
        mkdir -p /run/lock/iscsi /etc/iscsi/ifaces
        echo "InitiatorName=$ISCSI_INI_A" > /etc/iscsi/initiatorname.iscsi
        # iscsid is started below, not by iscsiadm; a failing discovery or
        # login must be quick and loud, not retried for minutes
        cat > /etc/iscsi/iscsid.conf <<-EOF
		iscsid.startup = /bin/false
		node.startup = manual
		node.session.initial_login_retry_max = 2
		node.conn[0].timeo.login_timeout = 15
		node.session.timeo.replacement_timeout = 15
		discovery.sendtargets.reopen_max = 1
		EOF
        # in the foreground, so its log is a file (there is no syslog here)
        iscsid -f > "$ISCSI_LOG" 2>&1 &
        ISCSI_PID=$!
        for _ in $(seq 1 300); do
                grep -q ISCSIADM_ABSTRACT_NAMESPACE /proc/net/unix && break
                kill -0 "$ISCSI_PID" 2>/dev/null || { cat "$ISCSI_LOG" >&2; rig_die "iscsid exited at start"; }
                sleep 0.1
        done
        grep -q ISCSIADM_ABSTRACT_NAMESPACE /proc/net/unix || rig_die "iscsid is not listening after 30 s"
        # an iface per initiator name: iscsiadm's own record format (written
        # here: every iscsiadm run costs a second or so under emulation)
        for x in a:$ISCSI_INI_A b:$ISCSI_INI_B; do
                printf 'iface.iscsi_ifacename = prh-%s\niface.transport_name = tcp\niface.initiatorname = %s\n' \
                        "${x%%:*}" "${x#*:}" > "/etc/iscsi/ifaces/prh-${x%%:*}"
        done
}

# iscsi_lun_map LUN IDX MIB INITIATOR...: a fileio backstore (index IDX, MIB
# MiB) as LUN LUN of the target, mapped into the ACLs of the INITIATORs
iscsi_lun_map() {
        _lun=$1 _idx=$2 _mib=$3
        shift 3
        _tpg=$(iscsi_tpg)
        _bs=$(lio_backstore_create "$_idx" "$_mib") || exit 1
        mkdir "$_tpg/lun/lun_$_lun" || rig_die "cannot create LUN $_lun in $_tpg"
        ln -s "$_bs" "$_tpg/lun/lun_$_lun/disk" || rig_die "cannot map backstore $_idx as LUN $_lun"
        for _ini in "$@"; do
                mkdir "$_tpg/acls/$_ini/lun_$_lun" || rig_die "cannot create LUN $_lun in the ACL of $_ini"
                ln -s "$_tpg/lun/lun_$_lun" "$_tpg/acls/$_ini/lun_$_lun/lun" || rig_die "cannot map LUN $_lun for $_ini"
        done
}

iscsi_lu_create() {
        iscsi_lun_map 0 "$ISCSI_IDX" 16 "$ISCSI_INI_A" "$ISCSI_INI_B"
}

# The disk of the session of initiator name $1.
iscsi_session_disk() {
        for s in /sys/class/iscsi_session/session*; do
                [ "$(cat "$s/initiatorname" 2>/dev/null)" = "$1" ] || continue
                for b in "$s"/device/target*/*:*:*:0/block/*; do
                        [ -b "/dev/${b##*/}" ] && { echo "/dev/${b##*/}"; return 0; }
                done
        done
        return 1
}

# What a failed login leaves to go by: iscsid's log and the kernel's.
iscsi_diagnose() {
        echo "--- $ISCSI_LOG" >&2
        tail -n 30 "$ISCSI_LOG" >&2
        echo "--- dmesg" >&2
        dmesg | tail -n 30 >&2
}

iscsi_login() {
        # SendTargets discovery through both ifaces makes a node record per
        # iface; the login then logs in through all of them
        if ! iscsiadm -m discovery -t st -p "$ISCSI_PORTAL" -I prh-a -I prh-b > /dev/null; then
                iscsi_diagnose
                rig_die "iSCSI discovery at $ISCSI_PORTAL failed"
        fi
        # ISCSI_NODE_SETTINGS: NAME=VALUE lines for the node records (iscsiadm -o update)
        printf '%s\n' "${ISCSI_NODE_SETTINGS:-}" | while IFS= read -r kv; do
                [ -n "$kv" ] || continue
                iscsiadm -m node -T "$ISCSI_TARGET_IQN" -p "$ISCSI_PORTAL" -o update -n "${kv%%=*}" -v "${kv#*=}" ||
                        rig_die "iscsiadm: cannot set $kv"
        done || exit 1
        if ! iscsiadm -m node -T "$ISCSI_TARGET_IQN" -p "$ISCSI_PORTAL" --login >&2; then
                iscsi_diagnose
                rig_die "iSCSI login to $ISCSI_TARGET_IQN at $ISCSI_PORTAL failed"
        fi
        ISCSI_DEV_A=''
        ISCSI_DEV_B=''
        for _ in $(seq 1 300); do
                ISCSI_DEV_A=$(iscsi_session_disk "$ISCSI_INI_A") && ISCSI_DEV_B=$(iscsi_session_disk "$ISCSI_INI_B") && break
                sleep 0.1
        done
        if [ -z "$ISCSI_DEV_A" ] || [ -z "$ISCSI_DEV_B" ] || [ "$ISCSI_DEV_A" = "$ISCSI_DEV_B" ]; then
                iscsi_diagnose
                rig_die "no disk per initiator after the iSCSI logins (A: '$ISCSI_DEV_A', B: '$ISCSI_DEV_B')"
        fi
        export ISCSI_DEV_A ISCSI_DEV_B
}
