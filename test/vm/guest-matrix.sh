#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of the scenario matrix (issue item 1): LIO with one LU on
# two tcm_loop nexuses, the helpers started as daemons on their sockets,
# then pr-matrix compares every reply across direct SG_IO and each helper.
# Then the same over a second fabric, for what tcm_loop cannot run (a
# PREEMPT AND ABORT that succeeds deadlocks LIO through tcm_loop in Linux
# 6.1): a LU on LIO's iSCSI target at 127.0.0.1, logged in to by the
# kernel's initiator (open-iscsi) under two initiator names (iscsi-lib.sh).
# Each fabric has its own output and verdict; both must pass.
#
#   guest-matrix.sh RESULTS PR-MATRIX NAME=HELPER-BINARY... [-- PR-MATRIX-ARGS]
#
# e.g. guest-matrix.sh /res build/test/vm/pr-matrix \
#          qemu-pr-helper=/usr/bin/qemu-pr-helper prhd=build/src/daemon/prhd
# PR-MATRIX-ARGS (e.g. --only NAME,...) go to both pr-matrix runs; a fabric
# none of whose scenarios is selected is not set up.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/rig-lib.sh"
. "$here/iscsi-lib.sh"

results=$1
matrix=$2
shift 2

secs() {
        echo "$1 $2" | awk '{ printf "%.1f", $2 - $1 }'
}

helper_args=
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
        helper_args="$helper_args $1"
        shift
done
[ "$#" -gt 0 ] && shift

iscsi_args="--iscsi $(iscsi_tpg) --initiator-a $ISCSI_INI_A --initiator-b $ISCSI_INI_B --backstore $ISCSI_BACKSTORE"
iscsi_args="$iscsi_args --lu-file $ISCSI_LU_FILE"
# which fabrics the selection needs (pr-matrix refuses unknown names)
loop_sel=$("$matrix" --list "$@") || exit 1
# shellcheck disable=SC2086
iscsi_sel=$("$matrix" $iscsi_args --list "$@") || exit 1
if [ -n "$iscsi_sel" ] && ! { command -v iscsiadm && command -v iscsid; } > /dev/null; then
        echo "guest-matrix: SKIP: iscsiadm/iscsid missing (open-iscsi; see test/vm/setup-packages.sh)" >&2
        exit 77
fi

t0=$(rig_uptime)
lio_init
if [ -n "$iscsi_sel" ]; then
        # set up in the background while the tcm_loop matrix runs (it is
        # mostly waiting for exec over 9p): the two fabrics share nothing
        # but LIO's core, and pr-matrix finds each one's disks by its own
        # target port or session
        # shellcheck disable=SC2034 # read by iscsi_init
        ISCSI_LOG=$results/iscsid.log
        (
                iscsi_init
                iscsi_lu_create
                iscsi_login
                rig_log "iSCSI ready after $(secs "$t0" "$(rig_uptime)") s:" \
                        "A=$ISCSI_DEV_A ($ISCSI_INI_A) B=$ISCSI_DEV_B ($ISCSI_INI_B)"
        ) > "$results/iscsi-setup.log" 2>&1 &
        iscsi_setup=$!
fi
if [ -n "$loop_sel" ]; then
        lio_lu_create
        rig_log "LIO ready in $(secs "$t0" "$(rig_uptime)") s: A=$RIG_DEV_A ($RIG_SG_A) B=$RIG_DEV_B ($RIG_SG_B)"
fi

# Paths: direct SG_IO and each helper, each on the block node and on the
# sg node (NAME-sg); prhd once more with dropped privileges (prhd-u: -u
# nobody -g disk), as packagers start it.
helpers=--direct-sg
names=
for h in $helper_args; do
        name=${h%%=*}
        bin=${h#*=}
        helper_start "$name" "$bin" "/run/$name.sock"
        helpers="$helpers --helper $name=/run/$name.sock --helper-sg $name-sg=/run/$name.sock"
        names="$names $name"
        if ! "$bin" --version 2>/dev/null | grep -q '(prh)$'; then
                # the reference's 1 ms SG_IO timeout applies on sg nodes
                # (docs/compatibility.md row 5): when a command is still
                # in flight as the queue's timeout timer fires, it is timed
                # out, at random; shown, not judged (docs/faults.md)
                helpers="$helpers --observe $name-sg"
        fi
        if "$bin" --version 2>/dev/null | grep -q '(prh)$'; then
                uname=$name-u   # (helper_start sets name)
                helper_start "$uname" "$bin" "/run/$uname.sock" "" -u nobody -g disk
                # the drop must have happened: the rig proves nothing otherwise
                pid=$(cat "/run/$uname.pid")
                ids=$(awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } END { print u ":" g }' "/proc/$pid/status")
                [ "$ids" = "65534:6" ] || rig_die "$uname (pid $pid) runs as uid:gid $ids, not nobody:disk (65534:6)"
                rig_log "$uname runs as uid:gid $ids"
                helpers="$helpers --helper $uname=/run/$uname.sock"
                names="$names $uname"
        fi
done

# run_matrix OUT PR-MATRIX-ARGS...: its table goes to OUT and stdout; fails
# unless the verdict pr-matrix prints last is clean
run_matrix() {
        out=$1
        shift
        mrc=0
        # shellcheck disable=SC2086
        "$matrix" "$@" $helpers | tee "$out" || mrc=$?
        # tee hides the exit status in plain sh
        grep -q ': 0 mismatches, 0 unexpected outcomes, 0 call errors$' "$out" || mrc=1
        return "$mrc"
}

rc=0
if [ -n "$loop_sel" ]; then
        run_matrix "$results/pr-matrix.txt" --port-a "$RIG_TGT_WWN_A" --port-b "$RIG_TGT_WWN_B" \
                --lu-file "$RIG_LU_FILE" --log "$results/pr-matrix.log" "$@" || rc=1
fi

if [ -n "$iscsi_sel" ]; then
        src=0
        wait "$iscsi_setup" || src=$?
        cat "$results/iscsi-setup.log" >&2
        if [ "$src" != 0 ]; then
                rig_log "FAIL: the iSCSI set-up failed (exit $src, above): the iSCSI scenarios did not run"
                rc=1
        else
                # shellcheck disable=SC2086
                run_matrix "$results/pr-matrix-iscsi.txt" $iscsi_args --log "$results/pr-matrix-iscsi.log" "$@" || rc=1
        fi
fi

for name in $names; do
        if ! kill -0 "$(cat "/run/$name.pid")" 2>/dev/null; then
                rig_log "FAIL: helper $name died during the matrix"
                rc=1
        fi
        helper_stop "$name" || rc=1
done
exit "$rc"
