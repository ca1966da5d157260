# SPDX-License-Identifier: GPL-2.0-or-later
#
# Sourced by the nested guests' /init scripts (nested-init.sh and
# mpath/nested-mpath-init.sh); mkinitramfs.sh puts it at /lib/nested-lib.sh.
# Their output goes to the console: each test framed by "@@BEGIN name" and
# "@@END name rc=N", "@@FATAL why" when the guest cannot go on.

# poweroff -f does not wait for the serial line: what user space wrote last
# may still sit in the tty buffer and be lost.  Wait until the UART's
# transmit counter stops moving (at most about 5 s) before powering off.
power_off() {
        prev=
        for _ in $(seq 1 50); do
                tx=$(sed -n 's/^0:.* tx:\([0-9]*\).*/\1/p' /proc/tty/driver/serial 2>/dev/null)
                [ -n "$tx" ] && [ "$tx" = "$prev" ] && break
                prev=$tx
                sleep 0.1
        done
        poweroff -f
}

fail() {
        echo "@@FATAL $*"
        power_off
}

# The modules mkinitramfs.sh put in /modules, in /modules/order.
load_modules() {
        while read -r m; do
                insmod "/modules/$m.ko" || fail "insmod $m"
        done < /modules/order
}

# t NAME COMMAND...: run one test, its output framed for the host's report.
t() {
        name=$1
        shift
        echo "@@BEGIN $name"
        "$@" 2>&1
        echo "@@END $name rc=$?"
}
