#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of the prhctl rig scenario: boot the rig guest
# (test/vm/vm-run.sh) with the source and build trees shared and run
# rig-prhctl.py in it, once per helper: every prhctl command on a real LIO
# LU, checked against sg_persist's view over direct SG_IO.
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

# shellcheck disable=SC2086
exec "$src/test/vm/vm-run.sh" -s "$src" -s "$build" -r "$results" -t "${PRH_RIG_PRHCTL_TIMEOUT:-600}" -- \
        "$src/src/cli/rig-prhctl.py" "$src" "$prhctl" $helpers "@results=$results"
