#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of the VM rig tests (meson suite "rig"): check the machine can
# run the rig, then boot the outer guest (vm-run.sh) with the source and
# build trees shared and run one scenario in it.
#
#   run-rig.sh boot   SOURCE BUILD RESULTS
#   run-rig.sh matrix SOURCE BUILD RESULTS NAME=HELPER... [-- PR-MATRIX-ARGS]
#   run-rig.sh qemu   SOURCE BUILD RESULTS NAME=HELPER...
#       (PRH_NESTED_QEMU_ROOT=DIR: the nested QEMU is DIR's, e.g. QEMU 10.0)
#   run-rig.sh fdscope SOURCE BUILD RESULTS NAME=HELPER...
#   run-rig.sh faults SOURCE BUILD RESULTS NAME=HELPER...
#   run-rig.sh systemd SOURCE BUILD RESULTS [DEBDIR]   (default: $PRH_DEBS)
#   run-rig.sh container SOURCE BUILD RESULTS      (PRH_IMAGE: the image, tools/build-image)
#
# boot:   the rig itself: the guest sees the trees at their own paths, its
#         exit status comes back, a hung guest is killed and reported, and so
#         is a guest whose vCPUs stop running.
# matrix: pr-matrix (BUILD/test/vm/pr-matrix) over direct SG_IO and each helper,
#         then the large replies as a nested QEMU's guest sees them
#         (PRH_MATRIX_NESTED=0: not).
# qemu:   nested QEMU with pr-manager-helper on each helper (guest-qemu.sh),
#         compared and reported on the host (qemu-report.sh).
# fdscope: which fds each helper acts on: whole disk, sg node, partition,
#         dm-linear of half and of all the disk, regular file (guest-fd-scope.sh).
# faults: network cuts on the iSCSI portal, a stalled LU's effect on another,
#         a disk deleted mid-request (guest-faults.sh, pr-faults; docs/faults.md).
# systemd: the guest with systemd as PID 1, the .debs of DEBDIR or $PRH_DEBS
#         (tools/check-packaging) installed, socket activation, libvirt, audit
#         records in the journal, multipath (guest-systemd.sh).
# container: the prhd image (PRH_IMAGE) in the guest as KubeVirt runs it: nested
#         QEMUs through it, podman stop/start, multipath (guest-container.sh).
#
# The initramfs images are cached in $PRH_VM_CACHE (default BUILD/test/vm/cache).
# Exit status: the scenario's; 77 (skipped) if the machine lacks something
# the rig needs (test/vm/setup-packages.sh installs it).
set -eu
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=test/vm/rig-lib.sh
. "$here/rig-lib.sh"    # helper_log_check
scenario=${1:?usage: run-rig.sh boot|matrix|qemu|fdscope|faults|systemd|container SOURCE BUILD RESULTS [NAME=HELPER]...}
src=$(cd "${2:?missing SOURCE}" && pwd -P)
build=$(cd "${3:?missing BUILD}" && pwd -P)
results=${4:?missing RESULTS}
shift 4

