#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpus of fuzz-mpath-translate (fuzz/corpus/mpath-translate/).

Layout (see fuzz-mpath-translate.c): byte 0 bit 7 = PR OUT (then CDB bytes 1
and 2, then the parameter list) or PR IN (bits 0-1 service action, 2-byte
output size, then the struct prin_resp image as libmpathpersist leaves it,
little-endian host order).  The PR OUT entries are the malformed lists of
the unit tests: short, bad transport-ID lengths, 33 and 100 transport IDs.
Run from anywhere; the files are committed.
"""
import hashlib
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "mpath-translate")


def write(blob):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, hashlib.sha1(blob).hexdigest()), "wb") as f:
        f.write(blob)


def prout(sa, scope_type, params):
    return bytes([0x80, sa, scope_type]) + params


def header(key=0, sa_key=0, flags=0):
    return struct.pack(">QQ", key, sa_key) + bytes(4) + bytes([flags]) + bytes(3)


def spec(tids, length=None):
    body = b"".join(tids)
    return header(0, 0x77, 0x08) + struct.pack(">I", len(body) if length is None else length) + body


def sas(addr):
    return bytes([0x06]) + bytes(3) + struct.pack(">Q", addr) + bytes(12)


def fc(name):
    return bytes([0x00]) + bytes(7) + struct.pack(">Q", name) + bytes(8)


def iscsi(name, l=None, fmt=0x00):
    raw = name.encode() + b"\0"
    if l is None:
        l = max(20, (len(raw) + 3) & ~3)
    return bytes([fmt | 0x05, 0]) + struct.pack(">H", l) + raw[:l].ljust(l, b"\0")


# PR OUT: valid
write(prout(0, 0, header(0, 0x123abc)))
write(prout(1, 1, header(0x123abc, 0)))
write(prout(4, 3, header(0x123abc, 0xf0f0)))
write(prout(6, 0, header(0, 0x123abc, 0x05)))
write(prout(0, 0, spec([sas(0x5001405000000b01), fc(0x2100001b32000001),
                        iscsi("iqn.2003-01.org.linux-iscsi:x"), iscsi("iqn.x,i,0x23d000000001", fmt=0x40)])))
write(prout(0, 0, spec([iscsi("iqn", 4)] * 32)))
write(prout(0, 0, spec([])))
# PR OUT: short lists, bad CDBs
for n in (0, 1, 23, 25, 27):
    write(prout(0, 0, bytes(n)))
write(prout(0, 0, header(0, 1, 0x08) + bytes(2)))
write(prout(7, 1, header(1, 2) + bytes(40)))
write(prout(8, 1, header(1, 2)))
write(prout(0x20, 1, header(1, 2)))
write(prout(1, 1, header(1, 2, 0x08) + bytes(4)))
# PR OUT: bad transport-ID lengths
for length in (25, 0x7FFFFFFF, 0x80000000, 0xFFFFFFE4, 0xFFFFFFFF):
    write(prout(0, 0, spec([sas(1)], length)))
write(prout(0, 0, spec([sas(1)])[:-1]))
write(prout(0, 0, spec([iscsi("iqn.a", 30)])))
write(prout(0, 0, spec([iscsi("iqn.a", 256)])))
write(prout(0, 0, spec([iscsi("iqn.abcd", 8)])))
write(prout(0, 0, spec([iscsi("", 0)])))
write(prout(0, 0, spec([bytes([0x04]) + bytes(23)])))
write(prout(0, 0, spec([bytes([0x46]) + bytes(23)])))
t = iscsi("iqn.a", 32)
write(prout(0, 0, spec([t[:2] + struct.pack(">H", 36) + t[4:]])))
# PR OUT: many transport IDs (the reference aborts at 33)
write(prout(0, 0, spec([iscsi("iqn", 4)] * 33)))
write(prout(0, 0, spec([iscsi("iqn", 4)] * 100)))
write(prout(0, 0, spec([sas(i) if i % 2 else iscsi("iqn.x", 8) for i in range(100)])))
write(prout(0, 0, spec([iscsi("iqn", 4)] * 1020)))

# PR IN images (host order = little-endian on the CI machines)
def prin(sa, out_size, image):
    return bytes([sa]) + struct.pack(">H", out_size) + image


keys = struct.pack("<II", 2, 16) + struct.pack(">QQ", 0x123abc, 0x123abc)
write(prin(0, 8192, keys))
write(prin(0, 10, keys))
write(prin(0, 8192, struct.pack("<II", 1, 0xFFFFFFF8) + b"\x11" * 8192))
write(prin(1, 24, struct.pack("<II", 2, 16) + struct.pack(">Q", 0x123abc) + bytes(5) + b"\x01" + bytes(2)))
write(prin(2, 8, struct.pack("<HBBHH", 8, 0x1D, 0x90, 0xEA01, 0)))


def fulldescr(key, flag, scope_type, rtpi, fmt, proto, ident):
    t = bytes([fmt, proto]) + ident.ljust(256, b"\0")
    return struct.pack(">Q", key) + bytes([flag, scope_type]) + struct.pack("<H", rtpi) + t


def rfstat(descrs, gen=2, count=None):
    body = b"".join(descrs)
    n = len(descrs) if count is None else count
    return struct.pack("<II", gen, n) + body


sasd = [fulldescr(0x123abc, 1 if i == 0 else 0, 1 if i == 0 else 0, i + 1, 0, 6, struct.pack(">Q", 0x5001405000000b01 + i))
        for i in range(40)]
write(prin(3, 8192, rfstat(sasd[:2])))
write(prin(3, 30, rfstat(sasd[:2])))
write(prin(3, 8192, rfstat(sasd[:31])))
write(prin(3, 8192, rfstat(sasd[:32])))
write(prin(3, 8192, rfstat(sasd[:2], count=400)))
write(prin(3, 8192, rfstat([fulldescr(5, 2, 0, 3, 1, 5, b"iqn.1994-05.com.example:a,i,0x23d000000001")])))
write(prin(3, 8192, rfstat([fulldescr(5, 0, 0, 3, 0, 5, b"x" * 256)])))
write(prin(3, 8192, rfstat([fulldescr(5, 0, 0, 3, 0, 4, b"")])))
write(prin(3, 8192, rfstat([])))
