#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of the container scenario (issue 15, "In the rig"): the
# prhd image (tools/build-image), brought in as a `podman save` archive and
# loaded into container storage on this guest's tmpfs, run the way
# KubeVirt's virt-handler runs its pr-helper container: privileged, command
# /entrypoint.sh -k /var/run/kubevirt/daemons/pr/pr-helper.sock, a guest
# directory (a shared mount point, as the kubelet's are) mounted rshared
# (Bidirectional) at /var/run/kubevirt/daemons/pr, /dev and /etc/multipath
# from the guest (as deploy/prhd-daemonset.yaml), the host's network
# namespace (Debian 12's libmpathpersist reaches multipathd over an abstract
# socket: docs/container.md, "Multipath").  Then:
#   1. nested guests with scsi-block + pr-manager-helper: "ctr-1" and "ctr-2"
#      (two VMs on one node) on the containerised socket, "prhd" on prhd run
#      directly (the build tree's) for comparison, each on its own LU, run
#      nested-init.sh's sg_persist session (prh.parts=sgp: register both,
#      reserve, read keys/reservation/full status, preempt, release, clear);
#      qemu-report.sh compares the transcripts on the host.  After each, the
#      LU's state is read with READ FULL STATUS through a third nexus of its
#      own, from this guest, with no helper: it must be the same for all.
#   2. `podman stop`: exit status 0 well within the grace period, the
#      socket removed; multipath set up (mpath-lib.sh: two paths to one LU,
#      multipathd, reservation_key); `podman start`: the same path serves.
#   3. through the containerised prhd on the dm-multipath map: REGISTER
#      reaches both paths; with path B down, REGISTER reaches path A and,
#      when B comes back, multipathd registers the key on it: multipathd
#      learned the key from the library inside the container.
# Lines "PASS: ..." / "FAIL: ..."; exit status 1 if any check failed.
#
#   guest-container.sh RESULTS IMAGE-ARCHIVE IMAGE KERNEL NESTED-INITRD PRHD MPATH-PR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source=test/vm/rig-lib.sh
. "$here/rig-lib.sh"
# shellcheck source=test/vm/mpath/mpath-lib.sh
. "$here/mpath/mpath-lib.sh"

results=$1 archive=$2 image=$3 kernel=$4 initrd=$5 prhd=$6 mpr=$7
# (pass, fail, check: rig-lib.sh)

t_all=$(rig_uptime)
# ---- podman on this guest: storage, run state and network config on tmpfs --
# (the guest's root is the host's, read-only)
ctr=/run/prh-ctr
mkdir -p "$ctr/root" "$ctr/runroot" "$ctr/net" "$ctr/tmp"
# the project's containers.conf (runc, cgroupfs, no default ulimits), and:
# no events log (no journald here, /var read-only), network config on tmpfs
{
        sed '/^\[engine\]$/a events_logger = "none"' "$src/container/containers.conf"
        printf '\n[network]\nnetwork_config_dir = "%s/net"\n' "$ctr"
} > "$ctr/containers.conf"
cat > "$ctr/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$ctr/root"
runroot = "$ctr/runroot"
EOF
export CONTAINERS_CONF=$ctr/containers.conf CONTAINERS_STORAGE_CONF=$ctr/storage.conf TMPDIR=$ctr/tmp
podman() { "$src/tools/podman" "$@"; }
# runc and podman need the cgroup file system, which this guest (no init)
# does not mount
if ! mountpoint -q /sys/fs/cgroup; then
        mount -t cgroup2 cgroup2 /sys/fs/cgroup || rig_die "cannot mount cgroup2"
fi
t0=$(rig_uptime)
podman load -q -i "$archive" > "$results/podman-load.txt" 2>&1 || { cat "$results/podman-load.txt" >&2; rig_die "podman load failed"; }
podman image exists "$image" || rig_die "podman load did not give $image: $(cat "$results/podman-load.txt")"
rig_log "image $image loaded in $(rig_since "$t0") s"

# ---- the node: LIO, device-mapper, /etc/multipath ---------------------------
lio_init
for m in scsi_dh_alua dm_mod dm_multipath dm_round_robin dm_service_time overlay; do
        modprobe "$m" || rig_die "modprobe $m failed"
done
# /etc on a tmpfs-backed overlay, the one mp_init would make (it leaves it
# in place): /etc/multipath must exist before the container is created.
mkdir -p "$MP_UPPER/upper" "$MP_UPPER/work"
mountpoint -q /etc || mount -t overlay overlay \
        -o "lowerdir=/etc,upperdir=$MP_UPPER/upper,workdir=$MP_UPPER/work" /etc ||
        rig_die "cannot mount an overlay on /etc"
