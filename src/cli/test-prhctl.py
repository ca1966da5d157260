#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration test of prhctl.

    test-prhctl.py PRHCTL helper BINARY    # against a real helper (qemu-pr-helper, prhd)
    test-prhctl.py PRHCTL scripted         # against a scripted peer speaking the protocol

A real helper on a host without SCSI devices answers the error paths the
reference defines (SG_IO on a non-SCSI fd: CHECK CONDITION 0B/00/06; PR OUT
on a read-only fd: 05/20/00).  The scripted peer checks the exact bytes
prhctl sends (CDB, parameter list, the fd) and feeds it GOOD data, broken
replies, early closes and silence.  Exit 0 pass, 1 fail, 77 skip.
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

PRHCTL = os.path.abspath(sys.argv[1])
MODE = sys.argv[2]
failures = 0
checks = 0
last_elapsed = 0.0
NOBODY = 65534


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print(f"FAIL: {what}", file=sys.stderr)


def prhctl(*args, user=None, timeout=30):
    cmd = [PRHCTL, *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    t0 = time.monotonic()
    if not user:
        t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    global last_elapsed
    last_elapsed = time.monotonic() - t0
    return p.returncode, p.stdout, p.stderr


def prhctl_json(*args, **kw):
    rc, out, err = prhctl(*args, "--json", **kw)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
        print(f"not JSON: {out!r} (stderr {err!r})", file=sys.stderr)
    return rc, doc, err


def pdeathsig():
    # Die with the test (PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


class Helper:
    def __init__(self, binary, tmp):
        self.sock = os.path.join(tmp, "sock")
        self.log = open(os.path.join(tmp, "helper.log"), "w")
        # The tests send /dev/null and FUSE fds, which prhd acts on only with --unsafe-any-fd;
        # the reference has no such option.
        extra = [] if "qemu-pr-helper" in os.path.basename(binary) else ["--unsafe-any-fd"]
        self.proc = subprocess.Popen([binary, *extra, "-k", self.sock], cwd=tmp, stdout=self.log, stderr=self.log,
                                     preexec_fn=pdeathsig)
        for _ in range(500):
            if os.path.exists(self.sock):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.sock)
                    s.close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{binary} exited with {self.proc.returncode}")
            time.sleep(0.01)
        raise RuntimeError(f"{binary} did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


SENSE_NOT_SCSI = (11, 0x00, 0x06)
SENSE_RO = (5, 0x20, 0x00)
IN_COMMANDS = ["read-keys", "read-reservation", "report-capabilities", "read-full-status"]
OUT_COMMANDS = {
    "register": ["-S", "0x1234"],
    "register-ignore": ["-S", "abcd", "-Z"],
    "reserve": ["-K", "1234", "-T", "we"],
    "release": ["-K", "1234", "-T", "1"],
    "clear": ["-K", "1234"],
    "preempt": ["-K", "1", "-S", "2", "-T", "ea-ro"],
    "preempt-abort": ["-K", "1", "-S", "2", "-T", "ea"],
    "register-move": ["-K", "1", "-S", "2", "-T", "we", "-Q", "1", "-X", "iscsi,iqn.2003-01.org.example:t,i,0x230000000001"],
    "replace-lost": ["-S", "9", "-T", "we"],
}


def sense_of(doc):
    s = (doc or {}).get("sense", {})
    return (s.get("key"), s.get("asc"), s.get("ascq"))


def test_real_helper(binary, tmp):
    h = Helper(binary, tmp)
    sock = ["-k", h.sock]
    regular = os.path.join(tmp, "file")
    with open(regular, "w") as f:
        f.write("x")
    try:
        rc, doc, err = prhctl_json(*sock, "probe")
        check(rc == 0, f"probe exit {rc}: {err}")
        check(doc and doc["connected"] is True and doc["features"] == 0, f"probe JSON {doc}")
        rc, out, err = prhctl(*sock, "probe")
        check(rc == 0 and "Features: 0x00000000" in out, f"probe human: {out!r}")
        rc, doc, err = prhctl_json(*sock, "/dev/null", "probe")
        check(rc == 0 and doc["device_status"] == "CHECK CONDITION", f"probe with device: {doc}")

        for cmd in IN_COMMANDS:
            rc, doc, err = prhctl_json(*sock, "/dev/null", cmd)
            check(rc == 5, f"{cmd} on /dev/null: exit {rc}")
            check(doc and doc["status"] == "CHECK CONDITION" and sense_of(doc) == SENSE_NOT_SCSI, f"{cmd}: {doc}")
            check(doc and doc["sense"]["hex"].startswith("70000b000000000a"), f"{cmd} sense hex {doc}")
            check("not a SCSI device" in err, f"{cmd} hint: {err!r}")

        for cmd, opts in OUT_COMMANDS.items():
            rc, doc, err = prhctl_json(*sock, regular, cmd, *opts)
            check(rc == 5 and sense_of(doc) == SENSE_NOT_SCSI, f"{cmd} rw: exit {rc} {doc} {err}")
            rc, doc, err = prhctl_json(*sock, "--readonly", regular, cmd, *opts)
            check(rc == 5 and sense_of(doc) == SENSE_RO, f"{cmd} ro: exit {rc} {doc} {err}")
            check("read-only" in doc.get("hint", ""), f"{cmd} ro hint: {doc}")

        rc, out, err = prhctl(*sock, "-r", regular, "register", "-S", "1")
        check(rc == 5 and "ILLEGAL REQUEST: invalid command operation code" in err, f"human check condition: {err!r}")

        # Device errors.
        rc, doc, err = prhctl_json(*sock, os.path.join(tmp, "missing"), "read-keys")
        check(rc == 2 and "not found" in err, f"missing device: {rc} {err!r}")
        private = os.path.join(tmp, "private")
        with open(private, "w"):
            pass
        os.chmod(private, 0o600)
        os.chmod(tmp, 0o755)
        rc, out, err = prhctl(*sock, private, "register", "-S", "1", user=NOBODY)
        check(rc == 2 and "Permission denied" in err and "writing" in err, f"device EACCES: {rc} {err!r}")

        # Socket permission: the helper's socket is root's 0755 (umask) -> nobody cannot connect.
        os.chmod(h.sock, 0o700)
        rc, out, err = prhctl("-k", h.sock, "/dev/null", "read-keys", user=NOBODY)
        check(rc == 3 and "Permission denied" in err, f"socket EACCES: {rc} {err!r}")
        os.chmod(h.sock, 0o777)
        rc, out, err = prhctl("-k", h.sock, "/dev/null", "read-keys", user=NOBODY)
        check(rc == 5, f"unprivileged user through the helper: {rc} {err!r}")
    finally:
        h.stop()

    # Helper gone.
    rc, doc, err = prhctl_json(*sock, "/dev/null", "read-keys")
    check(rc == 3 and doc and doc["errno"] in (2, 111), f"after helper exit: {rc} {doc}")


# ---- scripted peer ----

class Peer(threading.Thread):
    """Accept one connection, do the handshake, run script(conn)."""

    def __init__(self, path, script, handshake=b"\0\0\0\0"):
        super().__init__(daemon=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.script = script
        self.handshake = handshake
        self.error = None
        self.start()

    def run(self):
        try:
            conn, _ = self.listener.accept()
            with conn:
                if self.handshake is None:
                    return
                conn.sendall(self.handshake)
                got = recv_exact(conn, 4)
                if got != b"\0\0\0\0":
                    raise AssertionError(f"client requested features {got!r}")
                self.script(conn)
        except Exception as e:  # reported by the main thread
            self.error = e
        finally:
            self.listener.close()

    def finish(self):
        self.join(10)
        check(not self.is_alive(), "peer finished")
        check(self.error is None, f"peer: {self.error!r}")


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_request(conn):
    cdb, fds, _, _ = socket.recv_fds(conn, 16, 4)
    cdb += recv_exact(conn, 16 - len(cdb))
    if len(fds) != 1:
        raise AssertionError(f"{len(fds)} fds with the CDB")
    st = os.fstat(fds[0])
    os.close(fds[0])
    length = struct.unpack(">H", cdb[7:9])[0]
    data = recv_exact(conn, length) if cdb[0] == 0x5F else b""
    return cdb, (st.st_dev, st.st_ino), data


def reply(conn, status, payload=b"", sense=bytes(96), sz=None):
    conn.sendall(struct.pack(">iI", status, len(payload) if sz is None else sz) + sense + payload)


def good_keys(gen, keys):
    return struct.pack(">II", gen, 8 * len(keys)) + b"".join(struct.pack(">Q", k) for k in keys)


def run_scripted(tmp, script, *args, handshake=b"\0\0\0\0"):
    path = os.path.join(tmp, f"peer{time.monotonic_ns()}")
    peer = Peer(path, script, handshake)
    result = prhctl_json("-k", path, *args)
    peer.finish()
    return result


def test_scripted(tmp):
    dev = os.path.join(tmp, "dev")
    with open(dev, "w"):
        pass
    st = os.stat(dev)
    ident = (st.st_dev, st.st_ino)
    seen = {}

    def keys_script(conn):
        cdb, fdid, _ = recv_request(conn)
        seen["cdb"], seen["fd"] = cdb, fdid
        reply(conn, 0, good_keys(7, [0x1234, 0xFFFFFFFFFFFFFFFF]))

    rc, doc, err = run_scripted(tmp, keys_script, dev, "read-keys")
    check(rc == 0, f"read-keys GOOD exit {rc} {err}")
    check(doc and doc["generation"] == 7 and doc["keys"] == ["0x1234", "0xffffffffffffffff"], f"keys {doc}")
    check(seen.get("cdb") == bytes([0x5E, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0]), f"PR IN CDB {seen.get('cdb')!r}")
    check(seen.get("fd") == ident, "the device fd was passed")

    def rsv_script(conn):
        recv_request(conn)
        reply(conn, 0, struct.pack(">IIQ", 3, 16, 0xABC) + bytes([0, 0, 0, 0, 0, 0x03, 0, 0]))

    rc, doc, err = run_scripted(tmp, rsv_script, dev, "read-reservation")
    check(rc == 0 and doc["reserved"] and doc["key"] == "0xabc" and doc["type"] == 3, f"reservation {doc}")

    def caps_script(conn):
        recv_request(conn)
        reply(conn, 0, bytes([0, 8, 0x1D, 0x81, 0xEA, 0x01, 0, 0]))

    rc, doc, err = run_scripted(tmp, caps_script, dev, "report-capabilities")
    check(rc == 0 and doc["sip_c"] and doc["ptpl_a"] and doc["types"] == [1, 3, 5, 6, 7, 8], f"capabilities {doc}")

    def fs_script(conn):
        recv_request(conn)
        name = b"iqn.2003-01.org.example:host\0"
        tid = bytes([0x05, 0]) + struct.pack(">H", 32) + name.ljust(32, b"\0")
        desc = struct.pack(">Q", 0x77) + bytes(4) + bytes([0x01, 0x01]) + bytes(4) + struct.pack(">HI", 2, len(tid)) + tid
        reply(conn, 0, struct.pack(">II", 11, len(desc)) + desc)

    rc, doc, err = run_scripted(tmp, fs_script, dev, "read-full-status")
    check(rc == 0 and doc["registrations"][0]["transport_id"] == "iscsi,iqn.2003-01.org.example:host"
          and doc["registrations"][0]["holder"], f"full status {doc}")

    # Human output of GOOD data.
    path = os.path.join(tmp, "peer-human")
    peer = Peer(path, keys_script)
    rc, out, err = prhctl("-k", path, dev, "read-keys")
    peer.finish()
    check(rc == 0 and "2 registered reservation keys follow" in out and "0x1234" in out, f"human keys {out!r}")

    # PR OUT bytes: REGISTER with SPEC_I_PT (implied by -X), ALL_TG_PT and APTPL.
    def out_script(conn):
        cdb, fdid, data = recv_request(conn)
        seen["cdb"], seen["data"] = cdb, data
        reply(conn, 0)

    rc, doc, err = run_scripted(tmp, out_script, dev, "register", "-K", "0x11", "-S", "22", "-Y", "-Z",
                                "-X", "fc,0x2100001b32a1b2c3", "-X", "sas,500a0b1c2d3e4f50")
    check(rc == 0 and doc["status"] == "GOOD", f"register GOOD {rc} {doc} {err}")
    exp = (struct.pack(">QQ", 0x11, 0x22) + bytes(4) + bytes([0x0D, 0, 0, 0]) + struct.pack(">I", 48)
           + bytes([0]) + bytes(7) + struct.pack(">Q", 0x2100001B32A1B2C3) + bytes(8)
           + bytes([6]) + bytes(3) + struct.pack(">Q", 0x500A0B1C2D3E4F50) + bytes(12))
    check(seen.get("data") == exp, f"REGISTER parameter list {seen.get('data')!r}")
    check(seen.get("cdb")[:10] == bytes([0x5F, 0, 0, 0, 0, 0, 0, 0, 76, 0]), f"REGISTER CDB {seen.get('cdb')!r}")

    rc, doc, err = run_scripted(tmp, out_script, dev, "reserve", "-K", "5", "-T", "ea-ar")
    check(rc == 0 and seen["cdb"][1] == 1 and seen["cdb"][2] == 8 and seen["data"][:8] == struct.pack(">Q", 5),
          f"RESERVE bytes {seen.get('cdb')!r}")

    # Reservation conflict and BUSY are exit codes of their own.
    def conflict(conn):
        recv_request(conn)
        reply(conn, 0x18)

    rc, doc, err = run_scripted(tmp, conflict, dev, "reserve", "-K", "5", "-T", "we")
    check(rc == 6 and doc["status"] == "RESERVATION CONFLICT", f"conflict {rc} {doc}")

    def busy(conn):
        recv_request(conn)
        reply(conn, 0x08)

    rc, doc, err = run_scripted(tmp, busy, dev, "read-keys")
    check(rc == 7 and doc["status"] == "BUSY", f"busy {rc} {doc}")

    # Helper closes after the CDB: exit 4 with the likely cause.
    def close_after_cdb(conn):
        recv_request(conn)

    rc, doc, err = run_scripted(tmp, close_after_cdb, dev, "read-keys")
    check(rc == 4 and "rejected the request" in err, f"closed after CDB {rc} {err!r}")

    # Malformed replies: payload beyond the allocation length, payload on PR OUT.
    def oversize(conn):
        recv_request(conn)
        reply(conn, 0, bytes(16), sz=0x2001)

    rc, doc, err = run_scripted(tmp, oversize, dev, "read-keys", "-l", "8")
    check(rc == 4 and "malformed" in err, f"oversize reply {rc} {err!r}")

    def pr_out_payload(conn):
        recv_request(conn)
        reply(conn, 0, bytes(8))

    rc, doc, err = run_scripted(tmp, pr_out_payload, dev, "clear", "-K", "1")
    check(rc == 4 and "malformed" in err, f"PR OUT with payload {rc} {err!r}")

    # GOOD with undecodable data.
    def short_data(conn):
        recv_request(conn)
        reply(conn, 0, bytes(4))

    rc, doc, err = run_scripted(tmp, short_data, dev, "read-keys")
    check(rc == 4, f"undecodable data {rc}")

    # A helper that never answers: the request timeout ends it.
    def silent(conn):
        recv_request(conn)
        time.sleep(1.5)

    rc, doc, err = run_scripted(tmp, silent, dev, "read-keys", "--timeout=300")
    dt = last_elapsed
    check(rc == 4 and "Timed out waiting" in err, f"silent helper {rc} {err!r}")
    check(0.25 < dt < 1.45, f"timeout took {dt:.2f}s")

    # Closed during the handshake, and a handshake that never comes.
    rc, doc, err = run_scripted(tmp, None, dev, "read-keys", handshake=None)
    check(rc == 3 and "during the handshake" in err, f"handshake close {rc} {err!r}")

    path = os.path.join(tmp, "mute")
    mute = socket.socket(socket.AF_UNIX)
    mute.bind(path)
    mute.listen(1)
    t0 = time.monotonic()
    rc, out, err = prhctl("-k", path, dev, "read-keys", "--connect-timeout=200")
    dt = time.monotonic() - t0
    check(rc == 3 and "Timed out connecting" in err and dt < 1.5, f"mute helper {rc} {err!r} {dt:.2f}")

    # Bound but not listening: refused; a regular file: not a socket; missing.
    path = os.path.join(tmp, "bound")
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(path)
    rc, out, err = prhctl("-k", path, dev, "read-keys")
    check(rc == 3 and "refused" in err, f"refused {rc} {err!r}")
    rc, out, err = prhctl("-k", dev, dev, "read-keys")
    check(rc == 3 and "not a socket" in err, f"not a socket {rc} {err!r}")
    rc, out, err = prhctl("-k", os.path.join(tmp, "none"), dev, "read-keys")
    check(rc == 3 and "does not exist" in err, f"missing socket {rc} {err!r}")
    mute.close()
    bound.close()

    # Retries: the peer appears while prhctl waits between attempts.
    path = os.path.join(tmp, "late")
    late = {}

    def start_late():
        time.sleep(0.3)
        late["peer"] = Peer(path, keys_script)

    th = threading.Thread(target=start_late)
    th.start()
    rc, doc, err = prhctl_json("-k", path, dev, "read-keys", "--retries=5", "--retry-delay=200")
    th.join()
    late["peer"].finish()
    check(rc == 0 and doc["keys"] == ["0x1234", "0xffffffffffffffff"], f"retry until the helper is up {rc} {err!r}")

    # Usage errors never touch the socket.
    for args in (["read-keys"], [dev, "bogus"], [dev, "reserve"], [dev, "register-move", "-T", "1"],
                 [dev, "register", "-K", "xyz"], [dev, "reserve", "-T", "16"], [dev, "clear", "-X", "fc,1"],
                 [dev, "register", "-X", "usb,1"], [dev, "read-keys", "-l", "8193"], [dev, "register", "-U"],
                 [dev, "read-keys", "extra"]):
        rc, out, err = prhctl("-k", "/nonexistent", *args)
        check(rc == 1, f"usage {args}: {rc} {err!r}")
    rc, out, err = prhctl("--help")
    check(rc == 0 and "register-move" in out and "Exit status" in out, "help")


def main():
    if os.geteuid() != 0:
        print("needs root (helpers drop privileges)", file=sys.stderr)
        return 77
    tmp = tempfile.mkdtemp(prefix="prhctl-test-")
    try:
        if MODE == "helper":
            if not os.access(sys.argv[3], os.X_OK):
                return 77
            test_real_helper(os.path.abspath(sys.argv[3]), tmp)
        else:
            test_scripted(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{checks} checks, {failures} failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
