#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run a command inside a throw-away guest: Debian's kernel under
# qemu-system-x86_64 (TCG, no KVM needed), the machine's own root shared
# read-only over virtio-9p, the given project directories shared at the same
# absolute paths, and a writable results directory.  No disk image is built:
# the guest boots a tiny initramfs (mkinitramfs.sh outer) that mounts the
# shares and chroots into the host root.
#
#   vm-run.sh [-c CACHE] [-r RESULTS] [-s DIR]... [-t SECS] [-m MB] [-v] -- CMD [ARG]...
#
#   -c CACHE    where the initramfs is cached (default $PRH_VM_CACHE or /var/tmp/prh-vm-cache)
#   -r RESULTS  writable share, same path in the guest (default: a new dir in CACHE)
#   -s DIR      share DIR read-only at the same path (repeat; e.g. source and build dir)
#   -t SECS     kill the guest after SECS seconds (default 600) and fail
#   -m MB       guest memory (default 2048), -p N vCPUs (default 2)
#   -v          stream the guest console while it runs (default: print it at the end)
#   -S          boot systemd as PID 1 on a tmpfs overlay over the host root, the
#               command as a unit (outer-init.sh); default: a chroot, no init
#   -K          print the kernel and its version (for a nested guest) and exit
#
# Exit status: the command's exit status in the guest; 124 if the guest had
# to be killed (timeout, or a vCPU that stopped for good: see vcpu_watch);
# 125 if the guest died without reporting one.  The guest console log stays
# in RESULTS/console.log.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${PRH_VM_CACHE:-${TMPDIR:-/var/tmp}/prh-vm-cache}
results=
shares=
timeout=600
mem=2048
smp=2
stream=0
print_kernel=0

usage() {
        sed -n '/^#   vm-run.sh/,/^# console log/p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
}

init=chroot
while getopts "c:r:s:t:m:p:vSKh" o; do
        case "$o" in
        c) cache=$OPTARG ;;
        r) results=$OPTARG ;;
        s) shares="$shares $OPTARG" ;;
        t) timeout=$OPTARG ;;
        m) mem=$OPTARG ;;
        p) smp=$OPTARG ;;
        v) stream=1 ;;
        K) print_kernel=1 ;;
        S) init=systemd ;;
        *) usage ;;
        esac
done
shift $((OPTIND - 1))
[ "$#" -gt 0 ] || [ "$print_kernel" = 1 ] || usage

die() {
        echo "vm-run: $*" >&2
        exit 125
}

abspath() {
        (cd "$1" && pwd -P)
}

# --- kernel ---------------------------------------------------------------
if [ -n "${PRH_VM_KERNEL:-}" ]; then
        kernel=$PRH_VM_KERNEL
        kver=${PRH_VM_KVER:-$(basename "$kernel" | sed 's/^vmlinuz-//')}
else
        kernel=
        for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
                v=${k#/boot/vmlinuz-}
                if [ -d "/lib/modules/$v/kernel" ]; then
                        kernel=$k
                        kver=$v
                        break
                fi
        done
        [ -n "$kernel" ] || die "no /boot/vmlinuz-* with modules in /lib/modules (install linux-image-amd64)"
fi
[ -r "$kernel" ] || die "cannot read kernel $kernel"
if [ "$print_kernel" = 1 ]; then
        echo "$kernel $kver"
        exit 0
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (install qemu-system-x86)"

# --- initramfs, cached by content of what goes into it ---------------------
mkdir -p "$cache"
cache=$(abspath "$cache")
key=$(cat "$here/mkinitramfs.sh" "$here/outer-init.sh" | cksum | cut -d' ' -f1)
initrd="$cache/outer-$kver-$key.cpio.gz"
if [ ! -s "$initrd" ]; then
        "$here/mkinitramfs.sh" outer "$kver" "$initrd" || die "building the initramfs failed"
fi

# --- shares -----------------------------------------------------------------
if [ -z "$results" ]; then
        results=$(mktemp -d "$cache/results.XXXXXX")
fi
mkdir -p "$results"
results=$(abspath "$results")

share_args=
cmdline_shares=
i=0
# shortest path first: the guest mounts them in this order
for s in $(for d in $shares; do abspath "$d" || die "no such directory: $d"; done | awk '{ print length($0), $0 }' | sort -n | cut -d' ' -f2- | uniq); do
        case "$s" in *[[:space:]]*) die "share path with white space: $s" ;; esac
        share_args="$share_args -fsdev local,id=p$i,path=$s,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=p$i,mount_tag=p$i"
        cmdline_shares="$cmdline_shares prh.share=p$i:$s"
        i=$((i + 1))
done
case "$results" in *[[:space:]]*) die "results path with white space: $results" ;; esac

