#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of the multipath rig scenario: boot the rig guest (../vm-run.sh)
# with the source and build trees shared and run mpath.sh in it.
#
#   run-mpath.sh SOURCE-DIR PRHD MPATH-PR [RESULTS-DIR]
#
# The nested-QEMU part (mpath.sh section 6) boots the rig's nested
# initramfs (../mkinitramfs.sh nested) with nested-mpath-init.sh put over
# it as /init (a second cpio archive appended: the kernel unpacks both, the
# later /init wins); if that cannot be built the test fails.
# PRH_MPATH_NESTED=0 leaves it out (by hand only).  PRH_MPATH_SECTIONS="6" runs only the given sections of
# mpath.sh; PRH_MPATH_TIMEOUT / PRH_MPATH_NESTED_TIMEOUT (seconds) bound the
# outer and the nested guest (nested TCG is slow on a loaded machine).
#
# An outer guest that stalls or resets with no check failed so far is
# booted again (mpath_outer_retry, at most PRH_RIG_ATTEMPTS (3) attempts in
# all), with a RETRY line.
#
# Exit status: mpath.sh's (0 = every check passed); 77 (skipped) when the
# machine cannot run the rig (no kernel with modules, no QEMU, not root, no
# multipath-tools).
set -eu
src=$(cd "$1" && pwd -P)
prhd=$2
mpr=$3
results=${4:-}

skip() {
        echo "run-mpath: SKIP: $*" >&2
        exit 77
}

[ -x "$src/test/vm/vm-run.sh" ] || skip "the rig (test/vm/vm-run.sh) is not there"
[ "$(id -u)" = 0 ] || skip "needs root (LIO, device-mapper)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
ls /boot/vmlinuz-* >/dev/null 2>&1 || skip "no /boot/vmlinuz-*"
for p in multipathd multipath mpathpersist sg_persist dmsetup udevadm; do
        command -v "$p" >/dev/null || skip "$p missing (multipath-tools, sg3-utils, dmsetup, udev)"
done
if [ ! -x "$prhd" ] || [ ! -x "$mpr" ]; then
        skip "build $prhd and $mpr first"
fi

prhd=$(cd "$(dirname "$prhd")" && pwd -P)/$(basename "$prhd")
mpr=$(cd "$(dirname "$mpr")" && pwd -P)/$(basename "$mpr")
build=$(dirname "$(dirname "$(dirname "$prhd")")")     # BUILD/src/daemon/prhd
if [ -z "$results" ]; then
        results=$(mktemp -d "${TMPDIR:-/tmp}/prh-mpath.XXXXXX")
fi
mkdir -p "$results"
results=$(cd "$results" && pwd -P)

cache=${PRH_VM_CACHE:-$build/vm-cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)

