#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Report of the nested-QEMU tests (issue items 2, 3, 4), run on the host
# after guest-qemu.sh: cut each nested console into one output per test,
# then require every test's output and exit status to be identical through
# every helper (the first one, qemu-pr-helper, is the reference), list each
# iscsi-test-cu test's result for each helper and for direct SG_IO, and
# check the outcomes the issue asks for.
#
# Each iscsi-test-cu test's result through QEMU must also be the direct
# one, except for the tests listed in qemu-vs-direct.txt (beside this
# script) with the results they give and why; a listed test whose results
# are not the listed ones fails too, so the list stays true.
#
#   qemu-report.sh RESULTS
#   qemu-report.sh --partial RESULTS NAME...
#
# --partial: for a run the outer guest did not finish (run-rig.sh decides
# whether to try again): compare and check only the tests that finished with
# every helper NAME; exit 1 if any of them differs or misses its outcome.
set -eu
partial=0
if [ "${1:-}" = --partial ]; then
        partial=1
        shift
fi
results=${1:?usage: qemu-report.sh [--partial] RESULTS [NAME...]}
here=$(cd "$(dirname "$0")" && pwd)
expected=$here/qemu-vs-direct.txt
if [ "$partial" = 1 ]; then
        shift
        names=$*
else
        [ -s "$results/helpers" ] || { echo "qemu-report: FAIL: no helper list in $results (guest did not finish)"; exit 1; }
        names=$(cat "$results/helpers")
fi

# Split a nested console log into OUT/<test>.txt and OUT/<test>.rc.
split_console() {
        tr -d '\r' < "$1/console.log" | awk -v dir="$1" '
                /^@@BEGIN / { name = $2; f = dir "/" name ".txt"; printf "" > f; next }
                /^@@END / { split($3, a, "="); print a[2] > (dir "/" name ".rc"); close(f);
                            close(dir "/" name ".rc"); print name >> (dir "/tests"); name = ""; next }
                # the only run-dependent line: the CUnit elapsed time
                name != "" && /^Elapsed time = / { next }
                name != "" { print >> f }'
}

for n in $names; do
        rm -f "$results/qemu-$n/tests" "$results/qemu-$n"/*.rc
        [ -f "$results/qemu-$n/console.log" ] && split_console "$results/qemu-$n"
        # boots that were tried again (guest-qemu.sh) keep their console
        for b in "$results/qemu-$n"/boot-*; do
                [ -f "$b/console.log" ] || continue
                rm -f "$b/tests" "$b"/*.rc
                split_console "$b"
        done
done

# ---- compare ----------------------------------------------------------------
set -- $names
first=$1
rc=0
fail() {
        echo "FAIL: $*"
        rc=1
}

# iscsi-test-cu (CUnit, verbose): one "Suite.Test result" line per test;
# result is passed, skipped (libiscsi skips some tests on non-iSCSI
# devices, CUnit counts them as passed) or FAILED with the first reason.
cu_results() {
        awk '
        function flush() {
                if (t != "") {
                        r = skip ? "skipped" : res
                        if (r == "FAILED" && why != "")
                                r = r " (" why ")"
                        print suite "." t " " r
                }
                t = ""
        }
        function reason(line) {
                if (why == "" && match(line, /\[FAILED\].*/)) {
                        why = substr(line, RSTART + 9)
                        sub(/[ :.]+$/, "", why)
                }
        }
        /^Suite: / { flush(); suite = $2; next }
        /^  Test: / { flush(); t = $2; res = "?"; skip = 0; why = ""
                      if ($0 ~ /\[SKIPPED\]/) skip = 1
                      if ($0 ~ /\.\.\.passed$/) res = "passed"
                      if ($0 ~ /\.\.\.FAILED$/) res = "FAILED"
                      reason($0); next }
        /^Run Summary/ { flush(); next }
        t == "" { next }
        /^passed$/ { res = "passed"; next }
        /^FAILED$/ { res = "FAILED"; next }
        /\[SKIPPED\]/ { skip = 1 }
        { reason($0) }
        END { flush() }' "$1"
}

echo
echo "== nested QEMU (pr-manager-helper -> helper -> LIO): per test, exit status through each helper"
printf '  %-26s' test
for n in $names; do printf ' %-16s' "$n"; done
echo " verdict"
for test in $(cat "$results/qemu-$first/tests" 2>/dev/null); do
        if [ "$partial" = 1 ]; then
                done_all=1
                for n in $names; do
                        [ -e "$results/qemu-$n/$test.rc" ] || done_all=0
                done
                [ "$done_all" = 1 ] || continue
        fi
        printf '  %-26s' "$test"
        verdict=identical
        for n in $names; do
                r=$(cat "$results/qemu-$n/$test.rc" 2>/dev/null || echo missing)
                printf ' %-16s' "rc=$r"
                if ! cmp -s "$results/qemu-$first/$test.txt" "$results/qemu-$n/$test.txt" ||
                   ! cmp -s "$results/qemu-$first/$test.rc" "$results/qemu-$n/$test.rc"; then
                        verdict=DIFFERENT
                fi
        done
        echo " $verdict"
        if [ "$verdict" != identical ]; then
                fail "$test differs between helpers"
                for n in $names; do
                        [ "$n" = "$first" ] && continue
                        if [ ! -e "$results/qemu-$n/$test.rc" ]; then
                                echo "    ($n: no output for this test; see the nested guest's console below)"
                                continue
                        fi
                        diff -u --label "$first" --label "$n" "$results/qemu-$first/$test.txt" \
                                "$results/qemu-$n/$test.txt" | sed 's/^/    /' || true
                done
        fi