# the key goes where a node's admin would put it for KubeVirt, which mounts
# only /etc/multipath: its conf.d (multipathd on the node reads it too)
mkdir -p /etc/multipath/conf.d
printf 'defaults {\n        reservation_key %s\n}\n' "$MP_KEY" > /etc/multipath/conf.d/prh-reservation-key.conf

# ---- the container, as virt-handler's pr-helper -----------------------------
prdir=/var/run/kubevirt/daemons/pr
node=/run/kubevirt-pr                   # the node's host path
mkdir -p "$node"
{ mount --bind "$node" "$node" && mount --make-rshared "$node"; } || rig_die "cannot make $node a shared mount"
ctr_sock=$node/pr-helper.sock   # (rig-lib.sh uses $ctr_sock)
ctr_name=pr-helper             # (rig-lib.sh uses $name)
grace=30
# PRH_CONTAINER_NETWORK (by hand): another network for the container, e.g.
# "none", the pod network of KubeVirt's own slot, where Debian 12's
# libmpathpersist cannot reach multipathd (item 4 must then fail)
podman run -d --name "$ctr_name" --privileged --network="${PRH_CONTAINER_NETWORK:-host}" \
        -v "$node:$prdir:rshared" -v /dev:/dev:rslave -v /etc/multipath:/etc/multipath:rshared \
        --entrypoint /entrypoint.sh "$image" -k "$prdir/pr-helper.sock" > /dev/null ||
        rig_die "podman run failed"
wait_sock() {
        for _ in $(seq 1 300); do
                [ -S "$1" ] && return 0
                sleep 0.1
        done
        return 1
}
wait_sock "$ctr_sock" || { podman logs "$ctr_name" >&2; rig_die "no socket at $ctr_sock after 30 s"; }
rig_log "container $ctr_name up $(rig_since "$t0") s after the load began"
pid=$(podman inspect -f '{{.State.Pid}}' "$ctr_name")
check "prhd is PID 1 of the container" "$(cat "/proc/$pid/comm") $(awk '/^NSpid:/ { print $NF }' "/proc/$pid/status")" "prhd 1"
check "the entrypoint's link /run/multipathd.socket" "$(readlink "/proc/$pid/root/run/multipathd.socket")" "$prdir/multipathd.socket"
if "$(dirname "$prhd")/../cli/prhctl" -k "$ctr_sock" probe > /dev/null 2>&1; then
        pass "prhctl probe through $ctr_sock"
else
        fail "prhctl probe through $ctr_sock"
fi

# ---- 1. nested guests: two on the container's socket, one on prhd directly --
accel=$(rig_nested_accel)
rig_log "nested guests use accel=$accel"
logs=$results/helper-logs
# shellcheck disable=SC2034 # read by rig_retry
RIG_RETRY_FILE=$results/retries.log

# a third nexus on LU IDX (initiator naa.5001405000000b03), for reading its
# state from this guest with no helper in the way; prints its sg node
third_nexus() {
        tpg=$RIG_CFG/loopback/naa.50014050000001$(printf '%02d' "$1")/tpgt_1
        mkdir -p "$tpg" || return 1
        echo naa.5001405000000b03 > "$tpg/nexus" || return 1
        mkdir "$tpg/lun/lun_0" && ln -s "$RIG_CFG/core/fileio_$1/disk$1" "$tpg/lun/lun_0/disk$1" || return 1
        addr=$(cat "$tpg/address")
        for _ in $(seq 1 300); do
                d=/sys/class/scsi_device/$addr:0/device/scsi_generic
                if [ -d "$d" ] && [ -c "/dev/$(ls "$d")" ]; then
                        echo "/dev/$(ls "$d")"
                        return 0
                fi
                sleep 0.1
        done
        return 1
}
third_nexus_remove() {
        tpg=$RIG_CFG/loopback/naa.50014050000001$(printf '%02d' "$1")/tpgt_1
        rm -f "$tpg/lun/lun_0/disk$1"
        rmdir "$tpg/lun/lun_0" "$tpg" "${tpg%/tpgt_1}"
}

# The container's prhd as rig-lib's retry checks see a helper: its pid in
# /run/pr-helper.pid; its stderr (podman logs), all of it counted as said
# while serving (stricter than for a helper rig-lib starts); no trace file
# (KubeVirt's command line has no -T), an empty one stands for it.
ctr_helper_state() {
        podman inspect -f '{{.State.Pid}}' "$ctr_name" > /run/pr-helper.pid 2>/dev/null || rm -f /run/pr-helper.pid
        mkdir -p "$logs"
        { echo "== 0 s: started"; echo "== 0 s: ready"; podman logs "$ctr_name" 2>&1 || echo "podman logs failed"; } > "$logs/pr-helper.stderr"
        : > "$logs/pr-helper.trace"
}