# Section 6 (nested QEMU) is part of the test: if its kernel or initramfs
# cannot be had, the test fails.  Only an explicit PRH_MPATH_NESTED=0 or a
# PRH_MPATH_SECTIONS without 6 leaves it out.
# Sections 8-10 are issue 12's scenarios 6-8 (faults.sh; 9 and 10 boot
# nested guests too).  Section 10 runs two nested guests at once
# (PRH_FX8_GUESTS: four killed the outer guest's kernel inside a nested
# QEMU's KVM_RUN in 2 of 3 runs, docs/faults.md).
sections=${PRH_MPATH_SECTIONS:-1 2 3 4 5 6 7 8 9 10}
[ "${PRH_MPATH_NESTED:-1}" = 0 ] && sections=$(echo " $sections " | sed 's/ 6 / /; s/ 9 / /; s/ 10 / /')
kernel=
initrd=
case " $sections " in
*" 6 "* | *" 9 "* | *" 10 "*)
        for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
                v=${k#/boot/vmlinuz-}
                if [ -d "/lib/modules/$v/kernel" ]; then
                        kernel=$k
                        kver=$v
                        break
                fi
        done
        [ -n "$kernel" ] || { echo "run-mpath: FAIL: no /boot/vmlinuz-* with modules for the nested guest" >&2; exit 1; }
        key=$(cat "$src/test/vm/mkinitramfs.sh" "$src/test/vm/nested-init.sh" "$src/test/vm/nested-lib.sh" | cksum | cut -d' ' -f1)
        base=$cache/nested-$kver-$key.cpio.gz
        if [ ! -s "$base" ] && ! "$src/test/vm/mkinitramfs.sh" nested "$kver" "$base"; then
                echo "run-mpath: FAIL: the nested initramfs could not be built (test/vm/mkinitramfs.sh nested, above)" >&2
                exit 1
        fi
        key2=$(cat "$base" "$src/test/vm/mpath/nested-mpath-init.sh" "$src/test/vm/mpath/nested-faults.sh" | cksum | cut -d' ' -f1)
        initrd=$cache/nested-mpath-$kver-$key2.cpio.gz
        if [ ! -s "$initrd" ]; then
                tmp=$(mktemp -d "$cache/nested-mpath.XXXXXX")
                cp "$src/test/vm/mpath/nested-mpath-init.sh" "$tmp/init"
                chmod 755 "$tmp/init"
                mkdir "$tmp/lib"
                cp "$src/test/vm/mpath/nested-faults.sh" "$tmp/lib/nested-faults.sh"
                (cd "$tmp" && printf 'init\nlib\nlib/nested-faults.sh\n' | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$tmp/overlay.cpio.gz"
                cat "$base" "$tmp/overlay.cpio.gz" > "$tmp/all.cpio.gz"
                mv -f "$tmp/all.cpio.gz" "$initrd"
                rm -rf "$tmp"
        fi
        ;;
*)
        echo "run-mpath: the nested-QEMU parts (sections 6, 9, 10) are left out: PRH_MPATH_SECTIONS='$sections'" >&2
        ;;
esac

# mpath_outer_retry RESULTS: after a failed run, succeed (printing the
# evidence) only if the outer guest stalled (vm-run.sh's vCPU watch) or
# reset (QEMU exit 0 without the guest's exit status: with four nested KVM
# guests on the emulated SVM the outer kernel was seen to die inside
# KVM_RUN) and, up to then, no check failed and nothing was fatal: the same
# rule as rig-qemu's outer_retry (docs/testing.md).  Otherwise say why not
# and fail.
mpath_outer_retry() {
        _r=$1
        _end=$(cat "$_r/.vm-end" 2>/dev/null || echo none)
        case "$_end" in
        stalled) _ev="the outer guest stalled ($(sed 's/^vm-run: //' "$_r/.vcpu-stalled" 2>/dev/null))" ;;
        "no-status qemu-exit=0") _ev="the outer guest reset (QEMU exit 0, no exit status from the guest)" ;;
        *)
                echo "run-mpath: not retried: the outer guest ended with '$_end', not a stall or reset" >&2
                return 1
                ;;
        esac
        _con=$(tr -d '\r' < "$_r/console.log" 2>/dev/null)
        if printf '%s\n' "$_con" | grep -Eq '^(FAIL: |rig: FATAL|rig: FAIL)'; then
                echo "run-mpath: not retried: a check failed before the end:" >&2
                printf '%s\n' "$_con" | grep -E '^(FAIL: |rig: FATAL|rig: FAIL)' | head -n 5 >&2
                return 1
        fi
        _panic=$(printf '%s\n' "$_con" | grep -m1 -E 'Kernel panic|BUG: ' | sed 's/^\[ *[0-9.]*\] //')
        [ -n "$_panic" ] && _ev="$_ev, the outer kernel said: $_panic"
        echo "$_ev; $(printf '%s\n' "$_con" | grep -c '^PASS: ') checks passed before it, none failed"
}

# The guest starts its command with a clean environment: pass the knobs explicitly.
attempts=${PRH_RIG_ATTEMPTS:-3}
attempt=1
while :; do
        rm -f "$results/retries.log"
        rc=0
        # 3 GiB: section 10 runs two nested guests at once (PRH_FX8_GUESTS, up to four)
        "$src/test/vm/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -m 3072 -t "${PRH_MPATH_TIMEOUT:-2400}" -- \
                env "PRH_MPATH_SECTIONS=$sections" \
                "PRH_MPATH_NESTED_TIMEOUT=${PRH_MPATH_NESTED_TIMEOUT:-1200}" \
                "$src/test/vm/mpath/mpath.sh" "$results" "$prhd" "$mpr" "$kernel" "$initrd" || rc=$?
        # the nested boots mpath.sh tried again (rig_nested_retry): print them and
        # add them to PRH_RETRY_LOG (tools/run-tests counts them)
        if [ -s "$results/retries.log" ]; then
                cat "$results/retries.log" >&2
                [ -n "${PRH_RETRY_LOG:-}" ] && cat "$results/retries.log" >> "$PRH_RETRY_LOG"
        fi
        # a whole run again only for an identified infrastructure failure
        if [ "$rc" != 0 ] && [ "$attempt" -lt "$attempts" ] && ev=$(mpath_outer_retry "$results"); then
                mkdir "$results/attempt-$attempt"
                find "$results" -mindepth 1 -maxdepth 1 ! -name 'attempt-*' -exec mv {} "$results/attempt-$attempt/" \;
                line="RETRY rig-mpath: attempt $attempt of $attempts: $ev; its files are in $results/attempt-$attempt"
                echo "$line" >&2
                [ -n "${PRH_RETRY_LOG:-}" ] && echo "$line" >> "$PRH_RETRY_LOG"
                attempt=$((attempt + 1))
                continue
        fi
        break
done
exit "$rc"
