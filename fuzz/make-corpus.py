#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpus of fuzz-reply (fuzz/corpus/fuzz-reply/).

Input layout: selector byte (bit 7 PR OUT, bits 0-1 PR IN action),
allocation length (2 bytes BE), 104-byte reply header, payload.
Run from the repository root; the files are committed.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz-reply")


def sense(key, asc, ascq):
    s = bytearray(96)
    s[0], s[2], s[7], s[12], s[13] = 0x70, key, 0x0A, asc, ascq
    return bytes(s)


def reply(sel, alloc, status, payload=b"", sz=None, sn=bytes(96)):
    if sz is None:
        sz = len(payload)
    return bytes([sel]) + struct.pack(">H", alloc) + struct.pack(">iI", status, sz & 0xFFFFFFFF) + sn + payload


def fc_tid(wwpn):
    return bytes([0x00]) + bytes(7) + struct.pack(">Q", wwpn) + bytes(8)


def sas_tid(addr):
    return bytes([0x06]) + bytes(3) + struct.pack(">Q", addr) + bytes(12)


def iscsi_tid(name, isid=None):
    text = name + (",i,0x" + isid if isid else "")
    raw = text.encode() + b"\0"
    n = max(20, (len(raw) + 3) & ~3)
    return bytes([0x45 if isid else 0x05, 0]) + struct.pack(">H", n) + raw.ljust(n, b"\0")


def fs_desc(key, holder, all_tg, typ, port, tid):
    return (struct.pack(">Q", key) + bytes(4) + bytes([(2 if all_tg else 0) | (1 if holder else 0), typ])
            + bytes(4) + struct.pack(">H", port) + struct.pack(">I", len(tid)) + tid)


def full_status(gen, descs):
    body = b"".join(descs)
    return struct.pack(">II", gen, len(body)) + body


seeds = {
    # Reference answers on a host without SCSI devices.
    "check-aborted-00-06": reply(0x00, 8192, 2, sn=sense(0x0B, 0x00, 0x06)),
    "check-invalid-opcode-pr-out": reply(0x80, 24, 2, sn=sense(0x05, 0x20, 0x00)),
    "reservation-conflict": reply(0x80, 24, 0x18),
    "good-pr-out": reply(0x80, 24, 0),
    "busy": reply(0x00, 8192, 8),
    "descriptor-sense": reply(0x00, 8192, 2, sn=bytes([0x72, 0x06, 0x2A, 0x03]) + bytes(92)),
    # PR IN data.
    "read-keys-none": reply(0x00, 8192, 0, struct.pack(">II", 1, 0)),
    "read-keys-three": reply(0x00, 8192, 0, struct.pack(">II", 5, 24) + struct.pack(">QQQ", 0x1, 0xABCDEF, 2**64 - 1)),
    "read-keys-truncated": reply(0x00, 16, 0, struct.pack(">II", 5, 24) + struct.pack(">Q", 0x1)),
    "read-keys-huge-length": reply(0x00, 8192, 0, struct.pack(">II", 5, 0xFFFFFFF0) + bytes(16)),
    "read-reservation-none": reply(0x01, 8192, 0, struct.pack(">II", 2, 0)),
    "read-reservation-held": reply(0x01, 8192, 0, struct.pack(">II", 3, 16) + struct.pack(">Q", 0x1234) + bytes(5) + bytes([0x03]) + bytes(2)),
    "read-reservation-short": reply(0x01, 8192, 0, struct.pack(">II", 3, 16) + bytes(4)),
    "report-capabilities": reply(0x02, 8192, 0, bytes([0, 8, 0x9D, 0x81, 0xEA, 0x01, 0, 0])),
    "full-status": reply(0x03, 8192, 0, full_status(9, [
        fs_desc(0x11, True, False, 1, 1, fc_tid(0x21000024FF000001)),
        fs_desc(0x22, False, True, 0, 2, iscsi_tid("iqn.2003-01.org.linux-iscsi.host:abc")),
        fs_desc(0x33, False, False, 0, 3, iscsi_tid("iqn.1994-05.com.redhat:x", "23d000000001")),
        fs_desc(0x44, False, False, 0, 4, sas_tid(0x500A0B1C2D3E4F50)),
        fs_desc(0x55, False, False, 0, 5, bytes([0x04]) + bytes(23)),
    ])),
    "full-status-cut": reply(0x03, 60, 0, full_status(9, [fs_desc(0x11, True, False, 1, 1, fc_tid(1))])[:60]),
    "full-status-bad-tid-length": reply(0x03, 8192, 0, struct.pack(">II", 1, 24) + bytes(20) + struct.pack(">I", 0xFFFFFFF0)),
    # Replies the protocol forbids (a hostile helper).
    "bad-sz-over-alloc": reply(0x00, 16, 0, bytes(32)),
    "bad-sz-negative": reply(0x00, 8192, 0, sz=0xFFFFFFFF),
    "bad-sz-on-pr-out": reply(0x80, 24, 0, bytes(8)),
    "bad-sz-on-check": reply(0x00, 8192, 2, bytes(8), sn=sense(5, 0x24, 0)),
    "bad-sz-over-8192": reply(0x00, 0xFFFF, 0, sz=8193),
    "short-payload": reply(0x00, 8192, 0, struct.pack(">II", 1, 64) + bytes(8), sz=200),
    "weird-status": reply(0x00, 8192, 0x7FFFFFFF),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {OUT}")