skip() {
        echo "run-rig: SKIP: $*" >&2
        exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (LIO, SG_IO, helpers that drop privileges)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (qemu-system-x86)"
for p in sg_persist iscsi-test-cu modinfo cpio; do
        command -v "$p" >/dev/null || skip "$p missing (see test/vm/setup-packages.sh)"
done
[ -x /bin/busybox ] || skip "busybox missing (busybox-static)"
kinfo=$("$here/vm-run.sh" -K 2>/dev/null) || skip "no /boot/vmlinuz-* with modules (linux-image-amd64)"
kernel=${kinfo% *}
kver=${kinfo#* }
# NAME=HELPER arguments, up to a "--" (matrix: pr-matrix's own arguments follow)
for h in "$@"; do
        [ "$h" = -- ] && break
        [ -x "${h#*=}" ] || skip "helper ${h#*=} not built/installed"
done

cache=${PRH_VM_CACHE:-$build/test/vm/cache}
mkdir -p "$cache" "$results"
results=$(cd "$results" && pwd -P)
# results of an earlier run must not be mistaken for this one's
find "$results" -mindepth 1 -delete

vm() {
        "$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" "$@"
}

# pass_retries FILE: print FILE's "RETRY <test>: <evidence>" lines and add
# them to PRH_RETRY_LOG when it is set (tools/run-tests counts them).
pass_retries() {
        [ -s "$1" ] || return 0
        cat "$1" >&2
        if [ -n "${PRH_RETRY_LOG:-}" ]; then
                cat "$1" >> "$PRH_RETRY_LOG"
        fi
}

# require_ran NAME TEST...: fail (rc=1) unless the nested guest with helper
# NAME ran each TEST (its RESULTS/qemu-NAME/TEST.rc exists)
require_ran() {
        _n=$1
        shift
        for _t in "$@"; do
                if [ ! -e "$results/qemu-$_n/$_t.rc" ]; then
                        echo "run-rig: FAIL: the nested guest with $_n did not run $_t" >&2
                        rc=1
                fi
        done
}

# outer_retry RESULTS NAME=HELPER...: after a failed rig-qemu run, print the
# evidence and succeed only if the outer guest stalled (vm-run.sh's vCPU
# watch) or reset (QEMU exit 0 without the guest's exit status), no nested
# QEMU printed anything, every helper's log is clean (helper_log_check),
# no helper failed to stop or start, and every test that finished with all
# helpers gave identical results and its required outcome
# (qemu-report.sh --partial).  Otherwise say why not and fail.
outer_retry() {
        _r=$1
        shift
        _end=$(cat "$_r/.vm-end" 2>/dev/null || echo "none")
        case "$_end" in
        stalled) _ev="the outer guest stalled (vm-run: $(sed 's/^vm-run: //' "$_r/.vcpu-stalled" 2>/dev/null))" ;;
        "no-status qemu-exit=0") _ev="the outer guest reset (QEMU exit 0, no exit status from the guest)" ;;
        *)
                echo "run-rig: not retried: the outer guest ended with '$_end', not a stall or reset" >&2
                return 1
                ;;
        esac
        _names=
        for _h in "$@"; do
                _n=${_h%%=*}
                _names="$_names $_n"
                for _f in "$_r/qemu-$_n/qemu.log" "$_r/qemu-$_n"/boot-*/qemu.log; do
                        if [ -s "$_f" ]; then
                                echo "run-rig: not retried: $_f is not empty:" >&2
                                sed 's/^/  /' "$_f" >&2
                                return 1
                        fi
                done
                for _f in helper-stop helper-start helper-log helper-state; do
                        if [ -e "$_r/qemu-$_n/$_f" ]; then
                                echo "run-rig: not retried: helper $_n: $(cat "$_r/qemu-$_n/$_f")" >&2
                                return 1
                        fi
                done
                if [ -e "$_r/helper-logs/$_n.stderr" ]; then
                        if ! _l=$(helper_log_check "$_n" "$_r/helper-logs"); then
                                echo "run-rig: not retried: $_l" >&2
                                return 1
                        fi
                        _ev="$_ev; $_l"
                else
                        _ev="$_ev; $_n not started yet"
                fi
        done
        # shellcheck disable=SC2086
        if ! "$here/qemu-report.sh" --partial "$_r" $_names > "$_r/report-partial.txt" 2>&1; then
                cat "$_r/report-partial.txt" >&2
                echo "run-rig: not retried: the tests that finished already fail (above)" >&2
                return 1
        fi
        echo "$_ev; nested QEMU logs empty; $(grep -c ' identical$' "$_r/report-partial.txt") finished tests identical"
}

