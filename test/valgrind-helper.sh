#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# prhd under valgrind memcheck, as the integration tests' helper
# ($PRH_HELPER) of the "valgrind" variant (meson suite "valgrind", run by
# tools/valgrind-suite).  exec keeps the pid: the tests signal and observe
# the process they started.  Each process writes its own log; the suite
# fails on any error in any of them (invalid access, uninitialised value,
# a definite leak at exit).
#
#   PRH_VALGRIND_PRHD     the prhd binary
#   PRH_VALGRIND_LOGDIR   where the logs go (prhd.PID.log)
set -eu
: "${PRH_VALGRIND_PRHD:?}" "${PRH_VALGRIND_LOGDIR:?}"
mkdir -p -m 1777 "$PRH_VALGRIND_LOGDIR"    # -u nobody starts write here too
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --track-origins=yes --child-silent-after-fork=yes \
        --log-file="$PRH_VALGRIND_LOGDIR/prhd.%p.log" "$PRH_VALGRIND_PRHD" "$@"
