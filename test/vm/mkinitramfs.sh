#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build a tiny initramfs (busybox-static, a module list and an /init) for the
# VM rig, in a cache directory.  Used for both levels of guests:
#
#   mkinitramfs.sh outer  KVER OUT            busybox + virtio/9p modules + outer-init.sh
#   mkinitramfs.sh nested KVER OUT            busybox + virtio-scsi/sd/sg modules + nested-init.sh
#                                             + sg_persist, sg_raw, iscsi-test-cu and their libraries
#
# Modules are resolved with `modinfo -F depends` into dependency order (a
# wrong order fails in the guest with "unknown symbol"); built-in ones are
# skipped.  The output is written atomically (temp file + rename), so
# parallel tests sharing one cache never see a half-written image.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
kind=${1:?usage: mkinitramfs.sh outer|nested KVER OUT}
kver=${2:?missing kernel version}
out=${3:?missing output path}

case "$kind" in
outer)
        # 9p root share; the rest (LIO, sd, sg, ...) is modprobe'd from the
        # chroot, where the host's /lib/modules is visible.
        want_mods="virtio_pci 9pnet_virtio 9p overlay"
        init="$here/outer-init.sh"
        libs=""
        progs=""
        ;;
nested)
        want_mods="virtio_pci virtio_scsi sd_mod sg crc64_rocksoft"
        init="$here/nested-init.sh"
        libs="$here/nested-lib.sh"
        progs="sg_persist sg_turs sg_inq sg_raw iscsi-test-cu"
        ;;
*)
        echo "mkinitramfs.sh: unknown kind '$kind'" >&2
        exit 2
        ;;
esac

busybox=/bin/busybox
[ -x "$busybox" ] || busybox=/usr/bin/busybox
if ! "$busybox" --list 2>/dev/null | grep -qx insmod; then
        echo "mkinitramfs.sh: need busybox-static ($busybox)" >&2
        exit 1
fi
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' && ldd "$busybox" >/dev/null 2>&1; then
        echo "mkinitramfs.sh: $busybox is not static (install busybox-static)" >&2
        exit 1
fi

work=$(mktemp -d "${out}.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/modules" "$work/proc" "$work/sys" "$work/dev" \
         "$work/tmp" "$work/run" "$work/host" "$work/etc" "$work/root"
cp "$busybox" "$work/bin/busybox"
cp "$init" "$work/init"
chmod 755 "$work/init"
mkdir -p "$work/lib"
for f in $libs; do
        cp "$f" "$work/lib/"
done
# LIO resolves its dbroot from the kernel thread's root, i.e. this
# initramfs, not the chroot: the directory must exist here too.
mkdir -p "$work/run/prh-target/pr" "$work/run/prh-target/alua"

# Dependency-ordered module list.
seen=" "
order=""
# shellcheck disable=SC3043 # dash and busybox sh have local; recursion needs it
add_mod() {
        local fn name d key
        # module names are spelt with '-' or '_' interchangeably
        key=$(echo "$1" | tr - _)
        case "$seen" in *" $key "*) return 0 ;; esac
        seen="$seen$key "
        # an alias (softdeps name e.g. "crct10dif") may match several
        # modules: prefer the portable *_generic one over CPU-specific ones
        fn=$(modinfo -k "$kver" -F filename "$1" 2>/dev/null | awk '/generic/ { g = $0 } NR == 1 { f = $0 } END { print g ? g : f }')
        if [ -z "$fn" ]; then
                echo "mkinitramfs.sh: module $1 not found for $kver" >&2
                exit 1
        fi
        case "$fn" in
        "(builtin)"|"") return 0 ;;
        esac
        name=$(basename "$fn")
        name=${name%%.ko*}
        key=$(echo "$name" | tr - _)
        case "$seen" in *" $key "*) ;; *) seen="$seen$key " ;; esac
        for d in $(modinfo -k "$kver" -F depends "$fn" | tr ',' ' '); do
                add_mod "$d"
        done
        # softdeps such as crc-t10dif's "pre: crct10dif" are needed too
        for d in $(modinfo -k "$kver" -F softdep "$fn" 2>/dev/null | tr ' ' '\n' | grep -v ':$' || true); do
                modinfo -k "$kver" -F filename "$d" >/dev/null 2>&1 && add_mod "$d"
        done
        case "$fn" in
        *.ko.xz) xz -dc "$fn" > "$work/modules/$name.ko" ;;
        *.ko.zst) zstd -qdc "$fn" > "$work/modules/$name.ko" ;;
        *.ko.gz) gzip -dc "$fn" > "$work/modules/$name.ko" ;;
        *) cp "$fn" "$work/modules/$name.ko" ;;
        esac
        order="$order$name
"
}
for m in $want_mods; do
        add_mod "$m"
done
printf '%s' "$order" > "$work/modules/order"

# Programs and the shared libraries ldd lists for them.
copy_file() {
        mkdir -p "$work$(dirname "$1")"
        cp -L "$1" "$work$1"
}
for p in $progs; do
        path=$(command -v "$p") || {
                echo "mkinitramfs.sh: $p not installed" >&2
                exit 1
        }
        copy_file "$path"
        for lib in $(ldd "$path" | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p'); do
                [ -e "$work$lib" ] || copy_file "$lib"
        done
done
if [ -n "$progs" ]; then
        # the dynamic loader is also reachable as /lib64/ld-linux-x86-64.so.2
        l="$work/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        if [ -e "$l" ] && [ ! -e "$work/lib64/ld-linux-x86-64.so.2" ]; then
                mkdir -p "$work/lib64"
                cp "$l" "$work/lib64/"
        fi
fi

(cd "$work" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$work.cpio.gz"
mv -f "$work.cpio.gz" "$out"
