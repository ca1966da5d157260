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
#   helper_start NAME BIN SOCK [LOGDIR [ARG...]]  start a helper on SOCK (a daemon, -d; with LOGDIR
#                               in the background with its stderr and trace kept), wait until it is up
#   helper_stop NAME            SIGTERM that helper, wait for it to exit; fails if it did not
#   helper_alive NAME           the helper is still running
#   helper_log_check NAME LOGDIR  its stderr and trace show no connection or handshake problem
#   rig_retry TEST EVIDENCE     record a retry of an identified infrastructure failure
#   rig_nested_retry, rig_nested_reset_evidence (and their _check forms, for a
#                               helper checked by a command of the caller's): may a
#                               nested boot that ended early be tried again?
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
# The nested QEMU is the system's (7.2) unless PRH_NESTED_QEMU_ROOT names
# the root of an unpacked QEMU (tools/fetch-qemu10): then its
# qemu-system-x86_64 runs with its own modules (QEMU_MODULE_DIR) and its own
# data directory first, the system's second (-L: the BIOS and option ROMs
# come from the system's seabios and ipxe packages, linked from
# /usr/share/qemu).  PRH_NESTED_APPEND adds to the kernel command line
# (e.g. prh.parts=, see nested-init.sh; prh.mode=, see mpath/nested-mpath-init.sh).
# RIG_NESTED_MEM: the nested guest's memory in MiB (default 384).
#   rig_nested_qemu ACCEL TIMEOUT OUT KERNEL INITRD HELPER-SOCKET [QEMU-ARGS...]
rig_nested_qemu() {
        _accel=$1 _timeout=$2 _out=$3 _kernel=$4 _initrd=$5 _sock=$6
        shift 6
        _qr=${PRH_NESTED_QEMU_ROOT:-}
        _qbin=qemu-system-x86_64
        if [ -n "$_qr" ]; then
                _qbin=$_qr/usr/bin/qemu-system-x86_64
                set -- -L "$_qr/usr/share/qemu" -L /usr/share/qemu "$@"
        fi
        # which QEMU this was (run-rig.sh checks it is the one asked for)
        "$_qbin" -version | head -n1 > "$_out/qemu-version"
        timeout -k 5 "$_timeout" env ${_qr:+"QEMU_MODULE_DIR=$_qr/usr/lib/x86_64-linux-gnu/qemu"} "$_qbin" \
                -machine q35,accel="$_accel" -cpu max -smp 1 -m "${RIG_NESTED_MEM:-384}" \
                -nodefaults -no-user-config -display none -no-reboot \
                -kernel "$_kernel" -initrd "$_initrd" \
                -append "console=ttyS0 panic=-1 quiet loglevel=1 mitigations=off${PRH_NESTED_APPEND:+ $PRH_NESTED_APPEND}" \
                -chardev file,id=con,path="$_out/console.log" -serial chardev:con \
                -trace runstate_set -trace qemu_system_shutdown_request \
                -trace qemu_system_powerdown_request -d guest_errors,cpu_reset -D "$_out/qemu-debug.log" \
                -object pr-manager-helper,id=pr0,path="$_sock" \
                -device virtio-scsi-pci,id=scsi0 \
                "$@" < /dev/null > "$_out/qemu.log" 2>&1
}

# rig_retry TEST EVIDENCE: say that TEST retries after an infrastructure
# failure, with the evidence, and add the line "RETRY TEST: EVIDENCE" to
# RIG_RETRY_FILE (in the results share: the host side passes it on to
# PRH_RETRY_LOG, see run-rig.sh).
rig_retry() {
        rig_log "RETRY $1: $2"
        [ -n "${RIG_RETRY_FILE:-}" ] && echo "RETRY $1: $2" >> "$RIG_RETRY_FILE"
        return 0
}

