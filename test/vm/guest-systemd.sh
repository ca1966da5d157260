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
rig_log "dpkg -i took $(since "$t") s"
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
        watch_boot "$name" "$o" "$qpid" &
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
# (dm-mod is loaded, so prhd's multipath support is active: it keeps
# CAP_SYS_ADMIN for the device-mapper ioctls beside CAP_SYS_RAWIO)
check "prhd serves with CAP_SYS_RAWIO and CAP_SYS_ADMIN, nothing else" \
        "$(grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr -s '\t\n' '  ')" \
        "CapEff: 0000000000220000 CapBnd: 0000000000000000 NoNewPrivs: 1 Seccomp: 2 "
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
prhctl -k "$SOCK" probe > "$out/prhctl-probe.txt" 2>&1
check "prhctl -k $SOCK probe" "$?" 0
prhctl -k "$SOCK" "$SYS_A" read-keys > "$out/prhctl-read-keys-plain.txt" 2>&1
check "prhctl read-keys on a plain disk through the socket" "$?" 0
# the restart and read-only parts leave a key on nexus A of each LU
for dev in "$SYS_A" "$SYS_B" "$REF_A" "$REF_B"; do
        sg_persist -n --out --register-ignore --param-sark=0 "$dev" > /dev/null 2>&1
        check "no key left on $dev" "$(sg_persist --in -k "$dev" 2>/dev/null | grep -c '^ *0x')" 0
done
rig_log "nested part done after $(since "$t1") s"

# ---- 3. libvirt ----------------------------------------------------------------
# Debian's libvirtd with qemu.conf's pr_helper set to prhd: a domain whose
# <disk type='block' device='lun'> has <reservations managed='yes'/> makes
# libvirt start its own helper for that domain (HELPER -k SOCKET, in the
# domain's cgroup), QEMU (as libvirt-qemu:kvm) uses it, and the
# helper goes with the domain.  Two domains at once get one each.  The same
# with pr_helper = qemu-pr-helper, compared on the host.  Then
# managed='no' with <source> the packaged socket (/run/qemu-pr-helper.sock,
# root:kvm 0660 from prhd.socket), and the same with qemu-pr-helper started
# by hand on a socket given the same owner and mode.  The nested guests run
# nested-init.sh's sg_persist session (part sgp) and stay up (part hold)
# until virsh destroy.
t3=$(rig_uptime)
img=/var/lib/libvirt/images
mkdir -p "$img"
# (the kernel is root-only, the initramfs on a read-only share: copies that
# libvirt may give to the domain's user)
cp "$kernel" "$img/prh-vmlinuz"
cp "$initrd" "$img/prh-initrd"
if [ "$accel" = kvm ]; then
        vtype=kvm cpu="<cpu mode='host-passthrough'/>"
else
        vtype=qemu cpu="<cpu mode='maximum'/>"
fi
# (libvirt's default network needs dnsmasq, and no domain here has a NIC)
rm -f /etc/libvirt/qemu/networks/autostart/default.xml

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

# domain_xml NAME DEV-A DEV-B RESERVATIONS-XML
domain_xml() {
        cat <<EOF
<domain type='$vtype'>
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
</domain>
EOF
}

# domain_start NAME DEV-A DEV-B RESERVATIONS-XML: define and start it
domain_start() {
        mkdir -p "$results/qemu-$1"
        rm -f "/var/log/libvirt/qemu/$1.console"
        domain_xml "$@" > "$results/qemu-$1/domain.xml"
        if ! virsh -c qemu:///system create "$results/qemu-$1/domain.xml" > "$results/qemu-$1/virsh-create.log" 2>&1; then
                fail "virsh create $1: $(cat "$results/qemu-$1/virsh-create.log")"
                return 1
        fi
        pass "virsh create $1"
}

# domain_wait NAME: until its guest printed @@DONE (or gave up)
domain_wait() {
        c=/var/log/libvirt/qemu/$1.console
        for _ in $(seq 1 "$((${PRH_NESTED_TIMEOUT:-900} * 2))"); do
                grep -aq '^@@DONE\|^@@FATAL' "$c" 2>/dev/null && break
                virsh -c qemu:///system domstate "$1" 2>/dev/null | grep -q running || break
                sleep 0.5
        done
        cp "$c" "$results/qemu-$1/console.log" 2>/dev/null
        check "the guest of domain $1 ran its sg_persist session" \
                "$(tr -d '\r' < "$results/qemu-$1/console.log" 2>/dev/null | grep -c '^@@DONE')" 1
}