# The command, quoted for sh, runs from the current directory.
q() {
        printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
{
        echo "cd $(q "$PWD") 2>/dev/null || cd /"
        printf 'exec'
        for a in "$@"; do
                printf ' %s' "$(q "$a")"
        done
        echo
} > "$results/.vm-cmd"
rm -f "$results/.vm-exit-status" "$results/.vm-end"

log="$results/console.log"
: > "$log"

# --- boot -------------------------------------------------------------------
accel=${PRH_VM_ACCEL:-tcg}
start=$(date +%s.%N)
# shellcheck disable=SC2086
timeout -k 5 "$timeout" qemu-system-x86_64 \
        -machine q35,accel="$accel" -cpu max -smp "$smp" -m "$mem" \
        -nodefaults -no-user-config -display none -no-reboot \
        -name prh-vm,debug-threads=on \
        -chardev file,id=con,path="$log" -serial chardev:con \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 softlockup_panic=1 quiet loglevel=4 rdinit=/init prh.init=$init prh.results=$results$cmdline_shares" \
        -fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=r,mount_tag=hostroot \
        -fsdev local,id=w,path="$results",security_model=none,multidevs=remap \
        -device virtio-9p-pci,fsdev=w,mount_tag=results \
        $share_args \
        < /dev/null > "$results/qemu.log" 2>&1 &
qpid=$!

# A vCPU of a healthy guest runs at least every few seconds (the kernel's
# soft-lockup watchdog timer fires every 4 s on every CPU).  With nested KVM
# on TCG's emulated SVM (test/vm/guest-qemu.sh), a vCPU has been seen to halt
# for good while the guest's other vCPU went on idling: the guest then hangs
# with no soft lockup to report.  A vCPU thread whose run time (schedstat)
# has not moved for PRH_VM_VCPU_STALL seconds (default 60) ends the guest at
# once instead of at the timeout.
vcpu_watch() {
        set +e
        limit=${PRH_VM_VCPU_STALL:-60}
        state=$results/.vcpu-watch
        : > "$state"
        while kill -0 "$qpid" 2>/dev/null; do
                sleep 5
                now=$(date +%s)
                qemu=$(pgrep -P "$qpid" -x qemu-system-x86 | head -n1)
                [ -n "$qemu" ] || continue
                for t in /proc/"$qemu"/task/*; do
                        case "$(cat "$t/comm" 2>/dev/null)" in "CPU "*) ;; *) continue ;; esac
                        ran=$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null) || continue
                        tid=${t##*/}
                        old=$(grep "^$tid " "$state" | cut -d' ' -f2-)
                        if [ -z "$old" ] || [ "${old% *}" != "$ran" ]; then
                                grep -v "^$tid " "$state" > "$state.new" || true
                                echo "$tid $ran $now" >> "$state.new"
                                mv "$state.new" "$state"
                        elif [ $((now - ${old#* })) -ge "$limit" ]; then
                                echo "vm-run: STALLED: guest vCPU '$(cat "$t/comm")' has not run for ${limit}s; killing the guest" > "$results/.vcpu-stalled"
                                kill "$qemu" 2>/dev/null
                                return
                        fi
                done
        done
}
rm -f "$results/.vcpu-stalled"
vcpu_watch &
wpid=$!
if [ "$stream" = 1 ]; then
        tail -n +1 -f --pid="$qpid" "$log" &
fi
qrc=0
wait "$qpid" || qrc=$?
kill "$wpid" 2>/dev/null || true
wait "$wpid" 2>/dev/null || true
end=$(date +%s.%N)
elapsed=$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')
[ "$stream" = 1 ] && sleep 0.2

if [ "$stream" != 1 ]; then
        cat "$log"
fi
# How the guest ended, in RESULTS/.vm-end, for a caller that must tell an
# infrastructure failure from the test's own (run-rig.sh qemu):
# "stalled", "timeout", "no-status qemu-exit=N" or "exit N".
if [ -s "$results/.vcpu-stalled" ]; then
        echo stalled > "$results/.vm-end"
        cat "$results/.vcpu-stalled" >&2
        cat "$results/qemu.log" >&2
        exit 124
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
        echo timeout > "$results/.vm-end"
        echo "vm-run: TIMEOUT: guest killed after ${timeout}s; console log above ($log)" >&2
        cat "$results/qemu.log" >&2
        exit 124
fi
if [ ! -s "$results/.vm-exit-status" ]; then
        echo "no-status qemu-exit=$qrc" > "$results/.vm-end"
        echo "vm-run: guest ended after ${elapsed}s without an exit status (qemu exit $qrc); console log above ($log)" >&2
        cat "$results/qemu.log" >&2
        exit 125
fi
rc=$(cat "$results/.vm-exit-status")
echo "exit $rc" > "$results/.vm-end"
echo "vm-run: guest command exited with $rc after ${elapsed}s"
exit "$rc"