done
# A boot that was tried again: every test it finished must have given
# what the first helper's guest gave (a difference is never retried away).
for n in $names; do
        for b in "$results/qemu-$n"/boot-*; do
                [ -s "$b/tests" ] || continue
                for test in $(cat "$b/tests"); do
                        if ! cmp -s "$results/qemu-$first/$test.txt" "$b/$test.txt" ||
                           ! cmp -s "$results/qemu-$first/$test.rc" "$b/$test.rc"; then
                                fail "$n: in ${b##*/}, which was tried again, $test differs from $first's"
                                diff -u --label "$first" --label "$n ${b##*/}" "$results/qemu-$first/$test.txt" \
                                        "$b/$test.txt" | sed 's/^/    /' || true
                        fi
                done
                echo "  $n: ${b##*/} was tried again; its $(wc -l < "$b/tests") finished tests are identical to $first's"
        done
done
for n in $names; do
        for f in helper-stop helper-start helper-log; do
                [ -e "$results/qemu-$n/$f" ] && fail "helper $n: $(cat "$results/qemu-$n/$f")"
        done
        [ "$partial" = 1 ] && continue
        [ -s "$results/qemu-$n/tests" ] || fail "no test output from the nested guest with $n"
        [ -e "$results/qemu-$n/state" ] && fail "nested guest with $n did not finish"
        [ -e "$results/qemu-$n/helper-state" ] && fail "helper $n died"
        if [ "$n" != "$first" ] && ! cmp -s "$results/qemu-$first/tests" "$results/qemu-$n/tests"; then
                fail "the nested guest ran different tests with $first and $n"
        fi
done

# result class of a cu_results line's result: passed, skipped or FAILED
class_of() {
        case "$1" in
        passed|skipped) echo "$1" ;;
        FAILED*) echo FAILED ;;
        *) echo "none" ;;
        esac
}

[ "$partial" = 1 ] || [ -s "$results/direct/iscsi-prin.txt" ] ||
        fail "no direct iscsi-test-cu baseline (results/direct)"
for suite in iscsi-prin iscsi-prout; do
        if [ "$partial" = 1 ]; then
                skip_suite=0
                for n in $names; do
                        [ -e "$results/qemu-$n/$suite.rc" ] || skip_suite=1
                done
                [ "$skip_suite" = 1 ] && continue
        fi
        echo
        echo "== iscsi-test-cu $suite: each test's result (direct: on the LU's sg node in this guest, no QEMU)"
        cols="direct $names"
        for n in $cols; do
                d=$results/qemu-$n
                [ "$n" = direct ] && d=$results/direct
                cu_results "$d/$suite.txt" > "$d/$suite.results" 2>/dev/null || true
        done
        printf '  %-36s' test
        for n in $cols; do printf ' %-34s' "$n"; done
        echo
        while read -r tc _; do
                printf '  %-36s' "$tc"
                for n in $cols; do
                        d=$results/qemu-$n
                        [ "$n" = direct ] && d=$results/direct
                        printf ' %-34s' "$(grep "^$tc " "$d/$suite.results" | head -n1 | cut -d' ' -f2-)"
                done
                echo
        done < "$results/qemu-$first/$suite.results"
        for n in $cols; do
                d=$results/qemu-$n
                [ "$n" = direct ] && d=$results/direct
                printf '  %s: %s passed, %s skipped, %s failed\n' "$n" \
                        "$(grep -c ' passed$' "$d/$suite.results")" \
                        "$(grep -c ' skipped$' "$d/$suite.results")" \
                        "$(grep -c ' FAILED' "$d/$suite.results")"
        done
        [ -s "$results/qemu-$first/$suite.results" ] || fail "iscsi-test-cu $suite reported no tests"
        [ -s "$results/direct/$suite.results" ] || fail "iscsi-test-cu $suite reported no tests on direct SG_IO"

        # Through QEMU against direct, for every helper: a difference must be
        # listed in qemu-vs-direct.txt with exactly these results, and every
        # listed test must still differ in the listed way.
        while read -r tc dres; do
                dc=$(class_of "$dres")
                for n in $names; do
                        # no results at all through n: failed above already
                        [ -s "$results/qemu-$n/$suite.results" ] || continue
                        qc=$(class_of "$(grep "^$tc " "$results/qemu-$n/$suite.results" | head -n1 | cut -d' ' -f2-)")
                        listed=$(awk -v t="$tc" '$1 == t { print $2, $3 }' "$expected")
                        if [ -n "$listed" ] && [ "$listed" != "$dc $qc" ]; then
                                fail "$tc: listed in qemu-vs-direct.txt as '$listed' (direct, QEMU), but with $n: direct $dc, QEMU $qc"
                        elif [ -z "$listed" ] && [ "$dc" != "$qc" ]; then
                                fail "$tc: direct $dc, through QEMU with $n $qc: a difference not in qemu-vs-direct.txt"
                        fi
                done
        done < "$results/direct/$suite.results"
        awk -v s="$suite" '$1 !~ /^#/ && NF >= 4 && $4 == s { print $1 }' "$expected" | while read -r tc; do
                grep -q "^$tc " "$results/direct/$suite.results" ||
                        echo "FAIL: $tc is listed in qemu-vs-direct.txt but did not run directly"
        done > "$results/direct/$suite.unlisted"
        if [ -s "$results/direct/$suite.unlisted" ]; then
                cat "$results/direct/$suite.unlisted"
                rc=1
        fi