# managed_helper NAME: the pid of the helper libvirt started for domain NAME
# (QEMU's command line names the socket too)
managed_helper() {
        for p in $(pgrep -f 'pr-helper0.sock'); do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = qemu-system-x86 ] && continue
                grep -qa -- "-$1/pr-helper0.sock" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
        done | head -n1
}

# managed_checks NAME HELPER: how libvirt started the helper for NAME
# (libvirt 9.0: "HELPER -k SOCKET", daemonized by libvirt, which writes the
# pidfile itself, in QEMU's mount namespace and the domain's cgroup); sets
# MH_PID and MH_SOCK
managed_checks() {
        MH_PID='' MH_SOCK=''
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
        MH_PID=$hp MH_SOCK=$sock
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
if libvirt_conf /usr/sbin/prhd; then
        rig_log "libvirtd up after $(since "$t3") s"
        fresh_lu 0
        domain_start lv-prhd "$LA" "$LB" "$managed"
        fresh_lu 2
        domain_start lv-prhd-b "$LA" "$LB" "$managed"
        managed_checks lv-prhd /usr/sbin/prhd
        ha="$MH_PID $MH_SOCK"
        managed_checks lv-prhd-b /usr/sbin/prhd
        hb="$MH_PID $MH_SOCK"
        check "a second domain gets its own helper" \
                "$(test -n "${ha% }" && test "${ha% *}" != "${hb% *}" && test "${ha#* }" != "${hb#* }" && echo yes)" yes
        domain_wait lv-prhd
        domain_wait lv-prhd-b
        check "prhd for lv-prhd still running when the guest is done" \
                "$(helper_pid_alive "${ha% *}" && echo running)" running
        domain_destroy lv-prhd "${ha% *}" "${ha#* }"
        check "the other domain's helper is still there" "$(helper_pid_alive "${hb% *}" && echo running)" running
        domain_destroy lv-prhd-b "${hb% *}" "${hb#* }"
fi
if libvirt_conf /usr/bin/qemu-pr-helper; then
        fresh_lu 0
        domain_start lv-qemu-pr-helper "$LA" "$LB" "$managed"
        managed_checks lv-qemu-pr-helper /usr/bin/qemu-pr-helper
        hr="$MH_PID $MH_SOCK"
        domain_wait lv-qemu-pr-helper
        domain_destroy lv-qemu-pr-helper "${hr% *}" "${hr#* }"
fi
# managed='no': the packaged socket, and qemu-pr-helper's by hand
unmanaged() {
        echo "<reservations managed='no'><source type='unix' path='$1' mode='client'/></reservations>"
}
systemctl stop prhd.service
fresh_lu 0
domain_start um-prhd "$LA" "$LB" "$(unmanaged "$SOCK")"
domain_wait um-prhd
check "managed='no': the domain's QEMU (libvirt-qemu:kvm) reached prhd through prhd.socket" \
        "$(systemctl is-active prhd.service)" active
domain_destroy um-prhd
check "managed='no': virsh destroy leaves the socket unit's prhd running" "$(systemctl is-active prhd.service)" active
check "managed='no': libvirt left the packaged socket's owner and mode alone" "$(stat -c '%U:%G %a' "$SOCK")" "root:kvm 660"
rsock=/run/qemu-pr-helper-ref.sock
(helper_start qemu-pr-helper /usr/bin/qemu-pr-helper "$rsock" "$logs")
chgrp kvm "$rsock" && chmod 0660 "$rsock"
fresh_lu 0
domain_start um-qemu-pr-helper "$LA" "$LB" "$(unmanaged "$rsock")"
domain_wait um-qemu-pr-helper
domain_destroy um-qemu-pr-helper
helper_stop qemu-pr-helper
journalctl -b --no-pager -o short-monotonic -u libvirtd.service > "$out/libvirtd-journal.txt"
cp /var/log/libvirt/qemu/*.log "$out/" 2>/dev/null
echo "qemu-pr-helper prhd-systemd lv-qemu-pr-helper lv-prhd lv-prhd-b um-prhd um-qemu-pr-helper" > "$results/helpers"
rig_log "libvirt part done after $(since "$t3") s"

# ---- 4. multipath under the unit's sandbox ------------------------------------
# The key written in multipath.conf.  (With "reservation_key file", where
# libmpathpersist hands the key to multipathd over its abstract socket and
# getprkey would show whether that reached it, prhd was killed by its own
# seccomp filter during the REGISTER on 2026-12-01: open, see
# docs/testing.md.  With a key in multipath.conf, getprkey shows that key
# whether or not prhd's update reached multipathd.)
t2=$(rig_uptime)
fresh_lu 0
SYS_A=$LA SYS_B=$LB
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
check "multipathd.service started (virtualization: $(systemd-detect-virt))" "$(systemctl is-active multipathd.service)" active
pa='' pb=''
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
