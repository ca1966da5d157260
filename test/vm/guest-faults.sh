#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of rig-faults (issue 12, scenarios 1-4; docs/faults.md):
# LIO's iSCSI target on 127.0.0.1 with 15 small LUs, logged in to by the
# kernel's initiator under two initiator names (iscsi-lib.sh) with short
# recovery timeouts, six more logged in to through a second portal by a
# third initiator name (the hold session: a long replacement timeout), one
# more LU on tcm_loop, both helpers as daemons, then pr-faults cuts the
# portals' traffic with nftables and compares direct SG_IO, qemu-pr-helper
# and prhd.
#
#   guest-faults.sh RESULTS PR-FAULTS NAME=HELPER-BINARY...
#
# prhd is started with --sgio-timeout=$FAULT_SGIO_MS (2000, shorter than
# its default 5000, so that cuts longer than it stay short); the direct
# path uses the same timeout; the reference's is its fixed 1 ms, which the
# block layer raises to 7 s.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/rig-lib.sh"
. "$here/iscsi-lib.sh"

results=$1
faults=$2
shift 2

FAULT_SGIO_MS=2000
FAULT_REPLACEMENT=5             # node.session.timeo.replacement_timeout (s)
FAULT_NOOP_INTERVAL=1           # node.conn[0].timeo.noop_out_interval (s)
FAULT_NOOP_TIMEOUT=2            # node.conn[0].timeo.noop_out_timeout (s)
FAULT_LUNS=15                   # 3 PR OUT commands + 2, for each of the 3 paths
FAULT_IDX0=20                   # backstores fileio_20.. (iscsi-lib's is 9, the tcm_loop LU's 0)
# The hold session: a third initiator name logged in through a second portal
# (127.0.0.2) with a replacement timeout far longer than any step, so that a
# cut of that portal alone holds commands until the test ends the hold itself
# (scenario 2's measurement, a delete or a logout under a held command): no
# step races a timeout.  Its LUs (delete and logout, one per path) are mapped
# for it and for nexus B, which reads their state while it is cut.
FAULT_HOLD_LUNS=6
FAULT_HOLD_REPLACEMENT=300      # s, the hold session's replacement_timeout
ISCSI_INI_C=iqn.2003-01.org.prh.rig:host-c
HOLD_PORTAL=127.0.0.2:3260

for p in nft iscsiadm iscsid; do
        if ! command -v "$p" > /dev/null; then
                echo "guest-faults: SKIP: $p missing (nftables, open-iscsi; see test/vm/setup-packages.sh)" >&2
                exit 77
        fi
done

t0=$(rig_uptime)
lio_init
# shellcheck disable=SC2034 # read by iscsi_init
ISCSI_LOG=$results/iscsid.log
iscsi_init
rig_log "LIO and iscsid up after $(rig_since "$t0") s"
tpg=$(iscsi_tpg)
i=0
while [ "$i" -lt "$FAULT_LUNS" ]; do
        iscsi_lun_map "$i" $((FAULT_IDX0 + i)) 2 "$ISCSI_INI_A" "$ISCSI_INI_B"
        i=$((i + 1))
done
mkdir "$tpg/acls/$ISCSI_INI_C" || rig_die "cannot create the ACL of $ISCSI_INI_C"
while [ "$i" -lt $((FAULT_LUNS + FAULT_HOLD_LUNS)) ]; do
        iscsi_lun_map "$i" $((FAULT_IDX0 + i)) 2 "$ISCSI_INI_C" "$ISCSI_INI_B"
        i=$((i + 1))
done
# short recovery timeouts (iscsiadm node settings), so that a cut longer
# than them stays short
# shellcheck disable=SC2034 # read by iscsi_login
ISCSI_NODE_SETTINGS="node.session.timeo.replacement_timeout=$FAULT_REPLACEMENT
node.conn[0].timeo.noop_out_interval=$FAULT_NOOP_INTERVAL
node.conn[0].timeo.noop_out_timeout=$FAULT_NOOP_TIMEOUT"
rig_log "$((FAULT_LUNS + FAULT_HOLD_LUNS)) LUNs after $(rig_since "$t0") s"
iscsi_login

# the hold session: its own portal, iface and node record (no discovery: it
# would rewrite the records iscsi_login made)
mkdir "$tpg/np/$HOLD_PORTAL" || rig_die "cannot create the portal $HOLD_PORTAL"
printf 'iface.iscsi_ifacename = prh-c\niface.transport_name = tcp\niface.initiatorname = %s\n' "$ISCSI_INI_C" \
        > /etc/iscsi/ifaces/prh-c
iscsiadm -m node -o new -T "$ISCSI_TARGET_IQN" -p "$HOLD_PORTAL" -I prh-c > /dev/null ||
        rig_die "iscsiadm: cannot create the node record of the hold session"
for kv in node.session.timeo.replacement_timeout=$FAULT_HOLD_REPLACEMENT \
        "node.conn[0].timeo.noop_out_interval=$FAULT_NOOP_INTERVAL" \
        "node.conn[0].timeo.noop_out_timeout=$FAULT_NOOP_TIMEOUT"; do
        iscsiadm -m node -T "$ISCSI_TARGET_IQN" -p "$HOLD_PORTAL" -I prh-c -o update -n "${kv%%=*}" -v "${kv#*=}" ||
                rig_die "iscsiadm: cannot set $kv for the hold session"
done
if ! iscsiadm -m node -T "$ISCSI_TARGET_IQN" -p "$HOLD_PORTAL" -I prh-c --login >&2; then
        iscsi_diagnose
        rig_die "iSCSI login of the hold session at $HOLD_PORTAL failed"
fi