done
echo
echo "== iscsi-test-cu tests that differ between direct SG_IO and QEMU (qemu-vs-direct.txt):"
grep -v '^#' "$expected" | sed 's/^/  /'

# ---- what the issue requires, checked on every helper ----------------------
rc_of() {
        cat "$results/qemu-$1/$2.rc" 2>/dev/null || echo missing
}
# have HELPER TEST...: the tests finished (a partial report skips checks on
# tests that did not)
have() {
        _n=$1
        shift
        [ "$partial" = 0 ] && return 0
        for _t in "$@"; do
                [ -e "$results/qemu-$_n/$_t.rc" ] || return 1
        done
}
echo
for n in $names; do
        for test in sgp-register-a sgp-register-b sgp-reserve-a sgp-read-keys sgp-read-reservation \
                    sgp-read-full-status sgp-report-capabilities sgp-preempt-by-b sgp-read-keys-a \
                    sgp-release-b sgp-clear-b sgp-read-keys-final restart-before restart-after \
                    restart-after-out restart-after-2 ro-read-keys ro-read-keys-rw; do
                have "$n" "$test" || continue
                [ "$(rc_of "$n" "$test")" = 0 ] || fail "$n: $test exited $(rc_of "$n" "$test"), expected success"
        done
        if have "$n" sgp-read-reservation-2; then
                grep -q '0xb2b2' "$results/qemu-$n/sgp-read-reservation-2.txt" 2>/dev/null ||
                        fail "$n: after PREEMPT the reservation is not B's"
        fi
        if have "$n" sgp-read-keys-final; then
                grep -q 'NO registered reservation keys' "$results/qemu-$n/sgp-read-keys-final.txt" 2>/dev/null ||
                        fail "$n: CLEAR left keys behind"
        fi
        if have "$n" clean-read-keys; then
                grep -q 'NO registered reservation keys' "$results/qemu-$n/clean-read-keys.txt" 2>/dev/null ||
                        fail "$n: could not clean up after iscsi-test-cu"
        fi
        # item 3: while the helper is down QEMU retries 5 times, then the
        # guest gets ABORTED COMMAND (QEMU's documented -ENOTCONN mapping;
        # sg_persist exit 11); after the restart every PR command succeeds
        # (checked above)
        if have "$n" restart-while-down; then
                [ "$(rc_of "$n" restart-while-down)" = 11 ] ||
                        fail "$n: a PR command while the helper was down exited $(rc_of "$n" restart-while-down), not 11 (aborted command)"
        fi
        # item 4: PR OUT through a read-only drive: CHECK CONDITION, ILLEGAL REQUEST
        for test in ro-register ro-reserve; do
                have "$n" "$test" || continue
                # 05/20/00 INVALID COMMAND OPERATION CODE: sg_persist exit 9
                [ "$(rc_of "$n" "$test")" = 9 ] ||
                        fail "$n: $test on the read-only drive exited $(rc_of "$n" "$test"), not 9 (illegal request, invalid opcode)"
                grep -qi 'illegal request' "$results/qemu-$n/$test.txt" 2>/dev/null ||
                        fail "$n: $test on the read-only drive did not fail with ILLEGAL REQUEST"
        done
        # ... and registered nothing: the read-write drive's READ KEYS (which
        # must succeed, above) shows only the key registered before
        if have "$n" ro-read-keys-rw; then
                grep -q '0xd4d4' "$results/qemu-$n/ro-read-keys-rw.txt" 2>/dev/null &&
                        fail "$n: the read-only drive registered a key"
                grep -q '0xc3c3' "$results/qemu-$n/ro-read-keys-rw.txt" 2>/dev/null ||
                        fail "$n: READ KEYS after the read-only checks does not show the key registered before"
        fi
done
if [ "$rc" = 0 ]; then
        if [ "$partial" = 1 ]; then
                echo "qemu-report: the tests that finished gave identical results and their outcomes held"
        else
                echo "qemu-report: all helpers gave identical results and every required outcome held"
        fi
fi
exit "$rc"