# After a boot of a nested guest whose files are OUT/console.log and
# OUT/qemu.log, with helper NAME (started with LOGDIR): true only if the
# boot failed for a reason outside the helper, positively identified, and
# may be tried again.  Under nested KVM on the outer guest's emulated SVM a
# nested guest now and then resets before its /init runs; with -no-reboot
# QEMU then exits 0.  A QEMU that could not connect to the helper or
# complete the handshake refuses to start (exit 1, a message in qemu.log),
# so a retry needs all of: QEMU exit 0, nothing at all in qemu.log, no line
# of the nested /init on the console ("@@..."), the helper still running
# and its log clean (helper_log_check).  Then the boot's files move to
# OUT/boot-N/ and the retry is recorded (rig_retry TEST).  Anything else is
# the test's failure: it is printed and false is returned.
#   rig_nested_retry TEST OUT WHAT BOOT-NUMBER QEMU-EXIT NAME LOGDIR
rig_nested_retry() {
        _out=$2 _what=$3 _boot=$4 _qrc=$5
        grep -aq '^@@' "$_out/console.log" 2>/dev/null && return 1
        _why=
        if [ "$_qrc" != 0 ]; then
                _why="qemu exit $_qrc"
        elif [ -s "$_out/qemu.log" ]; then
                _why="qemu.log not empty"
        elif ! helper_alive "$6"; then
                _why="helper $6 is not running"
        elif ! _ev=$(helper_log_check "$6" "$7"); then
                _why=$_ev
        fi
        if [ -n "$_why" ]; then
                rig_log "FAIL: nested guest $_what (boot $_boot) ended before its /init ran, not retried: $_why"
                sed "s/^/  qemu (boot $_boot): /" "$_out/qemu.log" >&2
                return 1
        fi
        mkdir -p "$_out/boot-$_boot"
        mv "$_out/console.log" "$_out/qemu.log" "$_out/boot-$_boot/"
        [ -e "$_out/qemu-debug.log" ] && mv "$_out/qemu-debug.log" "$_out/boot-$_boot/"
        rig_retry "$1" "nested guest $_what (boot $_boot) reset before its /init ran: qemu exit 0,\
 $(wc -c < "$_out/boot-$_boot/console.log") console bytes and no line of /init, qemu.log empty;\
 $_ev; logs kept in $_out/boot-$_boot"
}

# A nested guest whose /init ran its tests and that then ended without
# finishing: true (printing the evidence) only if it is shown to have been
# reset, the known fault of nested KVM on the outer guest's emulated SVM,
# and nothing points at the helper: QEMU exit 0 with nothing in qemu.log;
# QEMU's trace (OUT/qemu-debug.log, see rig_nested_qemu) shows the machine
# going from running to shutdown without a guest shutdown request (with
# -no-reboot a reset ends QEMU that way; the guest's poweroff would have
# been traced); no kernel panic on the console; no @@DONE or @@FATAL; the
# helper still running and its log clean (helper_log_check).  The caller
# must give the next boot a fresh LU, since the tests changed its state.
#   rig_nested_reset_evidence OUT QEMU-EXIT NAME LOGDIR
rig_nested_reset_evidence() {
        _out=$1 _qrc=$2
        _con=$(tr -d '\r' < "$_out/console.log" 2>/dev/null || true)
        printf '%s\n' "$_con" | grep -q '^@@' || return 1
        printf '%s\n' "$_con" | grep -Eq '^@@(DONE|FATAL)' && return 1
        printf '%s\n' "$_con" | grep -Eq 'Kernel panic|end Kernel panic' && return 1
        [ "$_qrc" = 0 ] || return 1
        [ -s "$_out/qemu.log" ] && return 1
        grep -q 'new_state [0-9]* (shutdown)' "$_out/qemu-debug.log" 2>/dev/null || return 1
        grep -q '^qemu_system_shutdown_request' "$_out/qemu-debug.log" && return 1
        helper_alive "$3" || return 1
        _ev=$(helper_log_check "$3" "$4") || return 1
        _last=$(printf '%s\n' "$_con" | sed -n 's/^@@BEGIN //p' | tail -n 1)
        echo "qemu exit 0, qemu.log empty; QEMU's trace shows running -> shutdown with no guest shutdown request (a reset, under -no-reboot), no kernel panic on the console; it reset during test ${_last:-(none yet: after /init began, before its first test)}; $_ev"
}

