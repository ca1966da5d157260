#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed inputs of fuzz-request, fuzz-tid-parse and fuzz-pr-out.

The committed corpora (fuzz/corpus/<target>/) are these seeds grown by
libFuzzer runs and minimised with -merge=1 (docs/fuzzing.md); rerun this
only to start a corpus over.  Layouts are described at the top of each
target's source.  Run from anywhere; files are named after their content.
"""
import hashlib
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, blobs):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for b in blobs:
        with open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb") as f:
            f.write(b)


def rd(op, chunk, data):
    """One read of fuzz-request: op byte, 16-bit chunk selector, the bytes."""
    return bytes([op]) + struct.pack(">H", chunk) + data


def cdb(op, sa, length):
    return bytes([op, sa]) + bytes(5) + struct.pack(">H", length) + bytes(7)


pr_out_24 = struct.pack(">QQ", 0x1234, 0) + bytes(8)
write("fuzz-request", [
    rd(1, 0, cdb(0x5E, 0, 8192)),                              # PR IN, one read with the fd
    rd(1, 0, cdb(0x5F, 0, 24)) + rd(0, 0, pr_out_24),          # PR OUT with its data
    rd(0, 4, cdb(0x5F, 0, 24)[:5]) + rd(1, 0, cdb(0x5F, 0, 24)[5:]) + rd(0, 7, pr_out_24[:8]) + rd(2, 0, pr_out_24[8:]),
    rd(1, 0, cdb(0x5E, 1, 24)) + rd(5, 0, cdb(0x5E, 3, 100)),  # two requests, take_fd on the second
    rd(2, 0, cdb(0x5E, 0, 8)),                                 # R2: two fds
    rd(0, 0, cdb(0x5E, 0, 8)),                                 # R3: none
    rd(1, 0, cdb(0x12, 0, 8)),                                 # R4: INQUIRY
    rd(1, 0, cdb(0x5F, 0, 8193)),                              # R5
    rd(9, 0, cdb(0x5E, 0, 8)),                                 # fds after completion
])

write("fuzz-tid-parse", [s.encode() for s in [
    "fc,0x2100001b32a9c0d1", "FCP,2100001B32A9C0D1", "sas,0x5000c50012345678",
    "iscsi,iqn.2003-01.org.linux-iscsi:initiator", "iqn.1994-05.com.redhat:abc,i,0x23d000000001",
    "eui.0123456789abcdef", "naa.6001405abcdef012", "iscsi,iqn.x,I,0X1", "fc,", "sas,0x", "iscsi,a,b",
    "iqn." + "a" * 219, "iqn." + "a" * 219 + ",i,0x" + "0" * 12,
]])


def pr_out(action, scope=0, typ=0, flags=0, key=0x1234, sa_key=0, rtp=0, size=8192, tids=()):
    b = bytes([action, scope, typ, flags]) + struct.pack(">QQHH", key, sa_key, rtp, size) + bytes([len(tids)])
    for proto, fmt, port, name, isid in tids:
        b += bytes([proto | (fmt << 4)]) + struct.pack(">Q", port) + bytes([len(name), len(isid)]) + name + isid
    return b


FC, ISCSI, SAS = 0, 2, 1        # selector values in the input (protos[] index)
write("fuzz-pr-out", [
    pr_out(0), pr_out(1, typ=1), pr_out(2, typ=3), pr_out(3), pr_out(4, typ=5, sa_key=9), pr_out(5, typ=8),
    pr_out(6, flags=1), pr_out(8, typ=1), pr_out(9), pr_out(0, scope=16), pr_out(0, size=23),
    pr_out(0, flags=4, tids=[(FC, 0, 0x2100001B32A9C0D1, b"", b""), (SAS, 0, 0x5000C50012345678, b"", b""),
                             (ISCSI, 0, 0, b"iqn.2003-01.org.x:y", b""), (ISCSI, 1, 0, b"iqn.z", b"23d000000001")]),
    pr_out(7, flags=8, rtp=2, tids=[(ISCSI, 1, 0, b"iqn.z", b"23d000000001")]),
    pr_out(7, tids=[(FC, 0, 1, b"", b"")]),
    pr_out(0, flags=4, size=60, tids=[(FC, 0, 1, b"", b""), (FC, 0, 2, b"", b"")]),
    pr_out(0, flags=4, tids=[(ISCSI, 1, 0, b"i" * 223, b"0" * 31)]),
])
