#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what the VM rig needs on a Debian 12 machine (CI calls this before
# `meson test --suite rig`).  Only missing packages are installed; with
# --check nothing is installed and the exit status says whether all are there.
#
#   qemu-system-x86   qemu-system-x86_64 (outer and nested guests) and, through
#                     qemu-system-common, the reference /usr/bin/qemu-pr-helper
#   linux-image-amd64 /boot/vmlinuz-* and /lib/modules (LIO, tcm_loop, 9p, virtio)
#   busybox-static    the guests' initramfs
#   sg3-utils         sg_persist
#   libiscsi-bin      iscsi-test-cu
#   open-iscsi        iscsid, iscsiadm: the kernel initiator's logins to LIO's
#                     iSCSI target in the matrix (guest-matrix.sh, iscsi-lib.sh)
#   multipath-tools, udev   the multipath scenario (test/vm/mpath)
#   nftables          nft: rig-faults cuts the iSCSI portal's traffic (guest-faults.sh)
#   kmod, cpio        modinfo and the initramfs archive
#   libvirt-daemon-system, libvirt-clients   libvirt in the systemd guest
#                     (guest-systemd.sh): managed and unmanaged pr-helper
#   jq                docs/audit.md's journal recipes in the systemd guest
set -eu

packages="qemu-system-x86 linux-image-amd64 busybox-static sg3-utils libiscsi-bin open-iscsi multipath-tools udev kmod cpio nftables libvirt-daemon-system libvirt-clients jq"

missing=
for p in $packages; do
        if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
                missing="$missing $p"
        fi
done

if [ -z "$missing" ]; then
        echo "setup-packages: all rig packages installed"
        exit 0
fi
if [ "${1:-}" = --check ]; then
        echo "setup-packages: missing:$missing"
        exit 1
fi
echo "setup-packages: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