# Every disk of every iSCSI session as "INITIATOR:LUN=/dev/sdX;" in $map, and
# the disk of LUN $2 of initiator name $1 in $dev: shell builtins only (with
# 42 disks, a few forks per disk cost tens of seconds under emulation).
scan_disks() {
        map=
        for s in /sys/class/iscsi_session/session*; do
                read -r ini < "$s/initiatorname" || continue
                for b in "$s"/device/target*/*:*:*:*/block/*; do
                        [ -e "$b" ] || continue
                        hctl=${b%/block/*}
                        map="$map$ini:${hctl##*:}=/dev/${b##*/};"
                done
        done
}
lun_disk() {
        r=${map#*"$1:$2="}
        [ "$r" != "$map" ] || return 1
        dev=${r%%;*}
}
want=$((2 * FAULT_LUNS + 2 * FAULT_HOLD_LUNS))
for _ in $(seq 1 300); do
        scan_disks
        r=$map n=0
        while [ -n "$r" ]; do
                r=${r#*;} n=$((n + 1))
        done
        [ "$n" -ge "$want" ] && break
        sleep 0.1
done
lus=
i=0
while [ "$i" -lt $((FAULT_LUNS + FAULT_HOLD_LUNS)) ]; do
        ini=$ISCSI_INI_A opt=--lu
        [ "$i" -ge "$FAULT_LUNS" ] && ini=$ISCSI_INI_C opt=--hold-lu
        lun_disk "$ini" "$i" || rig_die "no disk for iSCSI LUN $i of $ini (found: $map)"
        a=$dev
        lun_disk "$ISCSI_INI_B" "$i" || rig_die "no disk for iSCSI LUN $i of $ISCSI_INI_B (found: $map)"
        lus="$lus $opt $a,$dev"
        i=$((i + 1))
done
rig_log "iSCSI: $want disks after $(rig_since "$t0") s"
lio_lu_create 16
rig_log "iSCSI ($FAULT_LUNS + $FAULT_HOLD_LUNS LUs) and tcm_loop ($RIG_DEV_A) ready after $(rig_since "$t0") s"

# the cut: packets to or from the portal vanish on their way in, as on a
# network that drops them (in the output hook the sender would get EPERM)
modprobe nf_tables || rig_die "modprobe nf_tables failed"
port=${ISCSI_PORTAL##*:}
nft_cut="nft add table inet prhfault && nft add chain inet prhfault in '{ type filter hook input priority 0; }'"
addr=${ISCSI_PORTAL%:*}
hold_addr=${HOLD_PORTAL%:*}
cut="$nft_cut && nft add rule inet prhfault in ip daddr $addr tcp dport $port drop && nft add rule inet prhfault in ip saddr $addr tcp sport $port drop"
cut_replies="$nft_cut && nft add rule inet prhfault in ip saddr $addr tcp sport $port drop"
restore="nft delete table inet prhfault"
sh -c "$cut && $restore" || rig_die "nftables does not work here"
# the hold session's portal alone
hold_cut="nft add table inet prhhold && nft add chain inet prhhold in '{ type filter hook input priority 0; }' && nft add rule inet prhhold in ip daddr $hold_addr tcp dport $port drop && nft add rule inet prhhold in ip saddr $hold_addr tcp sport $port drop"
hold_restore="nft delete table inet prhhold"
sh -c "$hold_cut && $hold_restore" || rig_die "nftables does not work here"
hold_logout="iscsiadm -m node -T $ISCSI_TARGET_IQN -p $HOLD_PORTAL -I prh-c --logout > /dev/null"

# what the LLD completed each PR OUT with, whichever process sent it (pr-faults
# reads the host byte of the helpers' commands from here)
tracefs=/sys/kernel/tracing
mountpoint -q "$tracefs" || mount -t tracefs tracefs "$tracefs" || rig_die "cannot mount tracefs"
echo 1 > "$tracefs/events/scsi/scsi_dispatch_cmd_done/enable" || rig_die "no scsi trace events"

helpers=
names=
for h in "$@"; do
        name=${h%%=*}
        bin=${h#*=}
        extra=
        [ "$name" = prhd ] && extra="--sgio-timeout=$FAULT_SGIO_MS"
        rm -f "/run/$name.pid"
        # shellcheck disable=SC2086
        "$bin" -k "/run/$name.sock" -f "/run/$name.pid" -d $extra || rig_die "$bin did not start"
        # the reference's parent exits before its pidfile exists
        for _ in $(seq 1 300); do
                [ -S "/run/$name.sock" ] && [ -s "/run/$name.pid" ] && break
                sleep 0.1
        done
        helper_alive "$name" || rig_die "$bin is not running on /run/$name.sock"
        helpers="$helpers --helper $name=/run/$name.sock"
        names="$names $name"
done

rc=0
# shellcheck disable=SC2086
"$faults" $lus --loop "$RIG_DEV_A" $helpers --cut "$cut" --cut-replies "$cut_replies" --restore "$restore" \
        --hold-cut "$hold_cut" --hold-restore "$hold_restore" --hold-logout "$hold_logout" \
        --trace "$tracefs" --sgio-timeout "$FAULT_SGIO_MS" --replacement "$FAULT_REPLACEMENT" \
        --noop $((FAULT_NOOP_INTERVAL + FAULT_NOOP_TIMEOUT)) > "$results/faults.md" || rc=$?
cat "$results/faults.md"
dmesg > "$results/dmesg.txt"
if grep -q 'type=1326' "$results/dmesg.txt"; then
        rig_log "FAIL: a seccomp kill (type=1326) in dmesg"
        rc=1
fi
for name in $names; do
        if ! helper_alive "$name"; then
                rig_log "FAIL: helper $name died"
                rc=1
        fi
        helper_stop "$name" || rc=1
done
rig_log "guest-faults: exit $rc after $(rig_since "$t0") s"
exit "$rc"
