#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of rig-systemd (issue 13, items 2 and 3): the rig's guest
# booted with systemd as PID 1 (vm-run.sh -S: a tmpfs overlay over the host
# root), this script running as a unit.  In one boot:
#
#   1. the built .debs installed with dpkg, `systemctl enable --now
#      prhd.socket`: the socket listens (root:kvm 0660), the service waits;
#   2. a nested QEMU (sg_persist session, helper stop/start while QEMU is
#      connected, read-only drive: nested-init.sh's parts sgp restart ro) on
#      /run/qemu-pr-helper.sock, served by the socket-activated prhd; beside
#      it, the same guest on qemu-pr-helper started by hand (the reference;
#      qemu-report.sh on the host compares the two).  Its first connection
#      starts prhd.service (Type=notify, its STATUS= text); "stop" is
#      `systemctl stop prhd.socket prhd.service` with the VM connected,
#      "start" `systemctl start prhd.socket` (the next request starts the
#      service); the journal has each start and stop;
#   3. multipath under the unit's sandbox: multipathd.service with a
#      reservation_key, prhd.service restarted, REGISTER through the socket
#      on the map (packaged prhctl): the key reaches both paths;
#   4. libvirt (see libvirt_part below).
#
# Every check prints PASS/FAIL; the exit status is 0 only if all passed.
#
#   guest-systemd.sh RESULTS KERNEL NESTED-INITRD DEBDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/vm/rig-lib.sh
. "$here/rig-lib.sh"

results=$1
kernel=$2
initrd=$3
debdir=$4
out=$results/systemd
mkdir -p "$out"
SOCK=/run/qemu-pr-helper.sock
K=123abc                # the map's reservation_key (multipath.conf below)
fails=0
checks=0

pass() {
        checks=$((checks + 1))
        echo "PASS: $*"
}

fail() {
        checks=$((checks + 1))
        fails=$((fails + 1))
        echo "FAIL: $*"
}

# check NAME GOT WANT
check() {
        if [ "$2" = "$3" ]; then
                pass "$1"
        else
                fail "$1: got '$2', want '$3'"
        fi
}

# check_re NAME GOT REGEX
check_re() {
        if printf '%s\n' "$2" | grep -Eq -- "$3"; then
                pass "$1"
        else
                fail "$1: '$2' does not match /$3/"
        fi
}

# elapsed since T0, for the timings in docs/testing.md
since() {
        echo "$1 $(rig_uptime)" | awk '{ printf "%.1f", $2 - $1 }'
}

finish() {
        echo "systemd guest: $checks checks, $fails failed"
        [ "$fails" = 0 ]
        exit
}

t0=$(rig_uptime)
check "PID 1 is systemd" "$(cat /proc/1/comm)" systemd
rig_log "systemd up, the test unit started at $t0 s of uptime"
# multipath's ALUA handler before LIO's disks appear (mpath-lib.sh says why)
for m in scsi_dh_alua dm_mod dm_multipath dm_round_robin dm_service_time; do
        modprobe "$m" || fail "modprobe $m"
done

