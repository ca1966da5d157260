#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest side of the prhctl rig scenario (runs inside test/vm/vm-run.sh).

    rig-prhctl.py SOURCE-DIR PRHCTL NAME=HELPER-BINARY...

For each helper: a fresh LIO LU seen through two tcm_loop I_T nexuses
(A and B, test/vm/rig-lib.sh), the helper started as a daemon, then every
prhctl command through the helper, each state change checked against
sg_persist's own view of the LU over direct SG_IO (on the other nexus where
that matters).  Exit 0 only if every check held for every helper.

UNIT ATTENTIONs are part of what is checked: the scenario says, with
expect_ua(), which one each of its steps leaves on which nexus; the next
command on that nexus, through a helper or sg_persist, must report exactly
that one (it is then sent again), and any other UNIT ATTENTION fails.
"""
import json
import os
import re
import subprocess
import sys

SRC, PRHCTL = sys.argv[1], sys.argv[2]
HELPERS = [a.split("=", 1) for a in sys.argv[3:] if not a.startswith("@results=")]
RESULTS = next((a.split("=", 1)[1] for a in sys.argv[3:] if a.startswith("@results=")), "/tmp")
RIG_LIB = os.path.join(SRC, "test", "vm", "rig-lib.sh")

KA, KA2, KB = 0xAAAA0000000000A1, 0xAAAA0000000000A2, 0xBBBB0000000000B1
INI_A, INI_B = 0x5001405000000B01, 0x5001405000000B02      # rig-lib.sh RIG_INI_WWN_A/B
failures = 0
checks = 0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
    log(("ok:   " if cond else "FAIL: ") + what)


def rig(script):
    """Run rig-lib.sh functions; returns stdout."""
    p = subprocess.run(["sh", "-c", f". {RIG_LIB}; {script}"], capture_output=True, text=True)
    if p.returncode != 0:
        log(p.stderr)
        raise RuntimeError(f"rig step failed: {script}")
    return p.stdout


# The UNIT ATTENTIONs the scenario's steps leave, per device (= I_T nexus):
# a list of (asc, ascq, why), the oldest first.
UA_TEXT = {(0x2A, 0x03): "reservations preempted", (0x2A, 0x04): "reservations released",
           (0x2A, 0x05): "registrations preempted", (0x29, 0x00): "power on, reset, or bus device reset occurred"}
expected_ua = {}


def expect_ua(dev, asc, ascq, why):
    expected_ua.setdefault(dev, []).append((asc, ascq, why))


def unit_attention(dev, what, asc, ascq):
    """A UNIT ATTENTION (asc, ascq; None if unknown) on DEV: must be the next one expected."""
    pending = expected_ua.get(dev, [])
    got = f"{asc:02x}/{ascq:02x}" if asc is not None else "unknown ASC"
    if not pending:
        check(False, f"unexpected UNIT ATTENTION {got} on {dev} ({what})")
        return
    easc, eascq, why = pending.pop(0)
    check((asc, ascq) == (easc, eascq),
          f"UNIT ATTENTION on {dev} ({what}): got {got}, want {easc:02x}/{eascq:02x} ({why})")


def no_ua_pending(dev, what):
    """The command on DEV succeeded without a UNIT ATTENTION: none may have been due."""
    pending = expected_ua.get(dev, [])
    if pending:
        easc, eascq, why = pending.pop(0)
        check(False, f"expected UNIT ATTENTION {easc:02x}/{eascq:02x} ({why}) not reported on {dev} ({what})")


def prhctl(sock, dev, *args):
    """prhctl --json; a UNIT ATTENTION must be the one expected (unit_attention), then it is sent again."""
    for _ in range(2):
        cmd = [PRHCTL, "-k", sock] + ([dev] if dev else []) + [*args, "--json"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            doc = {}
        sense = doc.get("sense", {})
        if dev and p.returncode == 5 and sense.get("key") == 6:
            unit_attention(dev, f"prhctl {' '.join(args)}", sense.get("asc"), sense.get("ascq"))
            continue
        if dev:
            no_ua_pending(dev, f"prhctl {' '.join(args)}")
        return p.returncode, doc, p.stderr
    check(False, f"prhctl {' '.join(args)} on {dev}: a second UNIT ATTENTION in a row")
    return p.returncode, doc, p.stderr


def sgp(dev, *args):
    """sg_persist over direct SG_IO; a UNIT ATTENTION (exit status 6) must be the one expected."""
    for _ in range(2):
        p = subprocess.run(["sg_persist", "-n", "-v", *args, dev], capture_output=True, text=True)
        if p.returncode != 6:
            break
        m = re.search(r"Additional sense: (.+)", p.stderr)
        text = m.group(1).strip().lower() if m else ""
        code = next((c for c, t in UA_TEXT.items() if t == text), (None, None))
        unit_attention(dev, f"sg_persist {' '.join(args)}: {text or p.stderr.strip()}", *code)
    else:
        check(False, f"sg_persist {args} on {dev}: a second UNIT ATTENTION in a row")
    if p.returncode == 0:
        no_ua_pending(dev, f"sg_persist {' '.join(args)}")
    if p.returncode != 0:
        log(f"sg_persist {args} {dev}: exit {p.returncode}: {p.stderr}")
    return p.stdout


def sg_keys(dev):
    return sorted(int(k, 16) for k in re.findall(r"^\s+(0x[0-9a-f]+)\s*$", sgp(dev, "-k"), re.M))


def sg_reservation(dev):
    out = sgp(dev, "-r")
    if "NO reservation" in out:
        return None
    key = re.search(r"Key=(0x[0-9a-f]+)", out)
    typ = re.search(r"type: (.+)$", out, re.M)
    return (int(key.group(1), 16), typ.group(1).strip()) if key and typ else ("unparsed", out)


def sg_full_status(dev):
    out = sgp(dev, "-s")
    regs = []
    for block in re.split(r"\n(?=\s+Key=)", out):
        m = re.search(r"Key=(0x[0-9a-f]+)", block)
        if not m:
            continue
        sas = re.search(r"SAS address: (0x[0-9a-f]+)", block)
        port = re.search(r"Relative port address: (0x[0-9a-f]+)", block)
        regs.append({"key": int(m.group(1), 16), "holder": "<< Reservation holder >>" in block,
                     "sas": int(sas.group(1), 16) if sas else None,
                     "port": int(port.group(1), 16) if port else None,
                     "all_tg_pt": "All target ports bit set" in block})
    return sorted(regs, key=lambda r: (r["sas"] or 0, r["key"]))


def sg_capabilities(dev):
    out = sgp(dev, "-c")
    caps = {m.group(1): int(m.group(2)) for m in re.finditer(r"\((\w+)\): (\d+)", out)}
    allow = re.search(r"Allow Commands: (\d+)", out)
    caps["allow_commands"] = int(allow.group(1)) if allow else None
    return caps


def prh_full_status(doc):
    regs = []
    for r in doc.get("registrations", []):
        tid = r.get("transport_id") or ""
        regs.append({"key": int(r["key"], 16), "holder": r["holder"],
                     "sas": int(tid[4:], 16) if tid.startswith("sas,") else None,
                     "port": r["relative_target_port"], "all_tg_pt": r["all_tg_pt"]})
    return sorted(regs, key=lambda r: (r["sas"] or 0, r["key"]))


def scenario(name, binary):
    devs = rig("lio_lu_fresh >/dev/null; echo $RIG_DEV_A $RIG_DEV_B").split()
    a, b = devs
    sock = f"/run/prhctl-{name}.sock"
    rig(f"helper_start prhctl-{name} {binary} {sock}")
    tag = f"[{name}]"
    try:
        def ok(dev, *args):
            rc, doc, err = prhctl(sock, dev, *args)
            check(rc == 0 and doc.get("status") == "GOOD", f"{tag} {' '.join(args)} on {dev}: exit {rc} {err.strip()}")
            return doc

        rc, doc, err = prhctl(sock, None, "probe")
        check(rc == 0 and doc.get("features") == 0, f"{tag} probe")

        doc = ok(a, "read-keys")
        check(doc.get("keys") == [] and doc.get("generation") == 0, f"{tag} fresh LU: no keys, generation 0 ({doc})")
        check(sg_keys(b) == [], f"{tag} sg_persist agrees: no keys")

        # REGISTER (A) and REGISTER AND IGNORE EXISTING KEY with APTPL (B).
        ok(a, "register", "-S", hex(KA))
        ok(b, "register-ignore", "-S", hex(KB), "--param-aptpl")
        doc = ok(a, "read-keys")
        keys = sorted(int(k, 16) for k in doc.get("keys", []))
        check(keys == [KA, KB] and doc.get("generation") == 2, f"{tag} read-keys after two registrations: {doc}")
        check(sg_keys(b) == keys, f"{tag} sg_persist sees the same keys: {sg_keys(b)}")

        # REPORT CAPABILITIES, field by field against sg_persist -c.
        doc = ok(a, "report-capabilities")
        sc = sg_capabilities(a)
        for field, abbr in (("rlr_c", "RLR_C"), ("crh", "CRH"), ("sip_c", "SIP_C"), ("atp_c", "ATP_C"),
                            ("ptpl_c", "PTPL_C"), ("tmv", "TMV"), ("ptpl_a", "PTPL_A")):
            check(int(doc.get(field, -1)) == sc.get(abbr), f"{tag} capability {abbr}: prhctl {doc.get(field)} sg_persist {sc.get(abbr)}")
        check(doc.get("allow_commands") == sc["allow_commands"], f"{tag} allow commands")
        check(doc.get("ptpl_a") is True, f"{tag} APTPL from register-ignore -Z is active")

        # RESERVE / conflict / RELEASE.
        ok(a, "reserve", "-K", hex(KA), "-T", "we")
        check(sg_reservation(b) == (KA, "Write Exclusive"), f"{tag} sg_persist: A holds Write Exclusive ({sg_reservation(b)})")
        doc = ok(b, "read-reservation")
        check(doc.get("reserved") and int(doc["key"], 16) == KA and doc.get("type") == 1, f"{tag} read-reservation {doc}")
        rc, doc, err = prhctl(sock, b, "reserve", "-K", hex(KB), "-T", "we")
        check(rc == 6 and doc.get("status") == "RESERVATION CONFLICT", f"{tag} B's reserve conflicts: exit {rc}")
        # SPC-4 wants ILLEGAL REQUEST here; LIO answers RESERVATION CONFLICT.  Either way nothing changes.
        rc, doc, err = prhctl(sock, a, "release", "-K", hex(KA), "-T", "ea")
        check(rc in (5, 6), f"{tag} release with the wrong type is refused: exit {rc} {doc}")
        check(sg_reservation(b) == (KA, "Write Exclusive"), f"{tag} ... and A still holds the reservation")
        ok(a, "release", "-K", hex(KA), "-T", "we")
        check(sg_reservation(b) is None, f"{tag} sg_persist: released")

        # PREEMPT: B takes A's registration and reservation.
        ok(a, "reserve", "-K", hex(KA), "-T", "ea-ro")
        ok(b, "preempt", "-K", hex(KB), "-S", hex(KA), "-T", "ea-ro")
        expect_ua(a, 0x2A, 0x05, "B preempted A's registration")
        check(sg_keys(a) == [KB], f"{tag} after preempt only B's key is left ({sg_keys(a)})")
        check(sg_reservation(a) == (KB, "Exclusive Access, registrants only"), f"{tag} B holds EA-RO ({sg_reservation(a)})")

        # PREEMPT AND ABORT is not run: on LIO with tcm_loop (Linux 6.1) it deadlocks the target
        # (core_tmr_lun_reset waits for the work item executing it) also with sg_persist over
        # direct SG_IO, and the guest panics.  Its encoding is covered by test-pr-codec and the
        # scripted-peer test of prhctl.

        # REGISTER AND MOVE: B moves its reservation to A's I_T nexus under a new key.
        doc = ok(b, "read-full-status")
        check(len(doc.get("registrations", [])) == 1, f"{tag} one registration before the move")
        check(sg_keys(a) == [KB], f"{tag} A is unregistered before the move")
        ok(b, "register-move", "-K", hex(KB), "-S", hex(KA2), "-T", "ea-ro", "-Q", "1", "-X", f"sas,{INI_A:#x}")
        doc = ok(b, "read-full-status")
        mine = prh_full_status(doc)
        exp = [{"key": KA2, "holder": True, "sas": INI_A, "port": 1, "all_tg_pt": False},
               {"key": KB, "holder": False, "sas": INI_B, "port": 2, "all_tg_pt": False}]
        check(mine == exp, f"{tag} full status after register-move: {mine}")
        check(sg_full_status(a) == mine, f"{tag} sg_persist -s agrees: {sg_full_status(a)}")
        check(sg_reservation(b) == (KA2, "Exclusive Access, registrants only"), f"{tag} A holds after the move")

        # REPLACE LOST RESERVATION: LIO has no RLR_C; the answer is ILLEGAL REQUEST and nothing changes.
        gen = ok(a, "read-keys").get("generation")
        rc, doc, err = prhctl(sock, a, "replace-lost", "-S", hex(KA), "-T", "we")
        check(rc == 5 and doc.get("sense", {}).get("key") == 5, f"{tag} replace-lost refused by LIO: exit {rc} {doc.get('sense')}")
        check(ok(a, "read-keys").get("generation") == gen, f"{tag} replace-lost changed nothing")

        # CLEAR.
        ok(a, "clear", "-K", hex(KA2))
        expect_ua(b, 0x2A, 0x03, "A cleared B's registration")
        check(sg_keys(b) == [] and sg_reservation(b) is None, f"{tag} clear: no keys, no reservation")

        # SPEC_I_PT: A registers itself and B's initiator port in one command.
        ok(a, "register", "-S", hex(KA), "-X", f"sas,{INI_B:#x}")
        mine = prh_full_status(ok(a, "read-full-status"))
        check([(r["key"], r["sas"]) for r in mine] == [(KA, INI_A), (KA, INI_B)], f"{tag} SPEC_I_PT registered both: {mine}")
        check(sg_full_status(b) == mine, f"{tag} sg_persist -s agrees on SPEC_I_PT")
        ok(a, "clear", "-K", hex(KA))
        expect_ua(b, 0x2A, 0x03, "A cleared the registration SPEC_I_PT made for B")

        # ALL_TG_PT.
        ok(a, "register", "-S", hex(KA), "--param-alltgpt")
        mine = prh_full_status(ok(a, "read-full-status"))
        check(mine and all(r["all_tg_pt"] for r in mine), f"{tag} ALL_TG_PT registration: {mine}")
        # sg_persist prints no relative port for ALL_TG_PT registrations (it is not meaningful then).
        theirs = sg_full_status(b)
        check([dict(r, port=None) for r in theirs] == [dict(r, port=None) for r in mine],
              f"{tag} sg_persist -s agrees on ALL_TG_PT: {theirs} vs {mine}")

        # A read-only fd: the helper itself refuses PR OUT.
        rc, doc, err = prhctl(sock, a, "--readonly", "register", "-K", hex(KA), "-S", "0")
        s = doc.get("sense", {})
        check(rc == 5 and (s.get("key"), s.get("asc"), s.get("ascq")) == (5, 0x20, 0), f"{tag} read-only PR OUT: {doc}")
        check(sg_keys(b) != [], f"{tag} ... and the registration is untouched")
        # LIO wants ALL_TG_PT to match the registration when unregistering it.
        ok(a, "register", "-K", hex(KA), "-S", "0", "--param-alltgpt")
        check(sg_keys(b) == [], f"{tag} unregister with service action key 0")
        for dev in (a, b):
            left = expected_ua.pop(dev, [])
            check(not left, f"{tag} every expected UNIT ATTENTION on {dev} was reported: left {left}")
    finally:
        try:
            rig(f"helper_stop prhctl-{name}")
            check(True, f"{tag} the helper exited on SIGTERM")
        except RuntimeError:
            check(False, f"{tag} the helper did not exit within 10 s of SIGTERM")


def policy_scenario(binary):
    """prhd's per-socket policy and audit trail on the real LU (docs/audit.md): a tenant socket
    whose policy forbids PREEMPT gets 05/20/02 and the LU is untouched; a fencer socket may
    preempt; a socket whose device rule names another WWID is denied; prhctl audit then answers
    who changed the reservation on this LU."""
    devs = rig("lio_lu_fresh >/dev/null; echo $RIG_DEV_A $RIG_DEV_B").split()
    a, b = devs
    tag = "[prhd policy]"
    wwid = open(f"/sys/block/{os.path.basename(a)}/device/wwid").read().strip()
    check(wwid.startswith("naa."), f"{tag} the LU's WWID from sysfs: {wwid}")
    tenant, fencer, other = "/run/prh-tenant.sock", "/run/prh-fencer.sock", "/run/prh-other.sock"
    cfg, audit = "/run/prh-policy.json", os.path.join(RESULTS, "audit.jsonl")
    with open(cfg, "w") as f:
        json.dump({"sockets": {
            tenant: {"actions": ["pr-in", "register", "register-and-ignore", "reserve", "release"],
                     "devices": [f"wwid:{wwid}"]},
            fencer: {"devices": [f"wwid:{wwid}"]},
            other: {"devices": ["wwid:naa.0*", "/dev/nothing*"]}}}, f)
    if os.path.exists(audit):
        os.unlink(audit)
    p = subprocess.run([binary, "-d", "-f", "/run/prhctl-policy.pid", "-k", tenant, "-k", fencer, "-k", other,
                        "--config", cfg, "--audit-log", audit], capture_output=True, text=True)
    check(p.returncode == 0, f"{tag} prhd with --config and --audit-log started: {p.stderr.strip()}")
    if p.returncode != 0:
        return
    try:
        def ok(sock, dev, *args):
            rc, doc, err = prhctl(sock, dev, *args)
            check(rc == 0 and doc.get("status") == "GOOD", f"{tag} {' '.join(args)} on {dev} via {sock}: exit {rc} {err.strip()}")

        ok(tenant, a, "register", "-S", hex(KA))
        ok(tenant, a, "reserve", "-K", hex(KA), "-T", "we")
        ok(fencer, b, "register", "-S", hex(KB))
        # The tenant tries to fence A: denied with the documented sense, the LU untouched.
        rc, doc, err = prhctl(tenant, b, "preempt", "-K", hex(KB), "-S", hex(KA), "-T", "we")
        s = doc.get("sense", {})
        check(rc == 5 and (s.get("key"), s.get("asc"), s.get("ascq")) == (5, 0x20, 0x02),
              f"{tag} PREEMPT through the tenant socket: CHECK CONDITION 05/20/02 ({doc})")
        check(sg_keys(a) == sorted([KA, KB]), f"{tag} ... both registrations are still there ({sg_keys(a)})")
        check(sg_reservation(a) == (KA, "Write Exclusive"), f"{tag} ... A still holds the reservation ({sg_reservation(a)})")
        # The device rule at its edge: another WWID's glob does not match this LU.
        rc, doc, err = prhctl(other, a, "read-keys")
        s = doc.get("sense", {})
        check(rc == 5 and (s.get("key"), s.get("asc"), s.get("ascq")) == (5, 0x20, 0x02),
              f"{tag} READ KEYS through a socket for other WWIDs: denied ({doc})")
        # The fencer may preempt.
        ok(fencer, b, "preempt", "-K", hex(KB), "-S", hex(KA), "-T", "we")
        expect_ua(a, 0x2A, 0x05, "B preempted A's registration")
        check(sg_keys(a) == [KB], f"{tag} after the fencer's PREEMPT only B's key is left ({sg_keys(a)})")
        ok(fencer, b, "release", "-K", hex(KB), "-T", "we")
        ok(fencer, b, "register", "-K", hex(KB), "-S", "0")
        check(sg_keys(b) == [], f"{tag} cleaned up")
        # Who changed the reservation on this LU in the last hour?
        q = subprocess.run([PRHCTL, "audit", "--file", audit, "--device", wwid, "--since", "1h"],
                           capture_output=True, text=True)
        with open(os.path.join(RESULTS, "prhctl-audit.txt"), "w") as f:
            f.write(q.stdout)
        log(q.stdout)
        lines = [l for l in q.stdout.splitlines()[1:] if l.strip()]
        # TIME, PEER ("prhctl[PID] uid N": three words), ACTION, ...
        check(q.returncode == 0 and [l.split()[4] for l in lines] ==
              ["register", "reserve", "register", "preempt", "release", "register"],
              f"{tag} prhctl audit lists the six changes in order")
        pre = [json.loads(l) for l in open(audit) if '"preempt"' in l]
        check(len(pre) == 2 and pre[0]["result"]["outcome"] == "denied" and pre[0]["result"]["denied_by"] == "service-action"
              and pre[1]["result"]["outcome"] == "good" and pre[1]["device"].get("wwid") == wwid
              and pre[1]["key"] == f"0x{KB:016x}" and pre[1]["sa_key"] == f"0x{KA:016x}",
              f"{tag} the audit file has the denied and the granted PREEMPT")
        for dev in (a, b):
            left = expected_ua.pop(dev, [])
            check(not left, f"{tag} every expected UNIT ATTENTION on {dev} was reported: left {left}")
    finally:
        try:
            rig("helper_stop prhctl-policy")
            check(True, f"{tag} prhd exited on SIGTERM")
        except RuntimeError:
            check(False, f"{tag} prhd did not exit within 10 s of SIGTERM")


def main():
    rig("lio_init; lio_lu_create >/dev/null")
    for name, binary in HELPERS:
        if not os.access(binary, os.X_OK):
            check(False, f"helper {binary} is not executable")
            continue
        scenario(name, binary)
        if name == "prhd":
            policy_scenario(binary)
    log(f"rig-prhctl: {checks} checks, {failures} failed")
    return 1 if failures or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