# The same two decisions as rig_nested_retry and rig_nested_reset_evidence,
# for a helper that is not one helper_start started (e.g. a unit that
# systemd activates on its socket): CHECK [ARG...] is a command that
# succeeds, printing a one-line summary of the helper's good health, only if
# nothing points at the helper (for one helper_start started with LOGDIR:
# rig_helper_fine NAME LOGDIR).  A file OUT/helper-stop or OUT/helper-start
# (a helper that did not stop or start at the nested guest's request) also
# rules a retry out.
#   rig_nested_retry_check TEST OUT WHAT BOOT-NUMBER QEMU-EXIT CHECK [ARG...]
#   rig_nested_reset_evidence_check OUT QEMU-EXIT CHECK [ARG...]
rig_helper_fine() {
        helper_alive "$1" || { echo "helper $1 is not running"; return 1; }
        helper_log_check "$1" "$2"
}

rig_nested_retry_check() {
        _test=$1 _out=$2 _what=$3 _boot=$4 _qrc=$5
        shift 5
        grep -aq '^@@' "$_out/console.log" 2>/dev/null && return 1
        _why=
        if [ "$_qrc" != 0 ]; then
                _why="qemu exit $_qrc"
        elif [ -s "$_out/qemu.log" ]; then
                _why="qemu.log not empty"
        elif [ -e "$_out/helper-stop" ] || [ -e "$_out/helper-start" ]; then
                _why="the helper $(cat "$_out/helper-stop" "$_out/helper-start" 2>/dev/null | head -n 1)"
        elif ! _ev=$("$@"); then
                _why=$_ev
        fi
        if [ -n "$_why" ]; then
                rig_log "FAIL: nested guest $_what (boot $_boot) ended before its /init ran, not retried: $_why"
                sed "s/^/  qemu (boot $_boot): /" "$_out/qemu.log" >&2
                return 1
        fi
        mkdir -p "$_out/boot-$_boot"
        mv "$_out/console.log" "$_out/qemu.log" "$_out/boot-$_boot/"
        [ -e "$_out/qemu-debug.log" ] && mv "$_out/qemu-debug.log" "$_out/boot-$_boot/"
        rig_retry "$_test" "nested guest $_what (boot $_boot) reset before its /init ran: qemu exit 0,\
 $(wc -c < "$_out/boot-$_boot/console.log") console bytes and no line of /init, qemu.log empty;\
 $_ev; logs kept in $_out/boot-$_boot"
}

rig_nested_reset_evidence_check() {
        _out=$1 _qrc=$2
        shift 2
        _con=$(tr -d '\r' < "$_out/console.log" 2>/dev/null || true)
        printf '%s\n' "$_con" | grep -q '^@@' || return 1
        printf '%s\n' "$_con" | grep -Eq '^@@(DONE|FATAL)' && return 1
        printf '%s\n' "$_con" | grep -Eq 'Kernel panic|end Kernel panic' && return 1
        [ "$_qrc" = 0 ] || return 1
        [ -s "$_out/qemu.log" ] && return 1
        [ -e "$_out/helper-stop" ] || [ -e "$_out/helper-start" ] && return 1
        grep -q 'new_state [0-9]* (shutdown)' "$_out/qemu-debug.log" 2>/dev/null || return 1
        grep -q '^qemu_system_shutdown_request' "$_out/qemu-debug.log" && return 1
        _ev=$("$@") || return 1
        _last=$(printf '%s\n' "$_con" | sed -n 's/^@@BEGIN //p' | tail -n 1)
        echo "qemu exit 0, qemu.log empty; QEMU's trace shows running -> shutdown with no guest shutdown request (a reset, under -no-reboot), no kernel panic on the console; it reset during test ${_last:-(none yet: after /init began, before its first test)}; $_ev"
}

