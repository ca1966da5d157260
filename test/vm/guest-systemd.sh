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
#   3. libvirt: managed and unmanaged pr-helper, prhd and qemu-pr-helper
#      (section 3 below says what is checked);
#   4. multipath under the unit's sandbox: multipathd.service with a
#      reservation_key, prhd.service restarted, REGISTER through the socket
#      on the map (packaged prhctl): the key reaches both paths.
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
# (pass, fail, check, check_re, their counters $checks and $fails, and
# rig_since for the timings in docs/testing.md: rig-lib.sh)

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

# In the background, while sections 0 and 1 wait for systemctl and dpkg
# (which reads its database, 4000-odd files, over 9p): what sections 2
# and 3 need that has nothing to do with the packages.  dpkg's database
# read once ahead of it; the nested accelerator (kvm_amd loaded); LIO and
# the two LUs of section 2; libvirtd started once, with KVM there, so that
# its capability probe of QEMU (16-36 s) is cached before section 3
# restarts it with its pr_helper (section 3 checks each start).  It writes
# PREP-ENV, which section 2 reads.
prep_env=$out/prep.env
rm -f "$prep_env"
(
        tp=$(rig_uptime)
        cat /var/lib/dpkg/status /var/lib/dpkg/info/*.list > /dev/null 2>&1
        rig_log "in the background: dpkg's database read in $(rig_since "$tp") s"
        pa=$(rig_nested_accel)
        lio_init
        lio_lu_create
        sa=$RIG_DEV_A sb=$RIG_DEV_B
        lio_lu_destroy_idx 2
        lio_lu_create_idx 2
        rig_log "in the background: LIO ready after $(rig_since "$tp") s"
        mkdir -p /var/lib/libvirt/images
        # (libvirt's default network needs dnsmasq, and no domain here has a NIC)
        rm -f /etc/libvirt/qemu/networks/autostart/default.xml
        systemctl start libvirtd.service > "$out/libvirtd-first-start.log" 2>&1
        for _ in $(seq 1 600); do
                virsh -c qemu:///system version > /dev/null 2>&1 && break
                sleep 0.2
        done
        rig_log "in the background: libvirtd's first start done after $(rig_since "$tp") s"
        echo "accel=$pa SYS_A=$sa SYS_B=$sb REF_A=$RIG_DEV_A REF_B=$RIG_DEV_B" > "$prep_env"
) &
prep_pid=$!

# ---- 0. a machine that served the socket with qemu-pr-helper ----------------
# Debian ships no unit for qemu-pr-helper; an administrator who used one
# wrote a pair like this (QEMU's source has such a pair in contrib/systemd).
cat > /etc/systemd/system/qemu-pr-helper.socket <<EOF
[Unit]
Description=qemu-pr-helper socket (the administrator's own unit)
[Socket]
ListenStream=/run/qemu-pr-helper.sock
SocketMode=0600
[Install]
WantedBy=sockets.target
EOF
cat > /etc/systemd/system/qemu-pr-helper.service <<EOF
[Unit]
Description=qemu-pr-helper (the administrator's own unit)
Requires=qemu-pr-helper.socket
[Service]
ExecStart=/usr/bin/qemu-pr-helper
EOF
systemctl daemon-reload
systemctl enable --now qemu-pr-helper.socket > /dev/null 2>&1
check "before: qemu-pr-helper.socket serves $SOCK" "$(systemctl is-active qemu-pr-helper.socket)" active
/usr/bin/qemu-pr-helper -V > /dev/null 2>&1    # (warm the page cache)

# ---- 1. the packages ---------------------------------------------------------
# The host may be a container image whose policy-rc.d forbids starting
# services from maintainer scripts: a VM host has none.  man-db's index
# update (a trigger of every package with a manual page) takes minutes
# over 9p under emulation: off, as its auto-update flag allows.
rm -f /usr/sbin/policy-rc.d /var/lib/man-db/auto-update
t=$(rig_uptime)
debs=
for d in "$debdir"/*.deb; do
        case "$d" in *-dbgsym_*) ;; *) debs="$debs $d" ;; esac
done
# shellcheck disable=SC2086
dpkg -i $debs > "$out/dpkg.log" 2>&1
check "dpkg -i the four .debs" "$?" 0
rig_log "dpkg -i took $(rig_since "$t") s"
for p in prhd libprh0 prhctl libprh-dev; do
        check "$p installed" "$(dpkg-query -W -f '${Status}' "$p")" "install ok installed"
done
check "the package started prhd.socket, which stopped the conflicting qemu-pr-helper.socket" \
        "$(systemctl is-active prhd.socket qemu-pr-helper.socket | tr '\n' ' ')" "active inactive "
# docs/install.md, "Upgrading from qemu-pr-helper"
systemctl disable --now qemu-pr-helper.socket qemu-pr-helper.service > "$out/enable.log" 2>&1
check "systemctl disable --now qemu-pr-helper.socket qemu-pr-helper.service" "$?" 0
systemctl enable --now prhd.socket >> "$out/enable.log" 2>&1
check "systemctl enable --now prhd.socket" "$?" 0
check "after: qemu-pr-helper.socket and .service" \
        "$(systemctl is-active qemu-pr-helper.socket) $(systemctl is-enabled qemu-pr-helper.socket) $(systemctl is-active qemu-pr-helper.service)" \
        "inactive disabled inactive"
check "prhd.socket listens, prhd.service waits for its first client" \
        "$(systemctl is-active prhd.socket prhd.service | tr '\n' ' ')" "active inactive "
check "$SOCK is root:kvm 0660" "$(stat -c '%F %U:%G %a' "$SOCK")" "socket root:kvm 660"
rig_log "packages installed and socket enabled after $(rig_since "$t0") s"

# ---- 2. nested QEMU through the socket-activated prhd, and the reference ------
t1=$(rig_uptime)
wait "$prep_pid"
[ -s "$prep_env" ] || rig_die "the background preparation (LIO, libvirtd) failed"
accel='' SYS_A='' SYS_B='' REF_A='' REF_B=''
# shellcheck disable=SC1090
. "$prep_env"
rig_log "waited $(rig_since "$t1") s for the background preparation: prhd (systemd) on $SYS_A $SYS_B, qemu-pr-helper on $REF_A $REF_B"
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

# unit_fine: prhd of the socket unit shows no trouble (the evidence a retry
# of its nested guest needs, as helper_log_check for a helper started by
# hand): prhd.service and prhd.socket active, prhd.service never restarted
# (Restart=always would hide a crash) and its last run a success, nothing
# from it at warning level or above in the journal since section 2 began,
# no kernel record of a seccomp kill.  Prints a summary.
unit_fine() {
        _st="$(systemctl is-active prhd.service) $(systemctl is-active prhd.socket)"
        [ "$_st" = "active active" ] || { echo "prhd.service, prhd.socket: $_st"; return 1; }
        _r=$(systemctl show -p NRestarts --value prhd.service)
        [ "$_r" = 0 ] || { echo "prhd.service restarted $_r times"; return 1; }
        _r=$(systemctl show -p Result --value prhd.service)
        [ "$_r" = success ] || { echo "prhd.service result: $_r"; return 1; }
        _w=$(journalctl --no-pager -o cat -p warning -u prhd.service --after-cursor "$(cat "$out/cursor-2")" 2>/dev/null | head -n 3)
        [ -z "$_w" ] || { echo "prhd.service logged at warning level: $(printf '%s' "$_w" | tr '\n' '|')"; return 1; }
        [ "$(dmesg | grep -c 'type=1326')" = 0 ] || { echo "a seccomp record in dmesg: $(dmesg | grep 'type=1326' | head -n 1)"; return 1; }
        echo "prhd.service and prhd.socket active, pid $(systemctl show -p MainPID --value prhd.service), never restarted, result success, nothing at warning level in the journal, no seccomp record"
}

# unit_fresh: the unit as section 1 left it (the socket listening, the
# service not running) for another boot of the nested guest after a reset
# during its tests; prints the journal cursor its checks count from.
unit_fresh() {
        systemctl stop prhd.socket prhd.service && systemctl start prhd.socket || return 1
        journalctl -n 0 --show-cursor --no-pager -q | sed -n 's/^-- cursor: //p'
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
# watch_boot NAME OUT PID: a nested guest that has not run its /init after
# 90 s is stuck somewhere: record where QEMU's and the helpers' threads wait
# (OUT/stuck.txt) for the report; the test goes on (and fails if it stays).
watch_boot() {
        for _ in $(seq 1 900); do
                grep -aq '^@@INIT' "$2/console.log" 2>/dev/null && return 0
                kill -0 "$3" 2>/dev/null || return 0
                sleep 0.1
        done
        {
                echo "== $(rig_uptime) s: no @@INIT from the nested guest with $1"
                for p in $(pgrep -f "console.log" | head -n 4) $(pgrep -x prhd) $(pgrep -x qemu-pr-helper); do
                        echo "-- pid $p: $(tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-160)"
                        for t in /proc/"$p"/task/*; do
                                echo "   $(cat "$t/comm") state=$(sed 's/^.*) \(.\).*/\1/' "$t/stat") wchan=$(cat "$t/wchan") run=$(cut -d' ' -f1 "$t/schedstat")"
                        done
                        for f in /proc/"$p"/fd/*; do
                                l=$(readlink "$f")
                                case "$l" in socket:*) echo "   $f -> $l" ;; esac
                        done
                done
                ss -xp 2>/dev/null | grep -E 'pr-helper|prhd|qemu' | sed 's/^/   /'
                systemctl status --no-pager prhd.service prhd.socket 2>&1 | sed 's/^/   /'
        } > "$2/stuck.txt" 2>&1
        rig_log "the nested guest with $1 has not started its /init after 90 s: $2/stuck.txt"
        cat "$2/stuck.txt"
}

# nested_boot NAME SOCKET DEV-A DEV-B OUT: one boot of the nested guest
# (parts sgp restart ro); sets qrc to QEMU's exit status
nested_boot() {
        ctl=/run/ctl-$1
        rm -f "$ctl.in" "$ctl.out"
        mkfifo "$ctl.in" "$ctl.out"
        ts=$(rig_uptime)
        PRH_NESTED_APPEND=prh.parts=sgp,restart,ro rig_nested_qemu "$accel" "${PRH_NESTED_TIMEOUT:-900}" "$5" \
                "$kernel" "$initrd" "$2" \
                -chardev pipe,id=ctl,path="$ctl" -serial chardev:ctl \
                -blockdev driver=raw,node-name=hda,file.driver=host_device,file.filename="$3",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hda,scsi-id=0,lun=0 \
                -blockdev driver=raw,node-name=hdb,file.driver=host_device,file.filename="$4",file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdb,scsi-id=1,lun=0 \
                -blockdev driver=raw,node-name=hdro,read-only=on,file.driver=host_device,file.filename="$3",file.read-only=on,file.pr-manager=pr0,file.locking=off \
                -device scsi-block,bus=scsi0.0,drive=hdro,scsi-id=2,lun=0 &
        qpid=$!
        controller "$1" "$ctl" "$5" &
        cpid=$!
        watch_boot "$1" "$5" "$qpid" &
        wpid=$!
        qrc=0
        wait "$qpid" || qrc=$?
        kill "$cpid" "$wpid" 2>/dev/null
        wait "$cpid" 2>/dev/null
        wait "$wpid" 2>/dev/null
        rig_log "nested guest with $1: qemu exit $qrc after $(rig_since "$ts") s"
}

# nested NAME SOCKET LU-IDX DEV-A DEV-B: the nested guest of NAME on LU IDX.
# A boot that resets before the nested /init runs is booted again, at most
# three boots in all, exactly as in rig-qemu (rig_nested_retry: QEMU exit 0,
# no line of /init, nothing in qemu.log) and only if the helper shows no
# trouble: for qemu-pr-helper, started by hand, rig_helper_fine (running,
# helper_log_check); for the socket unit's prhd, unit_fine.  A boot reset
# during its tests (rig_nested_reset_evidence: QEMU's trace shows running ->
# shutdown with no shutdown request, no panic, no @@DONE or @@FATAL) is
# booted again on a fresh LU, the helper as it was before the first boot
# (the socket unit: unit_fresh, the journal checks count from there; the
# STOP/START states move to boot-N).  Anything else is the test's failure.
# Writes OUT/devs (the LU's devices at the end) and, for the unit,
# OUT/cursor (the journal cursor of the last boot's start).
nested() {
        name=$1 sock=$2 idx=$3 a=$4 b=$5
        o=$results/qemu-$name
        mkdir -p "$o"
        if [ "$name" = prhd-systemd ]; then
                cp "$out/cursor-2" "$o/cursor"
                set -- unit_fine
        else
                set -- rig_helper_fine qemu-pr-helper "$logs"
        fi
        for boot in 1 2 3; do
                nested_boot "$name" "$sock" "$a" "$b" "$o"
                grep -aq '^@@DONE' "$o/console.log" && break
                [ "$boot" = 3 ] && break
                rig_nested_retry_check rig-systemd "$o" "with $name" "$boot" "$qrc" "$@" && continue
                grep -aq '^@@' "$o/console.log" || break
                if ! ev=$(rig_nested_reset_evidence_check "$o" "$qrc" "$@"); then
                        rig_log "FAIL: nested guest with $name (boot $boot) ended without @@DONE (qemu exit $qrc) and is not retried: not a reset rig_nested_reset_evidence_check identifies with a helper in good health ($("$@" 2>&1))"
                        break
                fi
                mkdir -p "$o/boot-$boot"
                mv "$o/console.log" "$o/qemu.log" "$o/qemu-debug.log" "$o/boot-$boot/"
                if [ "$name" = prhd-systemd ]; then
                        mv "$out/stops" "$out"/stop-*.state "$out"/start-*.state "$o/boot-$boot/" 2>/dev/null
                        if ! unit_fresh > "$o/cursor.new"; then
                                rig_log "FAIL: nested guest with $name (boot $boot) was reset, but the unit could not be set back: not retried"
                                break
                        fi
                        mv "$o/cursor.new" "$o/cursor"
                fi
                rig_retry rig-systemd "nested guest with $name (boot $boot): $ev; logs kept in $o/boot-$boot"
                lio_lu_destroy_idx "$idx"
                lio_lu_create_idx "$idx"
                a=$RIG_DEV_A b=$RIG_DEV_B
                rig_log "$name: LU $idx again, on $a and $b"
        done
        if [ -s "$o/qemu.log" ]; then
                sed "s/^/  qemu ($name): /" "$o/qemu.log"
        fi
        echo "$a $b" > "$o/devs"
        grep -q '^@@DONE' "$o/console.log" || echo unfinished > "$o/state"
}

rm -rf "$logs"
if ! (helper_start qemu-pr-helper /usr/bin/qemu-pr-helper /run/qemu-pr-helper-ref.sock "$logs"); then
        fail "qemu-pr-helper did not start"
fi
journalctl -n 0 --show-cursor --no-pager -q | sed -n 's/^-- cursor: //p' > "$out/cursor-2"
nested prhd-systemd "$SOCK" 0 "$SYS_A" "$SYS_B" &
npid1=$!
nested qemu-pr-helper /run/qemu-pr-helper-ref.sock 2 "$REF_A" "$REF_B" &
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
# docs/install.md, "Where the logs are"
systemctl status --no-pager prhd.service > "$out/status.txt" 2>&1
check_re "systemctl status prhd.service shows it" "$(cat "$out/status.txt")" '^ *Status: "Serving persistent reservation requests"'
pid=$(systemctl show -p MainPID --value prhd.service)
# (dm-mod is loaded, so prhd's multipath support is active: it keeps
# CAP_SYS_ADMIN for the device-mapper ioctls beside CAP_SYS_RAWIO)
check "prhd serves with CAP_SYS_RAWIO and CAP_SYS_ADMIN, nothing else" \
        "$(grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr -s '\t\n' '  ')" \
        "CapEff: 0000000000220000 CapBnd: 0000000000000000 NoNewPrivs: 1 Seccomp: 2 "
wait "$npid1"
wait "$npid2"
# (a boot tried again ran on a fresh LU: its devices may have new names)
read -r SYS_A SYS_B < "$results/qemu-prhd-systemd/devs"
read -r REF_A REF_B < "$results/qemu-qemu-pr-helper/devs"
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
# (from the start of the nested guest's last boot: unit_fresh, in nested)
journalctl -b --no-pager -o short-monotonic -u prhd.service -u prhd.socket > "$out/journal.txt"
journalctl --no-pager -o short-monotonic -u prhd.service -u prhd.socket \
        --after-cursor "$(cat "$results/qemu-prhd-systemd/cursor")" > "$out/journal-nested.txt"
check "journal: prhd.service started three times (first connection, after each START)" \
        "$(grep -c 'Started prhd.service' "$out/journal-nested.txt")" 3
check "journal: prhd.service stopped twice (each STOP)" "$(grep -c 'Stopped prhd.service' "$out/journal-nested.txt")" 2
check "journal: prhd.socket listening again twice (each START)" "$(grep -c 'Listening on prhd.socket' "$out/journal-nested.txt")" 2
check "journal: no warning or error from prhd.service" \
        "$(journalctl -b --no-pager -o cat -p warning -u prhd.service | grep -c .)" 0
prhctl -k "$SOCK" probe > "$out/prhctl-probe.txt" 2>&1
check "prhctl -k $SOCK probe" "$?" 0
prhctl -k "$SOCK" "$SYS_A" read-keys > "$out/prhctl-read-keys-plain.txt" 2>&1
check "prhctl read-keys on a plain disk through the socket" "$?" 0
# the restart and read-only parts leave a key on nexus A of each LU
for dev in "$SYS_A" "$SYS_B" "$REF_A" "$REF_B"; do
        sg_persist -n --out --register-ignore --param-sark=0 "$dev" > /dev/null 2>&1
        check "no key left on $dev" "$(sg_persist --in -k "$dev" 2>/dev/null | grep -c '^ *0x')" 0
done
rig_log "nested part done after $(rig_since "$t1") s"

# ---- 3. libvirt ----------------------------------------------------------------
# Debian's libvirtd with qemu.conf's pr_helper set to prhd: a domain whose
# <disk type='block' device='lun'> has <reservations managed='yes'/> makes
# libvirt start its own helper for that domain (HELPER -k SOCKET, in the
# domain's cgroup), QEMU (as libvirt-qemu:kvm) uses it, and the helper goes
# with the domain.  Two domains at once get one each.  Beside them, in the
# same wave, managed='no' with <source> the packaged socket
# (/run/qemu-pr-helper.sock, root:kvm 0660 from prhd.socket).  The second
# wave is the same with pr_helper = qemu-pr-helper and, for managed='no',
# qemu-pr-helper started by hand on a socket given the same owner and mode;
# the host compares the waves.  The nested guests run nested-init.sh's
# sg_persist session (part sgp) and stay up (part hold) until virsh destroy.
# A domain whose guest ended before its session did is booted again (at most
# three boots) only if lv_reset_evidence shows it was reset (the nested-KVM
# fault rig-qemu retries too, docs/testing.md).
t3=$(rig_uptime)
img=/var/lib/libvirt/images
# (the kernel is root-only, the initramfs on a read-only share: copies that
# libvirt may give to the domain's user)
cp "$kernel" "$img/prh-vmlinuz"
cp "$initrd" "$img/prh-initrd"
if [ "$accel" = kvm ]; then
        vtype=kvm cpu="<cpu mode='host-passthrough'/>"
else
        vtype=qemu cpu="<cpu mode='maximum'/>"
fi
# kernel records of a helper that died (seccomp kill, fault) since here
dmesg_deaths() {
        dmesg | grep -E 'type=1326|segfault at|traps: |general protection' | grep -E 'prhd|pr-helper' || true
}

# libvirt_conf HELPER: pr_helper in qemu.conf, libvirtd (re)started
libvirt_conf() {
        sed -i '/^pr_helper *=/d' /etc/libvirt/qemu.conf
        echo "pr_helper = \"$1\"" >> /etc/libvirt/qemu.conf
        systemctl restart libvirtd.service > "$out/libvirtd-restart.log" 2>&1 || {
                fail "libvirtd did not (re)start with pr_helper = $1"
                journalctl -b --no-pager -u libvirtd.service | tail -n 20
                return 1
        }
        # wait until it answers (capability probing under emulation is slow)
        for _ in $(seq 1 600); do
                virsh -c qemu:///system version > /dev/null 2>&1 && return 0
                sleep 0.2
        done
        fail "libvirtd does not answer"
        return 1
}

# domain_xml NAME DEV-A DEV-B RESERVATIONS-XML.  QEMU traces its run state
# changes and shutdown requests on stderr, which libvirt keeps in the
# domain's log: that tells a reset from anything else (lv_reset_evidence).
domain_xml() {
        cat <<EOF
<domain type='$vtype' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$1</name>
  <memory unit='MiB'>384</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$img/prh-vmlinuz</kernel>
    <initrd>$img/prh-initrd</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet loglevel=1 mitigations=off prh.parts=sgp,hold</cmdline>
  </os>
  $cpu
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <disk type='block' device='lun'>
      <driver name='qemu' type='raw'/>
      <source dev='$2'>
        $4
      </source>
      <target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='block' device='lun'>
      <driver name='qemu' type='raw'/>
      <source dev='$3'>
        $4
      </source>
      <target dev='sdb' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='1' unit='0'/>
    </disk>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$1.console'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-trace'/>
    <qemu:arg value='runstate_set'/>
    <qemu:arg value='-trace'/>
    <qemu:arg value='qemu_system_shutdown_request'/>
    <qemu:arg value='-trace'/>
    <qemu:arg value='qemu_system_powerdown_request'/>
  </qemu:commandline>
</domain>
EOF
}

# domain_prepare NAME DEV-A DEV-B RESERVATIONS-XML: its XML
domain_prepare() {
        mkdir -p "$results/qemu-$1"
        rm -f "/var/log/libvirt/qemu/$1.console"
        domain_xml "$@" > "$results/qemu-$1/domain.xml"
}

# domain_create NAME...: virsh create each prepared domain, all at once
# (libvirt's start of a domain takes 15-40 s here, most of it CPU)
domain_create() {
        for dn in "$@"; do
                virsh -c qemu:///system create "$results/qemu-$dn/domain.xml" > "$results/qemu-$dn/virsh-create.log" 2>&1 &
                echo "$!" > "$results/qemu-$dn/virsh-create.pid"
        done
        for dn in "$@"; do
                if wait "$(cat "$results/qemu-$dn/virsh-create.pid")"; then
                        pass "virsh create $dn"
                else
                        fail "virsh create $dn: $(cat "$results/qemu-$dn/virsh-create.log")"
                fi
        done
}

# managed_helper NAME: the pid of the helper libvirt started for domain NAME
# (QEMU's command line names the socket too)
managed_helper() {
        for p in $(pgrep -f 'pr-helper0.sock'); do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = qemu-system-x86 ] && continue
                grep -qa -- "-$1/pr-helper0.sock" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
        done | head -n1
}

# lv_log NAME: what QEMU wrote to the domain's log in its last boot (after
# libvirt's command line), but for its trace events (domain_xml) and for
# libvirt's own lines about starting, tainting and stopping it
lv_log() {
        awk '/: starting up libvirt version/ { c = 0; next }
             c == 2 { print; next }
             /^\/usr\/bin\/qemu-system/ { c = 1 }
             c == 1 && !/\\$/ { c = 2 }' "/var/log/libvirt/qemu/$1.log" 2>/dev/null |
                grep -Ev '^[0-9]+@[0-9.]+:(runstate_set|qemu_system_(shutdown|powerdown)_request) |: shutting down, reason=(shutdown|destroyed)$|terminating on signal 15 from pid [0-9]+ \(/usr/sbin/libvirtd\)$|is tainted: custom-argv' || true
}

# lv_reset_evidence NAME KIND [HELPER-PID HELPER-SOCKET]: after the guest of
# domain NAME ended without finishing its session: true, printing the
# evidence, only if it was shown to be reset and nothing points at the
# helper.  libvirt turns the guest's reset into a shutdown (on_reboot
# destroy), so QEMU's trace in the domain's log (lv_log, domain_xml) must
# show the machine going from running to shutdown with no shutdown or
# powerdown request (the guest has no ACPI and never powers off: it holds);
# the console must have no @@DONE, no @@FATAL and no kernel panic; QEMU
# must have written nothing else; no kernel record of a helper's death.  And
# the helper: KIND managed: it was running at the last look before the
# domain ended (lv_await looks every 0.5 s) and libvirt stopped it with the
# domain (no process left on its socket); KIND unit: prhd.service still
# active, not restarted, nothing at warning level from it; KIND ref: the
# hand-started qemu-pr-helper still running with a clean log.
lv_reset_evidence() {
        _log=/var/log/libvirt/qemu/$1.log
        _con=$(tr -d '\r' < "$results/qemu-$1/console.log" 2>/dev/null || true)
        printf '%s\n' "$_con" | grep -Eq '^@@(DONE|FATAL)' && return 1
        printf '%s\n' "$_con" | grep -q 'Kernel panic' && return 1
        _tr=$(awk '/: starting up libvirt version/ { t = "" } { t = t $0 "\n" } END { printf "%s", t }' "$_log")
        # (trace lines are "PID@TIME:EVENT ...": the command line names the events too)
        printf '%s' "$_tr" | grep -Eq '^[0-9]+@[0-9.]+:runstate_set .*\(running\) new_state [0-9]+ \(shutdown\)' || return 1
        printf '%s' "$_tr" | grep -Eq '^[0-9]+@[0-9.]+:qemu_system_(shutdown|powerdown)_request' && return 1
        [ -z "$(lv_log "$1")" ] || return 1
        [ -z "$(dmesg_deaths)" ] || return 1
        case "$2" in
        managed)
                [ -n "${3:-}" ] && [ -n "${4:-}" ] || return 1
                [ -e "$results/qemu-$1/helper-was-alive" ] || return 1
                helper_pid_alive "$3" && return 1
                [ -n "$(pgrep -f -- "$4")" ] && return 1
                _h="its helper (pid $3) was running at the last look before the domain ended, and libvirt stopped it with the domain"
                ;;
        unit)
                [ "$(systemctl is-active prhd.service)" = active ] || return 1
                [ "$(systemctl show -p NRestarts --value prhd.service)" = 0 ] || return 1
                [ "$(journalctl -b --no-pager -o cat -p warning -u prhd.service | grep -c .)" = 0 ] || return 1
                _h="prhd.service active, never restarted, nothing at warning level from it"
                ;;
        ref)
                helper_alive qemu-pr-helper || return 1
                _h=$(helper_log_check qemu-pr-helper "$logs") || return 1
                ;;
        *) return 1 ;;
        esac
        _last=$(printf '%s\n' "$_con" | sed -n 's/^@@BEGIN //p' | tail -n 1)
        echo "QEMU's trace shows running -> shutdown with no shutdown or powerdown request (a reset: libvirt's on_reboot=destroy), QEMU wrote nothing else, $(printf '%s' "$_con" | wc -c) console bytes, no @@DONE, @@FATAL or kernel panic, reset during test ${_last:-(none: before /init ran a test)}; $_h; no kernel record of a helper's death"
}

# lv_prepare NAME LU-IDX RESERVATIONS-XML: the domain on LU IDX, created
# anew, ready for domain_create; lv_start: and started
lv_prepare() {
        fresh_lu "$2"
        domain_prepare "$1" "$LA" "$LB" "$3"
}
lv_start() {
        lv_prepare "$@"
        domain_create "$1"
}

# lv_await NAME LU-IDX RESERVATIONS-XML KIND: until the guest of NAME ran its
# sg_persist session (@@DONE; it then holds); a boot that ended before is
# tried again, on a fresh LU, only after lv_reset_evidence, at most three
# boots in all.  A managed domain's helper pid is in OUT/helper-pid.
lv_await() {
        o=$results/qemu-$1
        c=/var/log/libvirt/qemu/$1.console
        boot=1
        while :; do
                hp='' hs=''
                rm -f "$o/helper-was-alive"
                for _ in $(seq 1 "$((${PRH_NESTED_TIMEOUT:-900} * 2))"); do
                        if [ "$4" = managed ] && [ -z "$hp" ]; then
                                hp=$(managed_helper "$1")
                                [ -n "$hp" ] && hs=$(tr '\0' ' ' < "/proc/$hp/cmdline" | awk '{ print $3 }')
                        fi
                        grep -aq '^@@DONE\|^@@FATAL' "$c" 2>/dev/null && break
                        virsh -c qemu:///system domstate "$1" 2>/dev/null | grep -q running || break
                        [ -n "$hp" ] && helper_pid_alive "$hp" && touch "$o/helper-was-alive"
                        sleep 0.5
                done
                cp "$c" "$o/console.log" 2>/dev/null
                if tr -d '\r' < "$o/console.log" | grep -q '^@@DONE'; then
                        pass "the guest of domain $1 ran its sg_persist session"
                        return 0
                fi
                # (libvirt may still be tearing the domain down)
                for _ in $(seq 1 100); do
                        virsh -c qemu:///system domstate "$1" > /dev/null 2>&1 || break
                        sleep 0.1
                done
                if [ "$boot" -lt 3 ] && ev=$(lv_reset_evidence "$1" "$4" "$hp" "$hs"); then
                        mkdir -p "$o/boot-$boot"
                        mv "$o/console.log" "$o/boot-$boot/"
                        cp "/var/log/libvirt/qemu/$1.log" "$o/boot-$boot/qemu.log"
                        rig_retry rig-systemd "domain $1 (boot $boot): $ev; logs kept in $o/boot-$boot"
                        boot=$((boot + 1))
                        lv_start "$1" "$2" "$3" || return 1
                        continue
                fi
                fail "the guest of domain $1 ran its sg_persist session (boot $boot; not a reset that lv_reset_evidence identifies; QEMU: $(lv_log "$1" | tail -n 3 | tr '\n' '|'))"
                return 1
        done
}

# managed_checks NAME HELPER: how libvirt started the helper for NAME
# (libvirt 9.0: "HELPER -k SOCKET", daemonized by libvirt, which writes the
# pidfile itself, in QEMU's mount namespace and the domain's cgroup); writes
# "PID SOCKET" to OUT/helper
managed_checks() {
        hp=$(managed_helper "$1")
        if [ -z "$hp" ]; then
                fail "no helper process for domain $1"
                return 1
        fi
        cmd=$(tr '\0' ' ' < "/proc/$hp/cmdline")
        echo "$cmd" > "$results/qemu-$1/helper-cmdline"
        check_re "libvirt runs '$2 -k SOCKET' for $1" "$cmd" "^$2 -k /var/lib/libvirt/qemu/domain-[0-9]+-$1/pr-helper0\\.sock \$"
        sock=$(echo "$cmd" | awk '{ print $3 }')
        pf=$(grep -rlx --include='*.pid' "$hp" /run/libvirt/qemu /var/lib/libvirt/qemu 2>/dev/null)
        echo "$pf" > "$results/qemu-$1/helper-pidfile"
        check_re "libvirt's pidfile names the helper ($pf)" "$pf" "pr-helper0\.pid\$"
        check "the helper's socket exists" "$(test -S "$sock" && echo yes)" yes
        qp=$(pgrep -f "guest=$1,")
        cg=$(sed -n 's/^0:://p' "/proc/$hp/cgroup")
        qcg=$(sed -n 's/^0:://p' "/proc/$qp/cgroup")
        echo "helper $cg; qemu $qcg" > "$results/qemu-$1/cgroups"
        scope=$(echo "$qcg" | sed -n 's/\(.*machine-qemu[^/]*\.scope\).*/\1/p')
        check "the helper is in the domain's cgroup ($scope)" "$(case "$cg" in "$scope"*) [ -n "$scope" ] && echo yes ;; esac)" yes
        check "the helper is in QEMU's mount namespace" "$(readlink "/proc/$hp/ns/mnt")" "$(readlink "/proc/$qp/ns/mnt")"
        check "QEMU runs as libvirt-qemu" "$(ps -o user= -p "$qp")" libvirt-qemu
        check "the helper runs as root" "$(ps -o user= -p "$hp")" root
        echo "$hp $sock" > "$results/qemu-$1/helper"
}

