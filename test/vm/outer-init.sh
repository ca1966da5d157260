#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# /init of the outer rig guest (see vm-run.sh).  Loads the virtio/9p modules,
# mounts the host's root read-only at /host, the project shares and the
# writable results share at their own absolute paths inside it (the guest's
# tmpfs on /tmp and /run would otherwise hide a tree that lives there), and
# runs the command vm-run.sh wrote into the results share in a chroot.
# The command's exit status is written back to the results share; a missing
# status file tells the host the guest died.
/bin/busybox --install -s /bin
export PATH=/bin

die() {
        echo "outer-init: $*" >&2
        poweroff -f
        sleep 5
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

while read -r m; do
        insmod "/modules/$m.ko" || die "insmod $m failed"
done < /modules/order

results=
shares=
init=chroot
for arg in $(cat /proc/cmdline); do
        case "$arg" in
        prh.results=*) results=${arg#prh.results=} ;;
        prh.share=*) shares="$shares ${arg#prh.share=}" ;;
        prh.init=*) init=${arg#prh.init=} ;;
        esac
done
[ -n "$results" ] || die "no prh.results= on the kernel command line"

# cache=loose: root and project trees are read-only and do not change
# while the guest runs; it saves most of the 9p round trips on exec.
opts=trans=virtio,version=9p2000.L,msize=262144
if [ "$init" = systemd ]; then
        # systemd as PID 1 on a writable overlay over the host root (a
        # tmpfs upper: packages can be installed, nothing reaches the host)
        mkdir -p /lower /rw
        mount -t 9p -o "$opts,ro,cache=loose" hostroot /lower || die "cannot mount the host root"
        mount -t tmpfs -o mode=0755 tmpfs /rw
        mkdir -p /rw/upper /rw/work
        mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /host ||
                die "cannot mount the overlay root"
else
        mount -t 9p -o "$opts,ro,cache=loose" hostroot /host || die "cannot mount the host root"
fi
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
# Shares arrive shortest path first, so a build dir inside the source
# tree is mounted over it, not under a mount that hides it.
for s in $shares; do
        tag=${s%%:*}
        path=${s#*:}
        mkdir -p "/host$path" 2>/dev/null
        mount -t 9p -o "$opts,ro,cache=loose" "$tag" "/host$path" || die "cannot mount $tag at $path"
done
mkdir -p "/host$results" 2>/dev/null
mount -t 9p -o "$opts,rw" results "/host$results" || die "cannot mount the results share at $results"
# The LIO dbroot, chroot side (the initramfs side exists already).
mkdir -p /host/run/prh-target/pr /host/run/prh-target/alua

if [ "$init" = systemd ]; then
        # The host's own unit configuration (/etc/systemd/system: what it
        # enables, e.g. multipathd, podman) is not the guest's: an opaque
        # empty directory replaces it, with one unit that runs the command,
        # writes its status and powers off.  No fstab (the host's names
        # disks the guest lacks), no getty on the console.
        rm -rf /host/etc/systemd/system
        mkdir -p /host/etc/systemd/system/multi-user.target.wants
        : > /host/etc/fstab
        # a host root that is a container image says so (/.dockerenv), and
        # systemd would take this VM for a container: units with
        # ConditionVirtualization=!container (multipathd) would not start
        rm -f /host/.dockerenv
        ln -s /dev/null /host/etc/systemd/system/serial-getty@.service
        ln -s /dev/null /host/etc/systemd/system/getty@.service
        ln -s /dev/null /host/etc/systemd/system/console-getty.service
        cat > /host/etc/systemd/system/prh-rig.service <<EOF
[Unit]
Description=prh rig: the test command
After=multi-user.target
[Service]
Type=oneshot
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8 PRH_VM_GUEST=1
ExecStart=/bin/sh $results/.vm-cmd
ExecStopPost=/bin/sh -c 'echo \$\$EXIT_STATUS > $results/.vm-exit-status; sync; systemctl poweroff --force --force'
StandardInput=null
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
EOF
        ln -s ../prh-rig.service /host/etc/systemd/system/multi-user.target.wants/prh-rig.service
        echo "outer-init: up after $(cut -d' ' -f1 /proc/uptime)s, starting systemd"
        exec switch_root /host /lib/systemd/systemd systemd.unit=multi-user.target
fi
echo "outer-init: up after $(cut -d' ' -f1 /proc/uptime)s, running the test"
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/tmp TERM=dumb LANG=C.UTF-8 PRH_VM_GUEST=1 \
        chroot /host /bin/sh "$results/.vm-cmd" < /dev/console > /dev/console 2>&1
rc=$?
echo "$rc" > "/host$results/.vm-exit-status"
sync
echo "outer-init: test exited with $rc after $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