rig_uptime() {
        cut -d' ' -f1 /proc/uptime
}

# rig_since T0: seconds since uptime T0 (one decimal), for the logged timings
rig_since() {
        echo "$1 $(rig_uptime)" | awk '{ printf "%.1f", $2 - $1 }'
}

# The checks of the guest scripts that print one line per check: PASS/FAIL
# on the console, counted in $checks and $fails (the script reports them).
#   pass WHAT; fail WHY; check WHAT GOT WANT; check_re WHAT GOT REGEX
checks=0
fails=0
pass() {
        checks=$((checks + 1))
        echo "PASS: $*"
}

fail() {
        checks=$((checks + 1))
        fails=$((fails + 1))
        echo "FAIL: $*"
}

check() {
        if [ "$2" = "$3" ]; then
                pass "$1"
        else
                fail "$1: got '$2', want '$3'"
        fi
}

check_re() {
        if printf '%s\n' "$2" | grep -Eq -- "$3"; then
                pass "$1"
        else
                fail "$1: '$2' does not match /$3/"
        fi
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

# helper_start NAME BIN SOCKET [LOGDIR [ARG...]]: start BIN the way its users do
# and wait (up to 30 s) until its socket and pidfile exist.  NAME labels it
# for helper_stop; the pidfile is /run/NAME.pid.  ARGs (e.g. -u nobody -g
# disk) go on its command line; LOGDIR may be empty.
# Without LOGDIR: as a daemon (-k SOCKET -f PIDFILE -d; the same command line
# for qemu-pr-helper and prhd).  With LOGDIR: the way libvirt starts it (no
# -d, in the background, stderr kept), so that what it says can be read
# afterwards: stderr is appended to LOGDIR/NAME.stderr and its connection
# trace events to LOGDIR/NAME.trace (see helper_log_check).
helper_start() {
        name=$1
        bin=$2
        sock=$3
        pidfile=/run/$name.pid
        logdir=${4:-}
        shift 3
        [ "$#" -gt 0 ] && shift
        rm -f "$pidfile"
        if [ -n "$logdir" ]; then
                mkdir -p "$logdir"
                # prhd traces connections and handshakes; the reference only
                # has QEMU's generic socket events (accept, accept_fail)
                if "$bin" -T help 2>/dev/null | grep -qx conn_handshake; then
                        events='conn_*'
                else
                        events='qio_channel_socket_accept*'
                fi
                echo "== $(rig_uptime) s: started" >> "$logdir/$name.stderr"
                # each process gets a new trace file (the reference truncates
                # it, prhd appends): keep the earlier ones in NAME.trace-old,
                # each ended by a line helper_log_check knows
                if [ -e "$logdir/$name.trace" ]; then
                        { cat "$logdir/$name.trace"; echo "== the next process"; } >> "$logdir/$name.trace-old"
                        rm -f "$logdir/$name.trace"
                fi
                "$bin" -k "$sock" -f "$pidfile" -T "$events,file=$logdir/$name.trace" "$@" \
                        < /dev/null > /dev/null 2>> "$logdir/$name.stderr" 3<&- &
        else
                "$bin" -k "$sock" -f "$pidfile" -d "$@" || rig_die "$bin -k $sock -f $pidfile -d $* failed with $?"
        fi
        # generous: a loaded CI machine under software emulation is slow
        for _ in $(seq 1 300); do
                if [ -S "$sock" ] && [ -s "$pidfile" ] && helper_pid_alive "$(cat "$pidfile")"; then
                        rig_log "$name ($bin) is pid $(cat "$pidfile") on $sock"
                        # what it says from here on is about its clients
                        [ -n "$logdir" ] && echo "== $(rig_uptime) s: ready" >> "$logdir/$name.stderr"
                        return 0
                fi
                sleep 0.1
        done
        rig_die "$bin did not come up on $sock"
}

# helper_pid_alive PID: the process exists and is not a zombie (a helper
# started in the background is nobody's child once its starter has exited).
helper_pid_alive() {
        [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
        [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# helper_alive NAME: the helper NAME started is still running.
helper_alive() {
        helper_pid_alive "$(cat "/run/$1.pid" 2>/dev/null)"
}

# helper_stop NAME: SIGTERM, wait up to 10 s for the exit.  A helper that
# does not exit in time is killed and helper_stop fails (with a FAIL line):
# callers must fail the test then.
helper_stop() {
        pidfile=/run/$1.pid
        [ -s "$pidfile" ] || return 0
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
                if ! helper_pid_alive "$pid"; then
                        rm -f "$pidfile"
                        return 0
                fi
                sleep 0.1
        done
        rig_log "FAIL: $1 (pid $pid) did not exit within 10 s of SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
        return 1
}

# helper_log_check NAME LOGDIR: succeeds, printing a one-line summary, if the
# log of a helper started with LOGDIR shows no trouble: nothing in
# LOGDIR/NAME.stderr (if there is one) once it was up (between helper_start's
# "ready" and the next "started" mark: start-up messages, e.g. prhd saying
# whether multipath support is active, are not about clients), and in
# its trace (LOGDIR/NAME.trace, which must exist) no refused connection, no
# failed accept, no rejected request, and (prhd) every connection's
# handshake completed and every close an end of file or the helper's own
# termination.  Otherwise prints what it found and fails.
# RIG_LOG_EXPECTED, if set, is an extended regular expression: stderr lines
# that match it are expected while serving and are not trouble (prhd's
# warnings about the requests its policy denies, rig-prhctl.py).
helper_log_check() {
        _err=$2/$1.stderr
        if [ ! -e "$2/$1.trace" ]; then
                echo "$1: no trace file $2/$1.trace"
                return 1
        fi
        # (callers may run under set -e: no command here may fail unchecked)
        _tr=$(cat "$2/$1.trace-old" "$2/$1.trace" 2>/dev/null || true)
        _said="stderr not kept"
        if [ -e "$_err" ]; then
                # (a file without marks, e.g. mpath.sh's, is all "while serving")
                _bad=$(awk 'BEGIN { up = 1 } /^== .* s: started$/ { up = 0; next }
                            /^== .* s: ready$/ { up = 1; next }
                            up && !(ENVIRON["RIG_LOG_EXPECTED"] != "" && $0 ~ ENVIRON["RIG_LOG_EXPECTED"]) { print }' \
                            "$_err" | head -n 5)
                if [ -n "$_bad" ]; then
                        echo "$1 wrote to stderr while serving: $(printf '%s' "$_bad" | tr '\n' '|')"
                        return 1
                fi
                _said="nothing on stderr while serving"
                [ -n "${RIG_LOG_EXPECTED:-}" ] && _said="nothing on stderr while serving but lines matching RIG_LOG_EXPECTED"
        fi
        # connection numbers start again in each process
        _bad=$(printf '%s\n' "$_tr" | awk '
                /^== / { split("", acc); split("", hs); next }
                $1 == "conn_reject" || $1 == "request_rejected" || $1 == "qio_channel_socket_accept_fail" { print; next }
                $1 == "conn_accept" { c = $2; sub(/conn=/, "", c); acc[c] = 1; next }
                $1 == "conn_handshake" { c = $2; sub(/conn=/, "", c); hs[c] = 1
                                         if ($3 != "features=0x00000000") print; next }
                $1 == "conn_close" { c = $2; sub(/conn=/, "", c)
                                     if (!(c in hs) || ($3 != "reason=eof" && $3 != "reason=terminating")) print }' | head -n 5)
        if [ -n "$_bad" ]; then
                echo "$1's trace shows a connection problem: $(printf '%s' "$_bad" | tr '\n' '|')"
                return 1
        fi
        echo "$1: $_said, $(printf '%s\n' "$_tr" | grep -Ec '^(conn_accept|qio_channel_socket_accept_complete) ') connections accepted, no refused connection, failed accept or handshake"
}