# domain_destroy NAME [HELPER-PID SOCKET]: virsh destroy; the helper must go
domain_destroy() {
        virsh -c qemu:///system destroy "$1" > /dev/null 2>&1
        check "virsh destroy $1" "$?" 0
        [ -n "${2:-}" ] || return 0
        for _ in $(seq 1 100); do
                helper_pid_alive "$2" || break
                sleep 0.1
        done
        check "virsh destroy $1 stopped its helper (pid $2)" "$(helper_pid_alive "$2" && echo running || echo gone)" gone
        check "... and removed its socket" "$(test -e "$3" && echo present || echo gone)" gone
}

# fresh_lu IDX: LU IDX removed and created again (no registrations,
# PRgeneration 0: the outputs are compared across domains); sets LA, LB
fresh_lu() {
        lio_lu_destroy_idx "$1"
        lio_lu_create_idx "$1"
        LA=$RIG_DEV_A LB=$RIG_DEV_B
}

managed="<reservations managed='yes'/>"
# unmanaged SOCKET: managed='no', QEMU connects to SOCKET itself
unmanaged() {
        echo "<reservations managed='no'><source type='unix' path='$1' mode='client'/></reservations>"
}

# libvirt_wave HELPER UNMANAGED-KIND UNMANAGED-SOCKET UNMANAGED-NAME MANAGED-NAME...:
# pr_helper = HELPER; the managed domains (LUs 0, 2) and the unmanaged one
# (LU 3) started at once; once every guest ran its session and holds, each
# managed helper is checked, and each domain destroyed in turn: its helper
# goes, the other domains' helpers stay.
libvirt_wave() {
        helper=$1 ukind=$2 usock=$3 uname=$4
        shift 4
        libvirt_conf "$helper" || return 1
        rig_log "libvirtd up with pr_helper = $helper after $(rig_since "$t3") s"
        idx=0
        for n in "$@"; do
                lv_prepare "$n" "$idx" "$managed"
                idx=$((idx + 2))
        done
        lv_prepare "$uname" 3 "$(unmanaged "$usock")"
        domain_create "$@" "$uname"
        idx=0
        for n in "$@"; do
                lv_await "$n" "$idx" "$managed" managed
                idx=$((idx + 2))
        done
        lv_await "$uname" 3 "$(unmanaged "$usock")" "$ukind"
        hps=
        for n in "$@"; do
                managed_checks "$n" "$helper"
                hps="$hps $(cut -d' ' -f1 "$results/qemu-$n/helper" 2>/dev/null)"
        done
        if [ "$#" -gt 1 ]; then
                check "each domain gets its own helper (pids$hps)" \
                        "$(echo "$hps" | tr ' ' '\n' | grep -c .) $(echo "$hps" | tr ' ' '\n' | grep . | sort -u | grep -c .)" "$# $#"
        fi
        for n in "$@"; do
                # shellcheck disable=SC2046
                domain_destroy "$n" $(cat "$results/qemu-$n/helper" 2>/dev/null)
                for m in "$@"; do
                        [ -e "$results/qemu-$m/destroyed" ] && continue
                        [ "$m" = "$n" ] && continue
                        check "the helper of $m still runs after virsh destroy $n" \
                                "$(helper_pid_alive "$(cut -d' ' -f1 "$results/qemu-$m/helper" 2>/dev/null)" && echo running)" running
                done
                touch "$results/qemu-$n/destroyed"
        done
        domain_destroy "$uname"
}