# matrix_outer_retry RESULTS: after a failed rig-matrix run, print the
# evidence and succeed only if the outer guest stalled (vm-run.sh's vCPU
# watch) or reset (QEMU exit 0 without the guest's exit status) and nothing
# had failed before it: no FAIL, FATAL, MISMATCH or UNEXPECTED on its
# console, every pr-matrix verdict printed so far clean, no nested QEMU
# that printed anything.  Otherwise say why not and fail.
matrix_outer_retry() {
        _r=$1
        _end=$(cat "$_r/.vm-end" 2>/dev/null || echo "none")
        case "$_end" in
        stalled) _ev="the outer guest stalled (vm-run: $(sed 's/^vm-run: //' "$_r/.vcpu-stalled" 2>/dev/null))" ;;
        "no-status qemu-exit=0") _ev="the outer guest reset (QEMU exit 0, no exit status from the guest)" ;;
        *)
                echo "run-rig: not retried: the outer guest ended with '$_end', not a stall or reset" >&2
                return 1
                ;;
        esac
        _con=$(tr -d '\r' < "$_r/console.log" 2>/dev/null || true)
        _bad=$(printf '%s\n' "$_con" | grep -E 'FAIL|FATAL|MISMATCH|UNEXPECTED' | head -n 5)
        if [ -n "$_bad" ]; then
                echo "run-rig: not retried: something had failed before the end:" >&2
                printf '%s\n' "$_bad" >&2
                return 1
        fi
        _v=$(printf '%s\n' "$_con" | grep '^pr-matrix: .* mismatches' || true)
        if printf '%s\n' "$_v" | grep -v '^$' | grep -qv ': 0 mismatches, 0 unexpected outcomes, 0 call errors$'; then
                echo "run-rig: not retried: a pr-matrix verdict is not clean: $_v" >&2
                return 1
        fi
        for _f in "$_r"/large-nested/*/qemu.log; do
                if [ -s "$_f" ]; then
                        echo "run-rig: not retried: $_f is not empty:" >&2
                        sed 's/^/  /' "$_f" >&2
                        return 1
                fi
        done
        _panic=$(printf '%s\n' "$_con" | grep -m1 -E 'Kernel panic|BUG: |soft lockup' | sed 's/^\[ *[0-9.]*\] //' || true)
        [ -n "$_panic" ] && _ev="$_ev, the outer kernel said: $_panic"
        echo "$_ev; $(printf '%s\n' "$_v" | grep -c 'mismatches') pr-matrix verdicts so far, all clean; no FAIL, MISMATCH or UNEXPECTED on the console"
}

case "$scenario" in
boot)
        # 1. exit status and shares: the guest checks it sees both trees at
        #    their host paths, the kernel's modules, and a writable results dir
        rc=0
        vm -t 120 -- sh -c "test -f '$src/test/vm/run-rig.sh' && test -d '$build' &&
                test -d /lib/modules/\$(uname -r)/kernel && echo ok > '$results/from-guest' && exit 42" || rc=$?
        if [ "$rc" != 42 ] || [ "$(cat "$results/from-guest" 2>/dev/null)" != ok ]; then
                echo "run-rig: FAIL: guest exit status $rc (want 42) / results share not written" >&2
                exit 1
        fi
        echo "run-rig: guest exit status and shares: ok"
        # 2. a hung guest is killed after the timeout and reported as such (the
        #    timeout leaves room for a slow boot on a loaded machine: the
        #    guest must have printed its marker before it hangs)
        rc=0
        vm -t "${PRH_RIG_HANG_TIMEOUT:-50}" -- sh -c 'echo guest-is-hanging; sleep 1000' > "$results/hang.out" 2>&1 || rc=$?
        if [ "$rc" != 124 ] || ! grep -q guest-is-hanging "$results/hang.out" || ! grep -q TIMEOUT "$results/hang.out"; then
                cat "$results/hang.out"
                echo "run-rig: FAIL: hung guest: exit $rc (want 124) / console or TIMEOUT report missing" >&2
                exit 1
        fi
        echo "run-rig: hung guest killed and reported with its console: ok"
        # 3. a guest whose vCPU stops for good (seen with nested KVM, see
        #    vm-run.sh) is killed long before the timeout: QEMU is frozen
        #    with SIGSTOP for longer than the vCPU watch's limit
        rc=0
        env PRH_VM_VCPU_STALL=10 "$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -t 600 -- \
                sh -c 'echo guest-is-up; sleep 1000' > "$results/stall.out" 2>&1 &
        vpid=$!
        q=
        for _ in $(seq 1 300); do
                if grep -q guest-is-up "$results/console.log" 2>/dev/null; then
                        for p in $(pgrep -x qemu-system-x86); do
                                if grep -qa "path=$results/console.log" "/proc/$p/cmdline"; then
                                        q=$p
                                fi
                        done
                        break
                fi
                sleep 1
        done
        if [ -n "$q" ]; then
                kill -STOP "$q"
                sleep 20
                kill -CONT "$q"
        fi
        wait "$vpid" || rc=$?
        if [ -z "$q" ] || [ "$rc" != 124 ] || ! grep -q STALLED "$results/stall.out"; then
                cat "$results/stall.out"
                echo "run-rig: FAIL: stopped vCPUs: exit $rc (want 124) / STALLED report missing" >&2
                exit 1
        fi
        echo "run-rig: guest with stopped vCPUs killed and reported: ok"
        ;;
matrix)
        [ "$#" -ge 1 ] || { echo "run-rig: matrix needs NAME=HELPER" >&2; exit 2; }
        # then the large replies through nested QEMUs (guest-matrix.sh);
        # PRH_MATRIX_NESTED=0 leaves them out (by hand only)
        initrd=
        if [ "${PRH_MATRIX_NESTED:-1}" = 1 ]; then
                key=$(cat "$here/mkinitramfs.sh" "$here/nested-init.sh" "$here/nested-lib.sh" | cksum | cut -d' ' -f1)
                initrd=$cache/nested-$kver-$key.cpio.gz
                [ -s "$initrd" ] || "$here/mkinitramfs.sh" nested "$kver" "$initrd"
        fi
        # An outer guest that stalls or resets (nested KVM on its emulated
        # SVM, see rig-qemu) is booted again, up to PRH_RIG_ATTEMPTS (2) in
        # all, only if nothing had failed yet (matrix_outer_retry); anything
        # else fails at once.  The attempt's files stay in RESULTS/attempt-N.
        attempts=${PRH_RIG_ATTEMPTS:-2}
        attempt=1
        while :; do
                rc=0
                "$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -t "${PRH_RIG_TIMEOUT:-900}" -- \
                        env "PRH_MATRIX_NESTED=${PRH_MATRIX_NESTED:-1}" "PRH_MATRIX_KERNEL=$kernel" "PRH_MATRIX_INITRD=$initrd" \
                        "PRH_NESTED_ACCEL=${PRH_NESTED_ACCEL:-}" \
                        "$here/guest-matrix.sh" "$results" "$build/test/vm/pr-matrix" "$@" || rc=$?
                # the nested boots the guest tried again (rig_nested_retry)
                pass_retries "$results/retries.log"
                if [ "$rc" != 0 ] && [ "$attempt" -lt "$attempts" ] && ev=$(matrix_outer_retry "$results"); then
                        mkdir "$results/attempt-$attempt"
                        find "$results" -mindepth 1 -maxdepth 1 ! -name 'attempt-*' -exec mv {} "$results/attempt-$attempt/" \;
                        echo "RETRY rig-matrix: attempt $attempt of $attempts: $ev; its files are in $results/attempt-$attempt" > "$results/.outer-retry"
                        pass_retries "$results/.outer-retry"
                        mv "$results/.outer-retry" "$results/attempt-$attempt/"
                        attempt=$((attempt + 1))
                        continue
                fi
                break
        done
        exit "$rc"
        ;;
fdscope)
        [ "$#" -ge 1 ] || { echo "run-rig: fdscope needs NAME=HELPER" >&2; exit 2; }
        command -v dmsetup >/dev/null || skip "dmsetup missing (dmsetup)"
        exec "$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -t "${PRH_RIG_TIMEOUT:-600}" -- \
                "$here/guest-fd-scope.sh" "$results" "$build/src/cli/prhctl" "$@"
        ;;
faults)
        [ "$#" -ge 1 ] || { echo "run-rig: faults needs NAME=HELPER" >&2; exit 2; }
        command -v nft >/dev/null || skip "nft missing (nftables)"
        exec "$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -t "${PRH_RIG_TIMEOUT:-600}" -- \
                "$here/guest-faults.sh" "$results" "$build/test/vm/pr-faults" "$@"
        ;;
qemu)
        [ "$#" -ge 1 ] || { echo "run-rig: qemu needs NAME=HELPER" >&2; exit 2; }
        # PRH_NESTED_QEMU_ROOT: the nested guests' QEMU is the one unpacked
        # there (tools/fetch-qemu10), not the system's (rig_nested_qemu)
        qbin=qemu-system-x86_64
        if [ -n "${PRH_NESTED_QEMU_ROOT:-}" ]; then
                qbin=$PRH_NESTED_QEMU_ROOT/usr/bin/qemu-system-x86_64
                [ -x "$qbin" ] || skip "no QEMU unpacked in $PRH_NESTED_QEMU_ROOT (tools/fetch-qemu10)"
        fi
        qversion=$("$qbin" -version | head -n1)
        echo "run-rig: nested QEMU: $qversion"
        key=$(cat "$here/mkinitramfs.sh" "$here/nested-init.sh" "$here/nested-lib.sh" | cksum | cut -d' ' -f1)
        initrd=$cache/nested-$kver-$key.cpio.gz
        [ -s "$initrd" ] || "$here/mkinitramfs.sh" nested "$kver" "$initrd"
        # The nested guests run under KVM on the outer guest's emulated SVM,
        # which is fast but not fully reliable: now and then the outer guest
        # resets, or one of its vCPUs stops for good (vm-run.sh then ends it
        # within a minute).  Only such a run, with nothing in it pointing at a
        # helper (outer_retry), is tried again, up to PRH_RIG_ATTEMPTS (3) in
        # all; every other failure, e.g. a difference between the helpers,
        # fails at once.  A retried attempt's files stay in RESULTS/attempt-N.
        attempts=${PRH_RIG_ATTEMPTS:-3}
        attempt=1
        # the test's name in RETRY lines: rig-qemu10 runs this scenario with QEMU 10.0
        if [ -n "${PRH_NESTED_QEMU_ROOT:-}" ]; then testname=rig-qemu10; else testname=rig-qemu; fi
        while :; do
                rc=0
                # the outer guest starts its command with an empty environment:
                # pass the nested guests' settings on explicitly
                "$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -m 2048 \
                        -t "${PRH_RIG_TIMEOUT:-600}" -- \
                        env "PRH_NESTED_ACCEL=${PRH_NESTED_ACCEL:-}" "PRH_NESTED_SERIAL=${PRH_NESTED_SERIAL:-0}" \
                        "PRH_NESTED_QEMU_ROOT=${PRH_NESTED_QEMU_ROOT:-}" "PRH_RIG_NAME=$testname" \
                        "$here/guest-qemu.sh" "$results" "$kernel" "$initrd" "$@" || rc=$?
                # the nested boots the guest tried again (rig_nested_retry)
                pass_retries "$results/retries.log"
                if [ "$rc" != 0 ] && [ "$attempt" -lt "$attempts" ] && ev=$(outer_retry "$results" "$@"); then
                        mkdir "$results/attempt-$attempt"
                        find "$results" -mindepth 1 -maxdepth 1 ! -name 'attempt-*' -exec mv {} "$results/attempt-$attempt/" \;
                        echo "RETRY $testname: attempt $attempt of $attempts: $ev; its files are in $results/attempt-$attempt" > "$results/.outer-retry"
                        pass_retries "$results/.outer-retry"
                        mv "$results/.outer-retry" "$results/attempt-$attempt/"
                        attempt=$((attempt + 1))
                        continue
                fi
                # compare and report on the host, also after a failed run (partial results)
                "$here/qemu-report.sh" "$results" || rc=1
                # every nested guest ran under the QEMU asked for
                for h in "$@"; do
                        f=$results/qemu-${h%%=*}/qemu-version
                        if [ "$(cat "$f" 2>/dev/null)" != "$qversion" ]; then
                                echo "run-rig: FAIL: nested QEMU with ${h%%=*}: '$(cat "$f" 2>/dev/null)', not '$qversion'" >&2
                                rc=1
                        fi
                done
                break
        done
        exit "$rc"
        ;;
systemd)
        # the .debs: DEBDIR, else $PRH_DEBS (tools/run-tests builds them
        # before the meson run and sets it)
        debdir=${1:-${PRH_DEBS:-}}
        if [ -z "$debdir" ]; then
                echo "run-rig: FAIL: rig-systemd needs the Debian packages: build them with 'tools/check-packaging DIR' and run with PRH_DEBS=DIR (tools/run-tests does both)" >&2
                exit 1
        fi
        debdir=$(cd "$debdir" && pwd -P) || { echo "run-rig: FAIL: PRH_DEBS/DEBDIR '$debdir' is not a directory" >&2; exit 1; }
        ls "$debdir"/prhd_*.deb >/dev/null 2>&1 ||
                { echo "run-rig: FAIL: no prhd_*.deb in $debdir (did tools/check-packaging fail?)" >&2; exit 1; }
        for p in multipathd multipath dmsetup systemctl virsh libvirtd jq; do
                command -v "$p" >/dev/null || skip "$p missing (see test/vm/setup-packages.sh)"
        done
        key=$(cat "$here/mkinitramfs.sh" "$here/nested-init.sh" "$here/nested-lib.sh" | cksum | cut -d' ' -f1)
        initrd=$cache/nested-$kver-$key.cpio.gz
        [ -s "$initrd" ] || "$here/mkinitramfs.sh" nested "$kver" "$initrd"
        lv="lv-qemu-pr-helper lv-prhd lv-prhd-b um-prhd um-qemu-pr-helper"
        # An outer guest that stalled (vm-run.sh's vCPU watch) or reset (QEMU
        # exit 0 without the guest's status: with panic=-1 and -no-reboot
        # also a kernel panic, the nested-KVM fault of docs/testing.md) is
        # booted again, up to PRH_RIG_ATTEMPTS (3: the panic ended 3 of 9
        # boots on 2026-12-02) in all, only if no check
        # had failed and nothing was fatal (no FAIL: / rig: FAIL / rig: FATAL
        # line on its console), no helper failed to stop or start, the
        # section-2 nested QEMUs wrote nothing, and the nested guests that
        # finished gave identical transcripts (qemu-report.sh --partial).
        # Anything else, a timeout too, fails at once.  The attempt's files
        # stay in RESULTS/attempt-N.
        attempts=${PRH_RIG_ATTEMPTS:-3}
        attempt=1
        while :; do
                rc=0
                # (12-14 min beside another rig test: docs/testing.md)
                "$here/vm-run.sh" -S -c "$cache" -s "$src" -s "$build" -s "$debdir" -r "$results" -m 3072 \
                        -t "${PRH_RIG_TIMEOUT:-1200}" -- \
                        "$here/guest-systemd.sh" "$results" "$kernel" "$initrd" "$debdir" || rc=$?
                pass_retries "$results/retries.log"
                [ "$rc" = 0 ] || [ "$attempt" -ge "$attempts" ] && break
                end=$(cat "$results/.vm-end" 2>/dev/null || echo none)
                case "$end" in
                stalled) ev="the outer guest stalled ($(sed 's/^vm-run: //' "$results/.vcpu-stalled" 2>/dev/null))" ;;
                "no-status qemu-exit=0")
                        p=$(grep -a -m1 'Kernel panic' "$results/console.log" | tr -d '\r')
                        ev="the outer guest ended without an exit status, QEMU exit 0 (${p:-no kernel panic on its console: a reset})"
                        ;;
                *)
                        echo "run-rig: not retried: the outer guest ended with '$end', not a stall, reset or kernel panic" >&2
                        break
                        ;;
                esac
                if f=$(grep -a -m1 -E '(^|: )(FAIL:|rig: FAIL|rig: FATAL)' "$results/console.log"); then
                        echo "run-rig: not retried: a check had failed before the outer guest ended: $f" >&2
                        break
                fi
                f=$(ls "$results"/qemu-*/helper-stop "$results"/qemu-*/helper-start 2>/dev/null | head -n 1)
                if [ -n "$f" ]; then
                        echo "run-rig: not retried: $f: $(cat "$f")" >&2
                        break
                fi
                f=$(find "$results"/qemu-prhd-systemd "$results"/qemu-qemu-pr-helper -name qemu.log -size +0 2>/dev/null | head -n 1)
                if [ -n "$f" ]; then
                        echo "run-rig: not retried: $f is not empty:" >&2
                        sed 's/^/  /' "$f" >&2
                        break
                fi
                # shellcheck disable=SC2086
                if ! { "$here/qemu-report.sh" --partial "$results" qemu-pr-helper prhd-systemd &&
                        "$here/qemu-report.sh" --partial "$results" $lv; } > "$results/report-partial.txt" 2>&1; then
                        cat "$results/report-partial.txt" >&2
                        echo "run-rig: not retried: the nested tests that finished already fail (above)" >&2
                        break
                fi
                # (grep -c fails when it counts 0: not under set -e)
                ev="$ev; no check had failed ($(grep -a -c -E '(^|: )PASS: ' "$results/console.log" || true) passed), no helper failed to stop or start, the section-2 nested QEMUs wrote nothing, $(grep -c ' identical$' "$results/report-partial.txt" || true) finished nested tests identical"
                mkdir "$results/attempt-$attempt"
                find "$results" -mindepth 1 -maxdepth 1 ! -name 'attempt-*' -exec mv {} "$results/attempt-$attempt/" \;
                echo "RETRY rig-systemd: attempt $attempt of $attempts: $ev; its files are in $results/attempt-$attempt" > "$results/.outer-retry"
                pass_retries "$results/.outer-retry"
                mv "$results/.outer-retry" "$results/attempt-$attempt/"
                attempt=$((attempt + 1))
        done
        # the nested guests through the socket unit and through qemu-pr-helper,
        # compared on the host: the parts they ran (sgp restart ro)
        echo "== the socket unit (parts sgp restart ro)"
        "$here/qemu-report.sh" --partial "$results" qemu-pr-helper prhd-systemd || rc=1
        # libvirt's domains (part sgp), managed and unmanaged helpers
        echo "== libvirt (part sgp)"
        # shellcheck disable=SC2086
        "$here/qemu-report.sh" --partial "$results" $lv || rc=1
        # parts sgp restart ro through the socket unit and qemu-pr-helper,
        # part sgp in libvirt's domains
        for n in qemu-pr-helper prhd-systemd; do
                require_ran "$n" sgp-register-a sgp-read-keys-a-ua sgp-read-keys-final restart-while-down restart-after-2 ro-read-keys-rw
        done
        for n in $lv; do
                require_ran "$n" sgp-register-a sgp-read-keys-a-ua sgp-read-keys-final
        done
        exit "$rc"
        ;;
