#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of the prhctl rig scenario: boot the rig guest
# (test/vm/vm-run.sh) with the source and build trees shared and run
# rig-prhctl.py in it, once per helper: every prhctl command on a real LIO
# LU, checked against sg_persist's view over direct SG_IO.  Then prhd's
# policy on the LU, through prhctl and through a nested QEMU (its initramfs,
# test/vm/mkinitramfs.sh nested, is built here, in the rig's cache).
#
#   run-rig-prhctl.sh SOURCE-DIR PRHCTL [RESULTS-DIR] NAME=HELPER...
#
# Exit status: rig-prhctl.py's; 77 (skipped) when the machine cannot run
# the rig (not root, no QEMU, no kernel image, no sg_persist).
set -eu
src=$(cd "$1" && pwd -P)
prhctl=$2
results=$3
shift 3

skip() {
        echo "run-rig-prhctl: SKIP: $*" >&2
        exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (LIO)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
ls /boot/vmlinuz-* >/dev/null 2>&1 || skip "no /boot/vmlinuz-*"
command -v sg_persist >/dev/null || skip "sg_persist missing (sg3-utils)"
command -v python3 >/dev/null || skip "python3 missing"
for p in iscsi-test-cu modinfo cpio setpriv; do
        command -v "$p" >/dev/null || skip "$p missing (see test/vm/setup-packages.sh)"
done
[ -x /bin/busybox ] || skip "busybox missing (busybox-static)"
[ -x "$prhctl" ] || skip "build $prhctl first"

abspath() {
        echo "$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
}
prhctl=$(abspath "$prhctl")
build=$(dirname "$(dirname "$(dirname "$prhctl")")")    # BUILD/src/cli/prhctl
helpers=
for h in "$@"; do
        bin=$(abspath "${h#*=}")
        [ -x "$bin" ] || skip "helper ${h#*=} missing"
        helpers="$helpers ${h%%=*}=$bin"
done
mkdir -p "$results"
results=$(cd "$results" && pwd -P)
rm -f "$results/retries.log"

# The nested guest of the policy part: the same kernel and initramfs as
# rig-qemu's (test/vm/run-rig.sh), in the same cache.
kinfo=$("$src/test/vm/vm-run.sh" -K 2>/dev/null) || skip "no /boot/vmlinuz-* with modules (linux-image-amd64)"
kernel=${kinfo% *}
kver=${kinfo#* }
cache=${PRH_VM_CACHE:-$build/test/vm/cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
key=$(cat "$src/test/vm/mkinitramfs.sh" "$src/test/vm/nested-init.sh" "$src/test/vm/nested-lib.sh" | cksum | cut -d' ' -f1)
initrd=$cache/nested-$kver-$key.cpio.gz
[ -s "$initrd" ] || "$src/test/vm/mkinitramfs.sh" nested "$kver" "$initrd"

rc=0
# shellcheck disable=SC2086
"$src/test/vm/vm-run.sh" -s "$src" -s "$build" -s "$cache" -r "$results" -t "${PRH_RIG_PRHCTL_TIMEOUT:-600}" -- \
        "$src/src/cli/rig-prhctl.py" "$src" "$prhctl" $helpers "@results=$results" \
        "@kernel=$kernel" "@initrd=$initrd" || rc=$?
# nested boots tried again after an identified reset (rig_retry): shown, and
# counted by tools/run-tests through PRH_RETRY_LOG
if [ -s "$results/retries.log" ]; then
        cat "$results/retries.log" >&2
        [ -n "${PRH_RETRY_LOG:-}" ] && cat "$results/retries.log" >> "$PRH_RETRY_LOG"
fi
exit "$rc"
