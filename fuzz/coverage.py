#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Line coverage of one source file, per function, from a coverage build.

Usage: coverage.py BINARY PROFDATA SOURCE [FUNCTION-REGEX]
BINARY is a fuzz target's replay executable built with
clang -fprofile-instr-generate -fcoverage-mapping, PROFDATA the merged
profile of its corpus replay (llvm-profdata-14 merge).  Prints, for every
function of SOURCE whose name matches the regex, the lines executed out of
the lines with code (llvm-cov-14's own line counts), then the total over
those functions and the lines never executed.  See docs/fuzzing.md.
"""
import json
import os
import re
import subprocess
import sys

binary, profdata, source = sys.argv[1:4]
pattern = re.compile(sys.argv[4] if len(sys.argv) > 4 else ".*")
source = os.path.realpath(source)

data = json.loads(subprocess.run(["llvm-cov-14", "export", "-format=text", binary, "-instr-profile=" + profdata],
                                 check=True, capture_output=True, text=True).stdout)["data"][0]
# The whole report, one section per file ("/abs/path.c:"); function sub-views ("  | ...") are skipped.
show = subprocess.run(["llvm-cov-14", "show", binary, "-instr-profile=" + profdata],
                      check=True, capture_output=True, text=True).stdout
counts = {}
current = None
for line in show.splitlines():
    if line.startswith("/") and line.endswith(":"):
        current = os.path.realpath(line[:-1])
        continue
    m = re.match(r"^\s*(\d+)\|\s*([0-9.kMG]*)\|", line)
    if current == source and m and m.group(2):
        counts.setdefault(int(m.group(1)), m.group(2) != "0")

total = hit = 0
missed = []
def same(path):
    # Paths in the mapping are relative to the build directory (two levels above the binary).
    return os.path.realpath(os.path.join(os.path.dirname(binary), "..", path)) == source or \
        os.path.realpath(path) == source


for f in data["functions"]:
    # File 0 is the function's own; the others are macro expansions and included headers.
    name = f["name"].split(":")[-1]
    if not same(f["filenames"][0]) or not pattern.search(name):
        continue
    regions = [r for r in f["regions"] if r[5] == 0]
    if not regions:
        continue
    lines = range(min(r[0] for r in regions), max(r[2] for r in regions) + 1)
    code = [n for n in lines if n in counts]
    done = [n for n in code if counts[n]]
    total += len(code)
    hit += len(done)
    missed += [n for n in code if not counts[n]]
    print(f"{name:32} {len(done):4}/{len(code):<4} lines")
print(f"{'total':32} {hit:4}/{total:<4} lines ({100.0 * hit / max(total, 1):.1f}%)")
if missed:
    print("never executed: lines " + ", ".join(map(str, sorted(set(missed)))))