# ---- 1. the packages ---------------------------------------------------------
# shellcheck disable=SC2046
dpkg -i $(ls "$debdir"/*.deb | grep -v -- -dbgsym_) > "$out/dpkg.log" 2>&1
check "dpkg -i the four .debs" "$?" 0
check "installed" "$(dpkg-query -W -f '${Package}:${Status} ' prhd libprh0 prhctl libprh-dev)" \
        "prhd:install ok installed libprh0:install ok installed prhctl:install ok installed libprh-dev:install ok installed "
systemctl enable --now prhd.socket > "$out/enable.log" 2>&1
check "systemctl enable --now prhd.socket" "$?" 0
check "prhd.socket listens" "$(systemctl is-active prhd.socket)" active
check "prhd.service waits for its first client" "$(systemctl is-active prhd.service)" inactive
check "$SOCK is root:kvm 0660" "$(stat -c '%F %U:%G %a' "$SOCK")" "socket root:kvm 660"
rig_log "packages installed and socket enabled after $(since "$t0") s"

# ---- 2. nested QEMU through the socket-activated prhd, and the reference ------
accel=$(rig_nested_accel)
t1=$(rig_uptime)
lio_init
lio_lu_create
SYS_A=$RIG_DEV_A SYS_B=$RIG_DEV_B
lio_lu_destroy_idx 2
lio_lu_create_idx 2
REF_A=$RIG_DEV_A REF_B=$RIG_DEV_B
rig_log "LIO ready in $(since "$t1") s: prhd (systemd) on $SYS_A $SYS_B, qemu-pr-helper on $REF_A $REF_B"
logs=$results/helper-logs
RIG_RETRY_FILE=$results/retries.log
export RIG_RETRY_FILE

# What STOP and START mean for each helper.
stop_prhd_systemd() {
        # with QEMU connected: the socket goes too, so that QEMU's
        # reconnection fails until START, as for a helper stopped by hand
        systemctl stop prhd.socket prhd.service || return 1
        n=$(($(cat "$out/stops" 2>/dev/null || echo 0) + 1))
        echo "$n" > "$out/stops"
        echo "$(systemctl is-active prhd.service) $(systemctl is-active prhd.socket) $(test -e "$SOCK" && echo present || echo gone)" \
                > "$out/stop-$n.state"
}
start_prhd_systemd() {
        systemctl start prhd.socket || return 1
        n=$(cat "$out/stops")
        echo "$(systemctl is-active prhd.service) $(systemctl is-active prhd.socket)" > "$out/start-$n.state"
}
stop_qemu_pr_helper() {
        helper_stop qemu-pr-helper
}
start_qemu_pr_helper() {
        (helper_start qemu-pr-helper /usr/bin/qemu-pr-helper /run/qemu-pr-helper-ref.sock "$logs")
}

# controller NAME CTL OUT: the nested guest's STOP and START requests
controller() {
        exec 3< "$2.out"
        while read -r line <&3; do
                line=$(printf '%s' "$line" | tr -d '\r')
                case "$line" in
                @@STOP)
                        if "stop_$(echo "$1" | tr - _)"; then
                                rig_log "helper $1 stopped at the nested guest's request"
                                echo stopped > "$2.in"
                        else
                                echo "did not stop at the nested guest's request" >> "$3/helper-stop"
                                echo stop-failed > "$2.in"
                        fi
                        ;;
                @@START)
                        if "start_$(echo "$1" | tr - _)"; then
                                echo started > "$2.in"
                        else
                                echo "did not start again at the nested guest's request" >> "$3/helper-start"
                                echo start-failed > "$2.in"
                        fi
                        ;;
                esac
        done
}

# nested NAME SOCKET DEV-A DEV-B: one nested guest (parts sgp restart ro)
nested() {
        name=$1 sock=$2 a=$3 b=$4
        o=$results/qemu-$name
        mkdir -p "$o"
        ctl=/run/ctl-$name
        rm -f "$ctl.in" "$ctl.out"
        mkfifo "$ctl.in" "$ctl.out"
        ts=$(rig_uptime)
        PRH_NESTED_APPEND=prh.parts=sgp,restart,ro rig_nested_qemu "$accel" "${PRH_NESTED_TIMEOUT:-900}" "$o" \
                "$kernel" "$initrd" "$sock" \
                -chardev pipe,id=ctl,path="$ctl" -serial chardev:ctl \
                -blockdev driver=raw,node-name=hda,file.driver=host_device,file.filename="$a",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hda,scsi-id=0,lun=0 \
                -blockdev driver=raw,node-name=hdb,file.driver=host_device,file.filename="$b",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdb,scsi-id=1,lun=0 \
                -blockdev driver=raw,node-name=hdro,read-only=on,file.driver=host_device,file.filename="$a",file.read-only=on,file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdro,scsi-id=2,lun=0 &
        qpid=$!
        controller "$name" "$ctl" "$o" &
        cpid=$!
        qrc=0
        wait "$qpid" || qrc=$?
        kill "$cpid" 2>/dev/null
        wait "$cpid" 2>/dev/null
        rig_log "nested guest with $name: qemu exit $qrc after $(since "$ts") s"
        if [ -s "$o/qemu.log" ]; then
                sed "s/^/  qemu ($name): /" "$o/qemu.log"
        fi
        grep -q '^@@DONE' "$o/console.log" || echo unfinished > "$o/state"
}

rm -rf "$logs"
if ! (helper_start qemu-pr-helper /usr/bin/qemu-pr-helper /run/qemu-pr-helper-ref.sock "$logs"); then
        fail "qemu-pr-helper did not start"
fi
nested prhd-systemd "$SOCK" "$SYS_A" "$SYS_B" &
npid1=$!
nested qemu-pr-helper /run/qemu-pr-helper-ref.sock "$REF_A" "$REF_B" &
npid2=$!

# The nested QEMU connects to the helper when it starts (before the guest's
# kernel): that first connection must have started prhd.service.
for _ in $(seq 1 600); do
        [ "$(systemctl is-active prhd.service)" = active ] && break
        sleep 0.1
done
check "QEMU's connection started prhd.service" "$(systemctl is-active prhd.service)" active
check "prhd.service is Type=notify" "$(systemctl show -p Type --value prhd.service)" notify
check "prhd's readiness status (sd_notify STATUS=)" "$(systemctl show -p StatusText --value prhd.service)" \
        "Serving persistent reservation requests"
pid=$(systemctl show -p MainPID --value prhd.service)
check "prhd (no multipath) serves with CAP_SYS_RAWIO only" \
        "$(grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr -s '\t\n' '  ')" \
        "CapEff: 0000000000020000 CapBnd: 0000000000000000 NoNewPrivs: 1 Seccomp: 2 "
wait "$npid1"
wait "$npid2"
helper_stop qemu-pr-helper || echo "did not exit on SIGTERM after the nested guest" >> "$results/qemu-qemu-pr-helper/helper-stop"
if ev=$(helper_log_check qemu-pr-helper "$logs"); then
        rig_log "$ev"
else
        fail "$ev"
fi
echo "qemu-pr-helper prhd-systemd" > "$results/helpers"
for n in prhd-systemd qemu-pr-helper; do
        check "the nested guest with $n finished" "$(cat "$results/qemu-$n/state" 2>/dev/null || echo finished)" finished
done
check "stop 1 with QEMU connected: service, socket, socket file" "$(cat "$out/stop-1.state" 2>/dev/null)" "inactive inactive gone"
check "start 1: the socket only; the service waits for QEMU's next request" "$(cat "$out/start-1.state" 2>/dev/null)" "inactive active"
check "stop 2" "$(cat "$out/stop-2.state" 2>/dev/null)" "inactive inactive gone"
check "prhd.service active again after QEMU's last request" "$(systemctl is-active prhd.service)" active
journalctl -b --no-pager -o short-monotonic -u prhd.service -u prhd.socket > "$out/journal.txt"
check "journal: prhd.service started three times (first connection, after each START)" \
        "$(grep -c 'Started prhd.service' "$out/journal.txt")" 3
check "journal: prhd.service stopped twice (each STOP)" "$(grep -c 'Stopped prhd.service' "$out/journal.txt")" 2
check "journal: prhd.socket listening three times" "$(grep -c 'Listening on prhd.socket' "$out/journal.txt")" 3
check "journal: no warning or error from prhd.service" \
        "$(journalctl -b --no-pager -o cat -p warning -u prhd.service | grep -c .)" 0
rig_log "nested part done after $(since "$t1") s"

# ---- 3. multipath under the unit's sandbox ------------------------------------
t2=$(rig_uptime)
cat > /etc/multipath.conf <<EOF
defaults {
        find_multipaths no
        user_friendly_names yes
        reservation_key 0x$K
        polling_interval 1
        no_path_retry fail
}
blacklist {
        devnode "^(ram|loop|fd|md|dm-|sr|scd|st|vd|nvme)"
}
EOF
systemctl start multipathd.service > "$out/multipathd.log" 2>&1
check "multipathd.service started" "$?" 0
multipath -v2 >> "$out/multipathd.log" 2>&1
map=
for _ in $(seq 1 300); do
        map=$(multipathd show paths format "%d %m" 2>/dev/null | awk -v d="${SYS_A#/dev/}" '$1 == d && $2 != "[orphan]" { print $2 }')
        if [ -n "$map" ] && [ -b "/dev/mapper/$map" ]; then
                pa=$(multipathd show paths format "%d %t" | awk -v d="${SYS_A#/dev/}" '$1 == d { print $2 }')
                pb=$(multipathd show paths format "%d %t" | awk -v d="${SYS_B#/dev/}" '$1 == d { print $2 }')
                [ "$pa $pb" = "active active" ] && break
        fi
        sleep 0.1
done
multipath -ll >> "$out/multipathd.log" 2>&1
check "a map over both paths, both active" "${map:+map} $pa $pb" "map active active"
MAP=/dev/mapper/$map
# prhd decides at start-up whether multipath is there: the next request
# starts a new one, now with multipathd running
systemctl stop prhd.service
prhctl -k "$SOCK" "$MAP" register -S 0x$K > "$out/prhctl-register.txt" 2>&1
check "prhctl register on the map through the socket unit" "$?" 0
pid=$(systemctl show -p MainPID --value prhd.service)
check "prhd with multipath keeps CAP_SYS_ADMIN for the device-mapper ioctls" \
        "$(grep '^CapEff:' "/proc/$pid/status" | tr -s '\t' ' ')" "CapEff: 0000000000220000"
for dev in "$SYS_A" "$SYS_B"; do
        check "the key reached both I_T nexuses (sg_persist --in -k $dev)" \
                "$(sg_persist --in -k "$dev" 2>/dev/null | grep -c "0x$K\$")" 2
done
check_re "multipathd knows the key" "$(multipathd getprkey map "$map" 2>&1)" "0x$K"
prhctl -k "$SOCK" "$MAP" read-keys > "$out/prhctl-read-keys.txt" 2>&1
check "prhctl read-keys through the socket: two registrations of the key" \
        "$(grep -ci "$K" "$out/prhctl-read-keys.txt")" 2
prhctl -k "$SOCK" "$MAP" register -K 0x$K -S 0 > "$out/prhctl-unregister.txt" 2>&1
check "prhctl unregister on the map" "$?" 0
check "no key left on either path" "$(sg_persist --in -k "$SYS_A" 2>/dev/null | grep -c "0x$K\$")" 0
check "journal: no warning or error from prhd.service under multipath" \
        "$(journalctl -b --no-pager -o cat -p warning -u prhd.service | grep -c .)" 0
journalctl -b --no-pager -o short-monotonic -u prhd.service -u prhd.socket > "$out/journal.txt"
rig_log "multipath part done after $(since "$t2") s"

finish
