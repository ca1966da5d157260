#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of the multipath rig scenario: boot the rig guest (../vm-run.sh)
# with the source and build trees shared and run mpath.sh in it.
#
#   run-mpath.sh SOURCE-DIR PRHD MPATH-PR [RESULTS-DIR]
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

exec "$src/test/vm/vm-run.sh" -s "$src" -s "$build" -r "$results" -t "${PRH_MPATH_TIMEOUT:-840}" -- \
        "$src/test/vm/mpath/mpath.sh" "$results" "$prhd" "$mpr"