# nested NAME SOCKET HELPER-NAME LU-IDX: one nested guest on LU IDX through
# SOCKET; a reset of the nested guest, positively identified
# (rig_nested_reset_evidence), is booted again once on a fresh LU.
nested() {
        n=$1 s=$2 h=$3 idx=$4
        out=$results/qemu-$n
        mkdir -p "$out"
        for boot in 1 2; do
                lio_lu_create_idx "$idx"
                ts=$(rig_uptime)
                qrc=0
                PRH_NESTED_APPEND=prh.parts=sgp rig_nested_qemu "$accel" "${PRH_NESTED_TIMEOUT:-600}" "$out" "$kernel" "$initrd" "$s" \
                        -blockdev driver=raw,node-name=hda,file.driver=host_device,file.filename="$RIG_DEV_A",file.pr-manager=pr0,file.locking=off \
                        -device scsi-block,bus=scsi0.0,drive=hda,scsi-id=0,lun=0 \
                        -blockdev driver=raw,node-name=hdb,file.driver=host_device,file.filename="$RIG_DEV_B",file.pr-manager=pr0,file.locking=off \
                        -device scsi-block,bus=scsi0.0,drive=hdb,scsi-id=1,lun=0 || qrc=$?
                rig_log "nested guest $n (LU $idx on $RIG_DEV_A $RIG_DEV_B): qemu exit $qrc after $(rig_since "$ts") s"
                [ "$boot" = 2 ] && break
                [ "$h" = pr-helper ] && ctr_helper_state
                rig_nested_retry rig-container "$out" "$n" "$boot" "$qrc" "$h" "$logs" && { lio_lu_destroy_idx "$idx"; continue; }
                ev=$(rig_nested_reset_evidence "$out" "$qrc" "$h" "$logs") || break
                mkdir -p "$out/boot-$boot"
                mv "$out/console.log" "$out/qemu.log" "$out/qemu-debug.log" "$out/boot-$boot/"
                rig_retry rig-container "nested guest $n (boot $boot): $ev; logs kept in $out/boot-$boot"
                lio_lu_destroy_idx "$idx"
        done
        [ -s "$out/qemu.log" ] && sed "s/^/  qemu ($n): /" "$out/qemu.log" >&2
        if ! grep -q '^@@DONE' "$out/console.log"; then
                echo unfinished > "$out/state"
                tr -d '\r' < "$out/console.log" | tail -n 30 >&2
        fi
        # the LU's state afterwards, through a nexus no VM used
        g=$(third_nexus "$idx") || rig_die "no third nexus on LU $idx"
        sg_persist -n --in --read-full-status "$g" > "$out/lu-full-status.txt" 2>&1 || true
        sg_persist -n --in --read-reservation "$g" > "$out/lu-reservation.txt" 2>&1 || true
        third_nexus_remove "$idx"
        lio_lu_destroy_idx "$idx"
}

# Staggered: the second guest starts once the first has booted (two nested
# KVM guests booting at once on this guest's two vCPUs is where resets
# were seen); the prhd one runs alongside the last.
t1=$(rig_uptime)
# PRH_CONTAINER_NESTED=0 leaves them out (by hand, to try the rest alone)
if [ "${PRH_CONTAINER_NESTED:-1}" = 1 ]; then
helper_start prhd "$prhd" /run/prhd.sock "$logs"
nested ctr-1 "$ctr_sock" pr-helper 0 &
p1=$!
for _ in $(seq 1 600); do
        grep -aq '^@@DISKS' "$results/qemu-ctr-1/console.log" 2>/dev/null && break
        kill -0 "$p1" 2>/dev/null || break
        sleep 0.5
done
nested ctr-2 "$ctr_sock" pr-helper 2 &
p2=$!
wait "$p1" || true
nested prhd /run/prhd.sock prhd 3 &
p3=$!
wait "$p2" || true
wait "$p3" || true
rig_log "nested guests done in $(rig_since "$t1") s"
helper_alive prhd || fail "prhd (direct) died"
helper_stop prhd || fail "prhd (direct) did not stop on SIGTERM"
for n in ctr-1 ctr-2 prhd; do
        [ -e "$results/qemu-$n/state" ] && fail "the nested guest $n did not finish"
        check "LU state after $n (READ FULL STATUS, third nexus)" \
                "$(grep -c "Key=" "$results/qemu-$n/lu-full-status.txt" 2>/dev/null) keys, $(grep -c 'NO reservation held' "$results/qemu-$n/lu-reservation.txt") times NO reservation" \
                "0 keys, 1 times NO reservation"
        for f in lu-full-status lu-reservation; do
                cmp -s "$results/qemu-prhd/$f.txt" "$results/qemu-$n/$f.txt" ||
                        fail "$f after $n differs from prhd's: $(tr '\n' '|' < "$results/qemu-$n/$f.txt")"
        done