# wave 1: prhd managed, and the packaged socket unmanaged; the socket unit's
# prhd is stopped first, so that the unmanaged domain's QEMU starts it
systemctl stop prhd.service
libvirt_wave /usr/sbin/prhd unit "$SOCK" um-prhd lv-prhd lv-prhd-b
check "managed='no': the domain's QEMU (libvirt-qemu:kvm) reached prhd through prhd.socket" \
        "$(systemctl is-active prhd.service)" active
check "managed='no': virsh destroy leaves the socket unit's prhd running" "$(systemctl is-active prhd.service)" active
check "managed='no': libvirt left the packaged socket's owner and mode alone" "$(stat -c '%U:%G %a' "$SOCK")" "root:kvm 660"
rig_log "libvirt wave 1 (prhd) done after $(rig_since "$t3") s"
# wave 2: qemu-pr-helper managed, and by hand on a socket like the unit's
rsock=/run/qemu-pr-helper-ref.sock
(helper_start qemu-pr-helper /usr/bin/qemu-pr-helper "$rsock" "$logs")
chgrp kvm "$rsock" && chmod 0660 "$rsock"
libvirt_wave /usr/bin/qemu-pr-helper ref "$rsock" um-qemu-pr-helper lv-qemu-pr-helper
helper_stop qemu-pr-helper || fail "qemu-pr-helper (managed='no') did not exit on SIGTERM"
check "no kernel record of a helper's death (seccomp, fault)" "$(dmesg_deaths)" ""
journalctl -b --no-pager -o short-monotonic -u libvirtd.service > "$out/libvirtd-journal.txt"
cp /var/log/libvirt/qemu/*.log "$out/" 2>/dev/null
echo "qemu-pr-helper prhd-systemd lv-qemu-pr-helper lv-prhd lv-prhd-b um-prhd um-qemu-pr-helper" > "$results/helpers"
rig_log "libvirt part done after $(rig_since "$t3") s"

# ---- 4. audit records in the journal (issue 14) ------------------------------
# docs/audit.md, "In the journal": the administrator's drop-in adds
# --audit-log=journal to the packaged unit.  A two-node sequence through the
# socket unit on LU 1 (A registers and reserves, B registers and preempts
# A, A's stale key is refused, B releases and unregisters), then the journal
# read back with journalctl: the PREEMPT's fields, and docs/audit.md's own
# recipes, run as the document prints them, must name who fenced whom.
t4=$(rig_uptime)
mkdir -p /etc/systemd/system/prhd.service.d
# docs/audit.md: the drop-in (kept in step with this one by the sed below)
cat > /etc/systemd/system/prhd.service.d/audit.conf <<EOF
[Service]
ExecStart=
ExecStart=/usr/sbin/prhd --audit-log=journal
EOF
sed -n '/^<!-- rig-systemd: drop-in -->$/,/^```$/p' "$here/../../docs/audit.md" | sed -n '/^```ini$/,/^```$/p' | sed '1d;$d' > "$out/audit-dropin-doc"
cmp -s /etc/systemd/system/prhd.service.d/audit.conf "$out/audit-dropin-doc"
check "docs/audit.md's drop-in is the one the test installs" "$?" 0
systemctl daemon-reload
systemctl restart prhd.service
check "prhd.service runs with --audit-log=journal" \
        "$(tr '\0' ' ' < "/proc/$(systemctl show -p MainPID --value prhd.service)/cmdline")" "/usr/sbin/prhd --audit-log=journal "
# udev watches every sd* opened for writing (60-block.rules): when prhctl
# closes one, udev probes it, and blkid's read, late under load, can take
# the UNIT ATTENTION of B's PREEMPT meant for A's next command (seen on
# 2026-12-02: A's read-keys got GOOD).  No watch on sd* in this section.
mkdir -p /run/udev/rules.d
echo 'ACTION!="remove", SUBSYSTEM=="block", KERNEL=="sd*", OPTIONS+="nowatch"' > /run/udev/rules.d/99-prh-nowatch.rules
udevadm control --reload
fresh_lu 1
udevadm settle --timeout=60
AUD_A=$LA AUD_B=$LB
KA=0xaaaa0000000000a1 KB=0xbbbb0000000000b1
# prh DEV ARGS...: prhctl through the socket, its pid appended to OUT/audit-pids
prh() {
        prhctl -k "$SOCK" "$@" >> "$out/audit-prhctl.txt" 2>&1 &
        p=$!
        wait "$p"
        r=$?
        echo "$p $2 $r" >> "$out/audit-pids"
        return "$r"
}
rm -f "$out/audit-pids"
tsince=$(date '+%Y-%m-%d %H:%M:%S')
prh "$AUD_A" register -S "$KA"; check "audit: A registers" "$?" 0
prh "$AUD_A" reserve -K "$KA" -T we; check "audit: A reserves" "$?" 0
prh "$AUD_B" register -S "$KB"; check "audit: B registers" "$?" 0
prh "$AUD_B" read-keys; check "audit: B reads the keys (PR IN: no record by default)" "$?" 0
prh "$AUD_B" preempt -K "$KB" -S "$KA" -T we; check "audit: B preempts A" "$?" 0
ppid=$(awk '$2 == "preempt" { print $1 }' "$out/audit-pids")
prh "$AUD_A" read-keys; check "audit: A's next command gets the preemption's UNIT ATTENTION" "$?" 5
prh "$AUD_A" register -K "$KA" -S "$KA"; check "audit: A's key is gone: RESERVATION CONFLICT" "$?" 6
prh "$AUD_B" release -K "$KB" -T we; check "audit: B releases" "$?" 0
prh "$AUD_B" register -K "$KB" -S 0; check "audit: B unregisters" "$?" 0
journalctl --sync
wwid=$(cat "/sys/block/${AUD_B#/dev/}/device/wwid")
jq_f() { journalctl -o json --since "$tsince" PRH_EVENT=pr-request PRH_DEVICE_WWID="$wwid" "$@"; }
check "journal: a record for each of the 7 PR OUT, none for the PR IN" \
        "$(jq_f | jq -r .PRH_SERVICE_ACTION | tr '\n' ' ')" "register reserve register preempt register release register "
jq_f PRH_SERVICE_ACTION=preempt > "$out/audit-preempt.json"
journalctl -o verbose --since "$tsince" PRH_EVENT=pr-request PRH_SERVICE_ACTION=preempt PRH_DEVICE_WWID="$wwid" > "$out/audit-preempt.txt"
jq -r 'to_entries[] | "\(.key)=\(.value)"' "$out/audit-preempt.json" > "$out/audit-preempt.fields"
rec() {
        v=$(sed -n "s/^$1=//p" "$out/audit-preempt.fields")
        echo "${v:-(absent)}"
}
check "journal: the PREEMPT's peer (PRH_PEER_PID, UID, GID, COMM)" \
        "$(rec PRH_PEER_PID) $(rec PRH_PEER_UID) $(rec PRH_PEER_GID) $(rec PRH_PEER_COMM)" "$ppid 0 0 prhctl"
check "journal: the PREEMPT's peer cgroup (PRH_PEER_CGROUP)" "$(rec PRH_PEER_CGROUP)" "$(sed -n 's/^0:://p' /proc/self/cgroup)"
# prhd keeps CAP_SYS_RAWIO and CAP_SYS_ADMIN only: /proc/PID/exe of a root
# process with more capabilities than that is not readable (ptrace access
# mode read), so the peer's executable is absent (docs/audit.md)
check "journal: no PRH_PEER_EXE (prhd cannot read the root peer's /proc/PID/exe)" "$(rec PRH_PEER_EXE)" "(absent)"
check "journal: the PREEMPT's device (PRH_DEVICE_MAJMIN, WWID, PATH)" \
        "$(rec PRH_DEVICE_MAJMIN) $(rec PRH_DEVICE_WWID) $(rec PRH_DEVICE_PATH)" \
        "$(($(stat -c '0x%t' "$AUD_B"))):$(($(stat -c '0x%T' "$AUD_B"))) $wwid $AUD_B"
check "journal: the PREEMPT (PRH_OP, SERVICE_ACTION, SCOPE, TYPE, KEY, SA_KEY)" \
        "$(rec PRH_OP) $(rec PRH_SERVICE_ACTION) $(rec PRH_SCOPE) $(rec PRH_TYPE) $(rec PRH_KEY) $(rec PRH_SA_KEY)" \
        "pr-out preempt 0 1 $KB $KA"
check "journal: the PREEMPT's result and origin (PRH_RESULT, PRH_STATUS, PRIORITY, _SYSTEMD_UNIT, SYSLOG_IDENTIFIER)" \
        "$(rec PRH_RESULT) $(rec PRH_STATUS) $(rec PRIORITY) $(rec _SYSTEMD_UNIT) $(rec SYSLOG_IDENTIFIER)" \
        "good 0 6 prhd.service prhd"
check_re "journal: the PREEMPT's duration (PRH_DURATION_US) and time (PRH_TIME)" \
        "$(rec PRH_DURATION_US) $(rec PRH_TIME)" '^[0-9]+ 20[0-9-]+T[0-9:.]+Z$'
check "journal: A's refused REGISTER (PRH_RESULT, PRH_STATUS)" \
        "$(jq_f PRH_RESULT=reservation-conflict | jq -r '"\(.PRH_SERVICE_ACTION) \(.PRH_RESULT) \(.PRH_STATUS) \(.PRH_PEER_PID)"')" \
        "register reservation-conflict 24 $(awk '$2 == "register" && $3 == 6 { print $1 }' "$out/audit-pids")"
# docs/audit.md's recipes, as printed there, with this LU's WWID
recipe() {
        sed -n "/^<!-- rig-systemd: $1 -->\$/,/^\`\`\`\$/p" "$here/../../docs/audit.md" | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' |
                sed "s/naa\.6001405abcdef/$wwid/g"
}
recipe changes > "$out/audit-recipe-changes.sh"
recipe fenced > "$out/audit-recipe-fenced.sh"
sh "$out/audit-recipe-changes.sh" > "$out/audit-changes.txt" 2>&1
check "docs/audit.md: who changed the reservation on this LU in the last hour (the 6 GOOD PR OUTs, by whom)" \
        "$(awk -F'\t' '{ print $2 "[" $3 "] " $6 }' "$out/audit-changes.txt" | tr '\n' ' ')" \
        "$(awk '$3 == 0 && $2 != "read-keys" { printf "prhctl[%s] %s ", $1, $2 }' "$out/audit-pids")"
sh "$out/audit-recipe-fenced.sh" > "$out/audit-fenced.txt" 2>&1
check "docs/audit.md: who fenced whom" "$(cut -d' ' -f2- "$out/audit-fenced.txt")" \
        "prhctl[$ppid] uid 0 with key $KB fenced $KA on $wwid ($AUD_B)"
sed 's/^/  audit: /' "$out/audit-preempt.txt" "$out/audit-changes.txt" "$out/audit-fenced.txt"
rm -f /run/udev/rules.d/99-prh-nowatch.rules
udevadm control --reload
rig_log "audit part done after $(rig_since "$t4") s"

# ---- 5. multipath under the unit's sandbox ------------------------------------
# First with the key written in multipath.conf (reservation_key 0x...), then
# with "reservation_key file": libmpathpersist then gives the key to
# multipathd (setprkey over its abstract socket), which keeps it in
# /etc/multipath/prkeys; prhd must not be killed by its seccomp filter nor
# stopped by the unit's sandbox on the way (it was: docs/testing.md).
t2=$(rig_uptime)
fresh_lu 0
SYS_A=$LA SYS_B=$LB
mpconf() {
        cat > /etc/multipath.conf <<EOF
defaults {
        find_multipaths no
        user_friendly_names yes
        reservation_key $1
        polling_interval 1
        no_path_retry fail
}
blacklist {
        devnode "^(ram|loop|fd|md|dm-|sr|scd|st|vd|nvme)"
}
EOF
}
# mpath_map: wait for the map over SYS_A and SYS_B with both paths active;
# sets map
mpath_map() {
        pa='' pb='' map=
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
}
mpconf "0x$K"
systemctl start multipathd.service > "$out/multipathd.log" 2>&1
check "multipathd.service started (virtualization: $(systemd-detect-virt))" "$(systemctl is-active multipathd.service)" active
multipath -v2 >> "$out/multipathd.log" 2>&1
mpath_map
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

# reservation_key file (docs/install.md, section 3)
K2=456def
mpconf file
rm -f /etc/multipath/prkeys
systemctl restart multipathd.service >> "$out/multipathd.log" 2>&1
check "multipathd.service restarted with reservation_key file" "$(systemctl is-active multipathd.service)" active
mpath_map
MAP=/dev/mapper/$map
mwwid=$(multipathd show maps format "%n %w" | awk -v m="$map" '$1 == m { print $2 }')
systemctl stop prhd.service
n1326=$(dmesg | grep -c 'type=1326')
prhctl -k "$SOCK" "$MAP" register -S 0x$K2 > "$out/prhctl-register-file.txt" 2>&1
check "reservation_key file: prhctl register on the map through the socket unit" "$?" 0
pid=$(systemctl show -p MainPID --value prhd.service)
for dev in "$SYS_A" "$SYS_B"; do
        check "reservation_key file: the key on both I_T nexuses (sg_persist --in -k $dev)" \
                "$(sg_persist --in -k "$dev" 2>/dev/null | grep -c "0x$K2\$")" 2
done
check_re "reservation_key file: multipathd got the key from prhd (getprkey)" "$(multipathd getprkey map "$map" 2>&1)" "0x0*$K2"
cp /etc/multipath/prkeys "$out/prkeys-after-register" 2>/dev/null
check "reservation_key file: /etc/multipath/prkeys has the key for the map's WWID ($mwwid)" \
        "$(grep -v '^#' /etc/multipath/prkeys 2>/dev/null | grep -i "$mwwid" | grep -ic "0x0*$K2")" 1
prhctl -k "$SOCK" "$MAP" register -K 0x$K2 -S 0 > "$out/prhctl-unregister-file.txt" 2>&1
check "reservation_key file: prhctl unregister on the map" "$?" 0
check "reservation_key file: no key left on either path" "$(sg_persist --in -k "$SYS_A" 2>/dev/null | grep -c "0x$K2\$")" 0
check "reservation_key file: the key gone from /etc/multipath/prkeys" \
        "$(grep -v '^#' /etc/multipath/prkeys 2>/dev/null | grep -ic "$mwwid")" 0
check "reservation_key file: the same prhd served it all, never restarted" \
        "$(systemctl is-active prhd.service) $(systemctl show -p MainPID --value prhd.service) $(systemctl show -p NRestarts --value prhd.service)" \
        "active $pid 0"
check "reservation_key file: no seccomp record (dmesg type=1326)" "$(dmesg | grep -c 'type=1326')" "$n1326"
check "journal: no warning or error from prhd.service under multipath" \
        "$(journalctl -b --no-pager -o cat -p warning -u prhd.service | grep -c .)" 0
check "no seccomp record in the whole run (dmesg type=1326)" "$(dmesg | grep -c 'type=1326')" 0
journalctl -b --no-pager -o short-monotonic -u prhd.service -u prhd.socket > "$out/journal.txt"
rig_log "multipath part done after $(rig_since "$t2") s"

finish
