#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of rig-sgio-device: boot the rig guest (../vm-run.sh) with the
# source and build trees shared, load the cuse module there (the host has
# none) and run sgio-device-test against both helpers.
#
#   run-sgio.sh SOURCE BUILD RESULTS SGIO-CUSE SGIO-DEVICE-TEST REFERENCE PRHD
#
# Exit status: the test's; 77 (skipped) if the machine cannot run the rig
# (not root, no QEMU, no kernel with modules: test/vm/setup-packages.sh).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd -P)
src=$(cd "${1:?missing SOURCE}" && pwd -P)
build=$(cd "${2:?missing BUILD}" && pwd -P)
results=${3:?missing RESULTS}
cuse=${4:?missing SGIO-CUSE}
test=${5:?missing SGIO-DEVICE-TEST}
reference=${6:?missing REFERENCE}
prhd=${7:?missing PRHD}

skip() {
        echo "run-sgio: SKIP: $*" >&2
        exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (CUSE, helpers that drop privileges)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (qemu-system-x86)"
command -v cpio >/dev/null || skip "cpio missing (see test/vm/setup-packages.sh)"
[ -x /bin/busybox ] || skip "busybox missing (busybox-static)"
kinfo=$("$here/vm-run.sh" -K 2>/dev/null) || skip "no /boot/vmlinuz-* with modules (linux-image-amd64)"
kver=${kinfo#* }
[ -n "$(find "/lib/modules/$kver" -name 'cuse.ko*' -print -quit)" ] ||
        skip "the guest kernel $kver has no cuse module"
for b in "$cuse" "$test" "$reference" "$prhd"; do
        [ -x "$b" ] || skip "$b not built/installed"
done

cache=${PRH_VM_CACHE:-$build/test/vm/cache}
mkdir -p "$cache" "$results"
results=$(cd "$results" && pwd -P)
find "$results" -mindepth 1 -delete

start=$(date +%s)
rc=0
"$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -t "${PRH_RIG_TIMEOUT:-600}" -- \
        sh -c 'modprobe cuse || { echo "run-sgio: modprobe cuse failed" >&2; exit 1; }
               exec "$@"' sgio "$test" "$cuse" "$reference" "$prhd" || rc=$?
echo "run-sgio: guest exit status $rc after $(($(date +%s) - start)) s (console: $results/console.log)"
exit "$rc"