done
# PRgeneration: the 4 commands of the session that change it (2 registrations,
# preempt, clear) reached the LU through the container, each once
for n in ctr-1 ctr-2; do
        check "PRgeneration of the LU after $n" "$(sed -n 's/^ *PR generation=\(0x[0-9a-f]*\).*/\1/p' "$results/qemu-$n/lu-full-status.txt" 2>/dev/null)" 0x4
done
echo "ctr-1 ctr-2 prhd" > "$results/helpers"
fi

# ---- 2. podman stop, multipath, podman start --------------------------------
t2=$(rig_uptime)
podman stop -t "$grace" "$ctr_name" > /dev/null
ms=$(echo "$t2 $(rig_uptime)" | awk '{ printf "%d", ($2 - $1) * 1000 }')
echo "container: podman stop took $ms ms"
check "exit status after podman stop" "$(podman inspect -f '{{.State.ExitCode}}' "$ctr_name")" 0
if [ "$ms" -lt $((grace * 1000 / 2)) ]; then pass "podman stop within $ms ms (grace period $grace s)"; else fail "podman stop took $ms ms"; fi
if [ -e "$ctr_sock" ]; then fail "the socket is still there after podman stop"; else pass "the socket was removed"; fi

t3=$(rig_uptime)
# LIO's dbroot can be set again: no LU exists at this point
mp_init
rig_log "multipath ready in $(rig_since "$t3") s: map $MP_MAP over $RIG_DEV_A $RIG_DEV_B"
t5=$(rig_uptime)
podman start "$ctr_name" > /dev/null || fail "podman start failed"
if wait_sock "$ctr_sock"; then
        pass "the restarted container serves $ctr_sock"
else
        fail "no socket after podman start"
        podman ps -a >&2 || true
        podman logs "$ctr_name" >&2 || true
        ls -la "$node" >&2 || true
        dmesg | grep -E 'type=1326|audit' | tail -n 5 >&2 || true
        # a slow start, or none: wait longer, and say which
        if wait_sock "$ctr_sock" || wait_sock "$ctr_sock"; then
                rig_log "the socket appeared $(rig_since "$t5") s after podman start"
        fi
fi
K=${MP_KEY#0x}
pr() { "$mpr" -k "$ctr_sock" "$MP_MAP" "$@"; }
direct_keys() { "$mpr" --direct "$1" in 0 | sed -n 2p | cut -d' ' -f3-; }
status() { pr "$@" | head -n 1 | sed 's/ len=.*//'; }

# ---- 3. the key on both paths through the containerised prhd -----------------
check "READ KEYS on the map, nothing registered" "$(status in 0)" "status=0x00 sense=0/00/00"
check "REGISTER on the map" "$(status out 0 0 0 "$K")" "status=0x00 sense=0/00/00"
for d in "$RIG_DEV_A" "$RIG_DEV_B"; do
        check "READ KEYS on path $d" "$(direct_keys "$d")" "0x$K 0x$K"
done
check "CLEAR on the map" "$(status out 3 0 "$K" 0)" "status=0x00 sense=0/00/00"
if mp_path_fail "$RIG_DEV_B"; then pass "path $RIG_DEV_B failed"; else fail "path $RIG_DEV_B did not fail"; fi
check "REGISTER on the map with path B down" "$(status out 0 0 0 "$K")" "status=0x00 sense=0/00/00"
check "only path A registered" "$(direct_keys "$RIG_DEV_A")" "0x$K"
if mp_path_reinstate "$RIG_DEV_B"; then pass "path $RIG_DEV_B reinstated"; else fail "path $RIG_DEV_B not reinstated"; fi
keys=
for _ in $(seq 1 100); do
        keys=$(direct_keys "$RIG_DEV_B")
        [ "$keys" = "0x$K 0x$K" ] && break
        sleep 0.1
done
check "multipathd registered the key on the returning path (it learned it from the container)" "$keys" "0x$K 0x$K"
pr out 3 0 "$K" 0 > /dev/null || true

t4=$(rig_uptime)
podman stop -t "$grace" "$ctr_name" > /dev/null
check "exit status after the second podman stop" "$(podman inspect -f '{{.State.ExitCode}}' "$ctr_name")" 0
podman logs "$ctr_name" > "$results/container.log" 2>&1 || true
podman rm -f "$ctr_name" > /dev/null 2>&1 || true
mp_stop
rig_log "stop after multipath: $(rig_since "$t4") s; the whole scenario in this guest: $(rig_since "$t_all") s"
echo "container: $checks checks, $fails failed"
[ "$fails" = 0 ]
