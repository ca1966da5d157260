#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs in the build stage of the Containerfile, after the project's .debs
# are installed on the Debian 12 base: copies into OUT what prhd needs at
# run time and nothing else (prhd, prhctl, libprh, libmpathpersist and the
# libraries and plug-ins of multipath-tools it loads, dash and ln for the
# entrypoint, each with the shared libraries ldd names), keeping Debian's
# merged-/usr layout, and writes the list of Debian packages the files come
# from to OUT/usr/share/prh-image/packages.
#
#   collect-rootfs.sh OUT
set -euo pipefail
out=${1:?usage: collect-rootfs.sh OUT}
mkdir -p "$out"
# merged /usr, as on Debian 12
mkdir -p "$out"/usr/{bin,sbin,lib,lib64} "$out"/{etc,run,tmp,var,dev,proc,sys}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$out/$d"; done
ln -s ../run "$out/var/run"
chmod 1777 "$out/tmp"

declare -A done_
# copy PATH as it resolves, and make the name PATH (in its canonical
# directory) a link to it when that name is a symlink (sonames, ld.so)
copy() {
        local p=$1 real dir name
        real=$(realpath "$p")
        dir=$(realpath "$(dirname "$p")")
        name="$dir/$(basename "$p")"
        [ -n "${done_[$name]:-}" ] && return 0
        done_[$name]=1
        if [ ! -e "$out$real" ]; then
                mkdir -p "$out$(dirname "$real")"
                cp -a "$real" "$out$real"
        fi
        if [ "$name" != "$real" ] && [ ! -e "$out$name" ]; then
                mkdir -p "$out$dir"
                ln -s "$real" "$out$name"
        fi
}
# a file and every shared library ldd finds for it
with_libs() {
        local f lib
        for f in "$@"; do
                copy "$f"
                while read -r lib; do
                        copy "$lib"
                done < <(ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
        done
}

files=(/usr/sbin/prhd /usr/bin/prhctl /bin/dash /bin/ln /lib/libmpathpersist.so.0)
files+=(/lib/multipath/*.so)
# glibc dlopen()s libgcc_s.so.1 (ldd does not name it) to unwind a thread
# that calls pthread_exit() or is cancelled, as libmpathpersist's per-path
# threads are; without it glibc aborts the process ("libgcc_s.so.1 must be
# installed for pthread_exit to work"), which prhd's seccomp filter turns
# into SIGSYS: rig-container's first REGISTER on a multipath map killed prhd
[ -e /lib/x86_64-linux-gnu/libgcc_s.so.1 ] || { echo "collect-rootfs: no libgcc_s.so.1 in the base" >&2; exit 1; }
files+=(/lib/x86_64-linux-gnu/libgcc_s.so.1)
with_libs "${files[@]}"
ln -s dash "$out/usr/bin/sh"
# KubeVirt's older releases run /usr/bin/qemu-pr-helper directly
ln -s ../sbin/prhd "$out/usr/bin/qemu-pr-helper"

# the loader's cache, for the multiarch directory (prhd dlopen()s
# libmpathpersist.so.0 by name)
cp -a /etc/ld.so.conf /etc/ld.so.conf.d "$out/etc/"
ldconfig -r "$out"
# root only: the helper runs as root (KubeVirt: privileged, runAsUser 0)
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$out/etc/passwd"
printf 'root:x:0:\nkvm:x:%s:\n' "$(getent group kvm | cut -d: -f3)" > "$out/etc/group"

# where each file comes from, for scanners and for people
mkdir -p "$out/usr/share/prh-image"
(cd "$out" && find . -type f -printf '/%P\n') | while read -r f; do
        dpkg -S "$f" 2>/dev/null || dpkg -S "$(realpath -m "/${f#/usr}")" 2>/dev/null || true
done | cut -d: -f1 | sort -u | while read -r p; do
        dpkg-query -W -f='${Package} ${Version}\n' "$p"
done > "$out/usr/share/prh-image/packages"