container)
        # the image tools/build-image made (tools/run-tests exports PRH_IMAGE)
        image=${PRH_IMAGE:-}
        if [ -z "$image" ]; then
                echo "run-rig: FAIL: PRH_IMAGE is not set: build the image (tools/build-image --tag NAME) and export PRH_IMAGE=NAME" >&2
                exit 1
        fi
        command -v podman >/dev/null || skip "podman missing (tools/install-deps)"
        for p in multipathd multipath dmsetup udevadm; do
                command -v "$p" >/dev/null || skip "$p missing (see test/vm/setup-packages.sh)"
        done
        if ! "$src/tools/podman" image exists "$image"; then
                echo "run-rig: FAIL: no image $image in the host's podman storage (PRH_IMAGE; tools/build-image builds it)" >&2
                exit 1
        fi
        [ -x "$build/test/vm/mpath/mpath-pr" ] || skip "$build/test/vm/mpath/mpath-pr not built"
        [ -x "$build/src/daemon/prhd" ] || skip "$build/src/daemon/prhd not built"
        # the guest loads it from an archive it reads over the results share
        t0=$(date +%s)
        "$src/tools/podman" save -q -o "$results/image.tar" "$image" ||
                { echo "run-rig: FAIL: podman save $image failed" >&2; exit 1; }
        echo "run-rig: $image saved ($(stat -c %s "$results/image.tar") bytes) in $(($(date +%s) - t0)) s"
        key=$(cat "$here/mkinitramfs.sh" "$here/nested-init.sh" "$here/nested-lib.sh" | cksum | cut -d' ' -f1)
        initrd=$cache/nested-$kver-$key.cpio.gz
        [ -s "$initrd" ] || "$here/mkinitramfs.sh" nested "$kver" "$initrd"
        # An outer guest that stalls or resets (nested KVM on its emulated
        # SVM, see rig-qemu) is booted again, up to PRH_RIG_ATTEMPTS (2) in
        # all, only if no check had failed (no FAIL line on its console) and
        # the nested guests that finished gave identical transcripts;
        # anything else fails at once.  The attempt's files stay in attempt-N.
        attempts=${PRH_RIG_ATTEMPTS:-2}
        attempt=1
        while :; do
                rc=0
                "$here/vm-run.sh" -c "$cache" -s "$src" -s "$build" -r "$results" -m 2560 \
                        -t "${PRH_RIG_TIMEOUT:-600}" -- \
                        env "PRH_NESTED_ACCEL=${PRH_NESTED_ACCEL:-}" "PRH_CONTAINER_NESTED=${PRH_CONTAINER_NESTED:-1}" \
                        "PRH_CONTAINER_NETWORK=${PRH_CONTAINER_NETWORK:-host}" \
                        "$here/guest-container.sh" "$results" "$results/image.tar" "$image" "$kernel" "$initrd" \
                        "$build/src/daemon/prhd" "$build/test/vm/mpath/mpath-pr" || rc=$?
                pass_retries "$results/retries.log"
                [ "$rc" = 0 ] || [ "$attempt" -ge "$attempts" ] && break
                end=$(cat "$results/.vm-end" 2>/dev/null || echo none)
                case "$end" in
                stalled | "no-status qemu-exit=0") ;;
                *) break ;;
                esac
                grep -aq '^FAIL' "$results/console.log" && break
                "$here/qemu-report.sh" --partial "$results" prhd ctr-1 ctr-2 > "$results/report-partial.txt" 2>&1 || break
                mkdir "$results/attempt-$attempt"
                find "$results" -mindepth 1 -maxdepth 1 ! -name 'attempt-*' ! -name image.tar -exec mv {} "$results/attempt-$attempt/" \;
                echo "RETRY rig-container: attempt $attempt of $attempts: the outer guest ended with '$end' (a stall or reset: $(grep -a -m1 -E 'soft lockup|STALLED|Kernel panic' "$results/attempt-$attempt/console.log" || echo 'no status'))," \
                        "no check had failed, the finished nested transcripts identical; its files are in $results/attempt-$attempt" > "$results/.outer-retry"
                pass_retries "$results/.outer-retry"
                mv "$results/.outer-retry" "$results/attempt-$attempt/"
                attempt=$((attempt + 1))
        done
        rm -f "$results/image.tar"
        # the sg_persist session through the container (twice) and through
        # prhd run directly, compared on the host, its required outcomes checked
        "$here/qemu-report.sh" --partial "$results" prhd ctr-1 ctr-2 || rc=1
        for n in prhd ctr-1 ctr-2; do
                require_ran "$n" sgp-register-a sgp-register-b sgp-reserve-a sgp-read-full-status sgp-preempt-by-b sgp-read-reservation-2 sgp-read-keys-final
        done
        exit "$rc"
        ;;
*)
        echo "run-rig: unknown scenario '$scenario'" >&2
        exit 2
        ;;
esac
