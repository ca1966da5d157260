#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest side of the prhctl rig scenario (runs inside test/vm/vm-run.sh).

    rig-prhctl.py SOURCE-DIR PRHCTL NAME=HELPER-BINARY... [@results=DIR] [@kernel=FILE @initrd=FILE]

For each helper: a fresh LIO LU seen through two tcm_loop I_T nexuses
(A and B, test/vm/rig-lib.sh), the helper started as a daemon, then every
prhctl command through the helper, each state change checked against
sg_persist's own view of the LU over direct SG_IO (on the other nexus where
that matters).  Exit 0 only if every check held for every helper.

UNIT ATTENTIONs are part of what is checked: the scenario says, with
expect_ua(), which one each of its steps leaves on which nexus; the next
command on that nexus, through a helper or sg_persist, must report exactly
that one (it is then sent again), and any other UNIT ATTENTION fails.

After prhd's pass: prhd's per-socket policy and audit records on the same LU,
through prhctl (policy_scenario) and through a nested guest under real QEMU
(policy_qemu_scenario, with the kernel and initramfs given by @kernel and
@initrd: test/vm/mkinitramfs.sh nested).
"""
import difflib
import json
import os
import re
import subprocess
import sys
import time

SRC, PRHCTL = sys.argv[1], sys.argv[2]
HELPERS = [a.split("=", 1) for a in sys.argv[3:] if not a.startswith("@")]
OPTS = dict(a[1:].split("=", 1) for a in sys.argv[3:] if a.startswith("@"))
RESULTS = OPTS.get("results", "/tmp")
# the nested guest of the policy part (run-rig-prhctl.sh): kernel and initramfs
KERNEL, INITRD = OPTS.get("kernel"), OPTS.get("initrd")
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


# ---- the policy with real QEMU as the client (issue 14) ------------------------------------
# A nested guest (test/vm/nested-init.sh, part "policy") with four scsi-block disks: nexus A and B
# of LU 0 through prhd's tenant socket, whose policy forbids PREEMPT and PREEMPT AND ABORT, and its
# socket that allows everything; nexus A and B of LU 2 through a prhd without a configuration.  It
# runs the same sg_persist steps on both LUs (nested-init.sh: NKB registers and reserves, NKA
# registers, reads, then tries to preempt NKB).
NKA, NKB = 0xA1A1, 0xB2B2                                   # nested-init.sh's KA and KB
VM_TENANT, VM_OPEN, VM_PLAIN = "/run/prh-tenant-vm.sock", "/run/prh-open-vm.sock", "/run/prh-plain-vm.sock"
VM_POLICY_NAME, VM_PLAIN_NAME = "prhd-policy-vm", "prhd-plain-vm"   # rig-lib.sh helper names
QEMU_CGROUP = "/prh-rig.slice/tenant-vm.scope"
# The denial as docs/audit.md documents it, byte for byte as the guest must see it: fixed format,
# current error, sense key ILLEGAL REQUEST, additional length 10, ASC/ASCQ 20h/02h (ACCESS DENIED -
# NO ACCESS RIGHTS).
DENIED_SENSE = "70 00 05 00 00 00 00 0a 00 00 00 00 20 02 00 00 00 00"
# Steps whose output (CDB, parameter list, reply bytes, status) must be the same through the
# policy's sockets as through the prhd without one: everything the policy allows.
ALLOWED_STEPS = ["register-b", "reserve-b", "register-a", "read-keys", "read-reservation",
                 "read-full-status", "report-capabilities"]
# prhd's warning for each denial (docs/audit.md), expected on its stderr (rig-lib.sh helper_log_check)
DENIAL_WARNING = (r"Denied PR OUT (preempt|preempt-and-abort) on [^ ]+ by the policy of socket "
                  + VM_TENANT.replace(".", r"\.") + r" \(rule service-action\)")   # (also an awk ERE)


def rig_rc(script, **env):
    """Run rig-lib.sh functions; returns (exit status, stdout, stderr)."""
    p = subprocess.run(["sh", "-c", f". {RIG_LIB}; {script}"], capture_output=True, text=True,
                       env=dict(os.environ, **env))
    return p.returncode, p.stdout, p.stderr


def split_console(path):
    """A nested console cut into {test: (output, exit status)} ("@@BEGIN name" ... "@@END name rc=N")."""
    tests, name, out = {}, None, []
    with open(path, errors="replace") as f:
        for line in f.read().replace("\r", "").splitlines():
            if line.startswith("@@BEGIN "):
                name, out = line.split()[1], []
            elif line.startswith("@@END ") and name:
                tests[name] = ("\n".join(out), int(line.rsplit("rc=", 1)[1]))
                name = None
            elif name is not None:
                out.append(line)
    return tests


def raw_sense(text):
    """The sense bytes sg3_utils prints at -vv ("Raw sense data (in hex)"), as one hex string."""
    m = re.search(r"Raw sense data \(in hex\)[^\n]*\n((?:\s+(?:[0-9a-f]{2}\s*)+\n?)+)", text)
    return " ".join(m.group(1).split()) if m else None


def request_lines(text):
    """What sg_persist -vv says about the request it sends: its CDB and parameter list."""
    keep, out = False, []
    for line in text.splitlines():
        if re.match(r"\s+Persistent reservation (in|out) (cdb|parameters):", line):
            keep = True
        elif not re.match(r"\s+([0-9a-f]{2} )+", line + " "):
            keep = False
            continue
        if keep:
            out.append(line)
    return out


def nested_policy_boot(out, accel, devs, pidfile):
    """One boot of the nested guest, QEMU without capabilities in its own cgroup (so that prhd can
    name its executable and cgroup, docs/audit.md).  Returns (QEMU's exit status, QEMU's pid, what
    /proc said about that pid while it ran)."""
    args = ["-object", f"pr-manager-helper,id=pr1,path={VM_OPEN}",
            "-object", f"pr-manager-helper,id=pr2,path={VM_PLAIN}", "-pidfile", pidfile]
    for i, (dev, pr) in enumerate(zip(devs, ["pr0", "pr1", "pr2", "pr2"])):
        args += ["-blockdev", f"driver=raw,node-name=hd{i},file.driver=host_device,file.filename={dev},"
                 f"file.pr-manager={pr},file.locking=off",
                 "-device", f"scsi-block,bus=scsi0.0,drive=hd{i},scsi-id={i},lun=0"]

    def enter_cgroup():
        with open(f"/sys/fs/cgroup{QEMU_CGROUP}/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))

    if os.path.exists(pidfile):
        os.unlink(pidfile)
    t0 = time.monotonic()
    p = subprocess.Popen(["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all",
                          "sh", "-c", '. "$0"; rig_nested_qemu "$@"', RIG_LIB,
                          accel, "300", out, KERNEL, INITRD, VM_TENANT, *args],
                         env=dict(os.environ, PRH_NESTED_APPEND="prh.parts=policy"), preexec_fn=enter_cgroup)
    qpid, info = None, {}
    while p.poll() is None:
        if qpid is None:
            try:
                with open(pidfile) as f:
                    qpid = int(f.read())
                info["exe"] = os.readlink(f"/proc/{qpid}/exe")
                with open(f"/proc/{qpid}/comm") as f:
                    info["comm"] = f.read().strip()
                with open(f"/proc/{qpid}/status") as f:
                    info["capprm"] = re.search(r"^CapPrm:\s*(\w+)", f.read(), re.M).group(1)
                with open(f"/proc/{qpid}/cgroup") as f:
                    info["cgroup"] = f.read().strip()
            except (OSError, ValueError):
                qpid = None
        time.sleep(0.1)
    log(f"rig-prhctl: nested guest: qemu exit {p.returncode} after {time.monotonic() - t0:.1f} s")
    return p.returncode, qpid, info


def policy_qemu_scenario(binary):
    """prhd's policy with real QEMU as the client (docs/audit.md): the guest's PREEMPT through the
    socket whose policy forbids it gets CHECK CONDITION with the documented sense and the LU is
    untouched; every allowed request gives the same bytes as through a prhd without a policy; the
    denial's audit record names the rule, QEMU (pid, uid, gid, exe, cgroup) and the LU's WWID."""
    tag = "[prhd policy, QEMU]"
    if not KERNEL or not INITRD:
        check(False, f"{tag} no kernel and initramfs for the nested guest (run-rig-prhctl.sh)")
        return
    out = os.path.join(RESULTS, "policy-qemu")
    logs = os.path.join(out, "helper-logs")
    os.makedirs(logs, exist_ok=True)
    audit, cfg, pidfile = os.path.join(out, "audit.jsonl"), "/run/prh-policy-vm.json", "/run/prh-policy-qemu.pid"
    allowed = ["pr-in", "register", "reserve", "release", "clear", "register-and-ignore", "register-and-move",
               "replace-lost"]
    with open(cfg, "w") as f:
        json.dump({"sockets": {VM_TENANT: {"actions": allowed}, VM_OPEN: {}}}, f)
    if not os.path.ismount("/sys/fs/cgroup"):
        subprocess.run(["mount", "-t", "cgroup2", "cgroup2", "/sys/fs/cgroup"], check=True)
    os.makedirs(f"/sys/fs/cgroup{QEMU_CGROUP}", exist_ok=True)
    accel = rig("rig_nested_accel").strip()
    renv = {"RIG_LOG_EXPECTED": DENIAL_WARNING, "RIG_RETRY_FILE": os.path.join(RESULTS, "retries.log")}
    qemu_bin = os.path.realpath(subprocess.run(["sh", "-c", "command -v qemu-system-x86_64"],
                                               capture_output=True, text=True).stdout.strip())

    def start_helpers():
        for f in (audit,):
            if os.path.exists(f):
                os.unlink(f)
        rig(f"helper_start {VM_PLAIN_NAME} {binary} {VM_PLAIN} {logs}")
        rig(f"helper_start {VM_POLICY_NAME} {binary} {VM_TENANT} {logs} -k {VM_OPEN} --config {cfg} --audit-log {audit}")

    def stop_helpers():
        stopped = True
        for n in (VM_POLICY_NAME, VM_PLAIN_NAME):
            rc, _, err = rig_rc(f"helper_stop {n}")
            check(rc == 0, f"{tag} {n} exited on SIGTERM {err.strip()}")
            stopped = stopped and rc == 0
        return stopped

    def fresh_lus():
        ab = rig("lio_lu_fresh >/dev/null; echo $RIG_DEV_A $RIG_DEV_B").split()
        cd = rig("lio_lu_destroy_idx 2; lio_lu_create_idx 2 >/dev/null; echo $RIG_DEV_A $RIG_DEV_B").split()
        return ab + cd

    devs = fresh_lus()
    start_helpers()
    for boot in (1, 2, 3):
        log(f"rig-prhctl: {tag} boot {boot}: LU 0 on {devs[0]} {devs[1]}, LU 2 on {devs[2]} {devs[3]}, accel={accel}")
        qrc, qpid, info = nested_policy_boot(out, accel, devs, pidfile)
        if boot == 3:
            break
        # A nested guest reset by the emulation (rig-lib.sh) is booted again, on fresh LUs with
        # fresh helpers; nothing else is.
        plain_ok = rig_rc(f"helper_alive {VM_PLAIN_NAME} && helper_log_check {VM_PLAIN_NAME} {logs}", **renv)[0] == 0
        keep = os.path.join(out, f"boot-{boot}")
        if not (plain_ok and rig_rc(f"rig_nested_retry rig-prhctl {out} 'with the policy' {boot} {qrc} "
                                    f"{VM_POLICY_NAME} {logs}", **renv)[0] == 0):
            rc, ev, _ = rig_rc(f"rig_nested_reset_evidence {out} {qrc} {VM_POLICY_NAME} {logs}", **renv)
            if not plain_ok or rc != 0:
                break
            rig_rc('rig_retry rig-prhctl "$RETRY_WHY"', **renv,
                   RETRY_WHY=f"nested guest with the policy (boot {boot}): {ev.strip()}; logs kept in {keep}")
        os.makedirs(keep, exist_ok=True)
        for f in ("console.log", "qemu.log", "qemu-debug.log", "audit.jsonl"):
            if os.path.exists(os.path.join(out, f)):
                os.rename(os.path.join(out, f), os.path.join(keep, f))
        if not stop_helpers():
            return
        devs = fresh_lus()
        start_helpers()
    a, b, c, d = devs
    try:
        tests = split_console(os.path.join(out, "console.log"))
        with open(os.path.join(out, "console.log"), errors="replace") as f:
            done = "\n@@DONE" in "\n" + f.read().replace("\r", "")
        check(qrc == 0 and done, f"{tag} the nested guest ran its steps and powered off (qemu exit {qrc})")
        if not done:
            with open(os.path.join(out, "console.log"), errors="replace") as f:
                log("".join(f.readlines()[-40:]))
        check(qpid is not None and info.get("exe") == qemu_bin and info.get("capprm") == "0000000000000000"
              and info.get("cgroup") == "0::" + QEMU_CGROUP,
              f"{tag} QEMU ran as pid {qpid}, {info.get('exe')}, no capabilities, in {QEMU_CGROUP} ({info})")

        # Everything the policy allows: the same bytes as through the prhd without a policy.
        for step in ALLOWED_STEPS:
            pol, pla = tests.get(f"policy-{step}"), tests.get(f"plain-{step}")
            check(pla is not None and pla[1] == 0, f"{tag} {step} without a policy: GOOD (exit {pla and pla[1]})")
            same = pol is not None and pla is not None and pol == pla
            check(same, f"{tag} {step} through the policy's sockets: the same bytes as without a policy")
            if not same and pol and pla:
                log("\n".join(difflib.unified_diff(pla[0].splitlines(), pol[0].splitlines(), "plain", "policy", lineterm="")))
        # The PREEMPT is one the LU carries out: without a policy it does.
        pla = tests.get("plain-preempt-a", ("", -1))
        check(pla[1] == 0, f"{tag} PREEMPT without a policy: GOOD (exit {pla[1]})")
        keys = tests.get("plain-read-keys-after", ("", -1))[0]
        check(f"0x{NKA:x}" in keys and f"0x{NKB:x}" not in keys, f"{tag} ... and B's key is gone there")
        # Through the tenant socket: the same request, denied with the documented sense.
        for step in ("preempt-a", "preempt-abort-a"):
            pol = tests.get(f"policy-{step}", ("", -1))
            check(pol[1] == 5 and "Illegal Request" in pol[0] and "Access denied - no access rights" in pol[0],
                  f"{tag} {step} through the tenant socket: sg_persist in the guest says ILLEGAL REQUEST, "
                  f"access denied (exit {pol[1]})")
            check(raw_sense(pol[0]) == DENIED_SENSE, f"{tag} ... the sense bytes in the guest: {raw_sense(pol[0])}")
            if step == "preempt-a":
                check(request_lines(pol[0]) and request_lines(pol[0]) == request_lines(pla[0]),
                      f"{tag} ... for the same CDB and parameter list as the PREEMPT without a policy")
            if pol[1] != 5:
                log(pol[0])
        # The LU untouched: the guest's own view through the tenant socket, byte for byte ...
        before = tests.get("policy-read-full-status")
        for step in ("read-full-status-after", "read-full-status-end"):
            check(before is not None and tests.get(f"policy-{step}") == before,
                  f"{tag} policy-{step}: the same bytes (generation, keys, holder) as before the PREEMPTs")
        check(tests.get("policy-read-keys-after") == tests.get("policy-read-keys"),
              f"{tag} policy-read-keys-after: the same bytes as before the PREEMPTs")
        # ... and READ FULL STATUS over direct SG_IO on nexus B, not through prhd.
        fs = [(r["key"], r["holder"], r["sas"]) for r in sg_full_status(b)]
        check(fs == [(NKA, False, INI_A), (NKB, True, INI_B)],
              f"{tag} sg_persist -s on LU 0's nexus B: A registered, B registered and holding the reservation ({fs})")
        check(sg_reservation(b) == (NKB, "Write Exclusive"), f"{tag} ... B's Write Exclusive reservation ({sg_reservation(b)})")
        fs = [(r["key"], r["holder"], r["sas"]) for r in sg_full_status(c)]
        check(fs == [(NKA, True, INI_A)], f"{tag} LU 2 (no policy) over direct SG_IO: only A, holding ({fs})")

        # The audit records: three GOOD PR OUTs from QEMU, the two denials with QEMU named.
        wwid = open(f"/sys/block/{os.path.basename(a)}/device/wwid").read().strip()
        st = os.stat(a)
        recs = [json.loads(l) for l in open(audit)] if os.path.exists(audit) else []
        good = [(r["socket"], r["service_action"], r["device"]["path"]) for r in recs if r["result"]["outcome"] == "good"]
        check(good == [(VM_OPEN, "register", b), (VM_OPEN, "reserve", b), (VM_TENANT, "register", a)],
              f"{tag} the audit file has the three allowed PR OUTs from QEMU ({good})")
        denied = [r for r in recs if r["result"]["outcome"] == "denied"]
        check([r["service_action"] for r in denied] == ["preempt", "preempt-and-abort"], f"{tag} two denials recorded")
        for r in denied:
            want = {"socket": VM_TENANT, "op": "pr-out", "scope": 0, "type": 1,
                    "key": f"0x{NKA:016x}", "sa_key": f"0x{NKB:016x}",
                    "peer": {"pid": qpid, "uid": 0, "gid": 0, "exe": qemu_bin, "comm": info.get("comm"),
                             "cgroup": QEMU_CGROUP},
                    "device": {"majmin": f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}", "wwid": wwid, "path": a},
                    "result": {"outcome": "denied", "status": 2, "sense_key": 5, "asc": 0x20, "ascq": 0x02,
                               "denied_by": "service-action"}}
            got = {k: r.get(k) for k in want}
            check(got == want and r.get("duration_us") == 0 and all(
                      r["peer"].get(k) == v for k, v in want["peer"].items()),
                  f"{tag} the {r['service_action']} denial's record names the rule, QEMU and the LU: {json.dumps(r)}")
        with open(os.path.join(out, "denial-record.json"), "w") as f:
            f.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in denied))
        q = subprocess.run([PRHCTL, "audit", "--file", audit, "--device", wwid, "--since", "1h", "--all"],
                           capture_output=True, text=True)
        with open(os.path.join(out, "prhctl-audit.txt"), "w") as f:
            f.write(q.stdout)
        log(q.stdout)
        peer = f"{os.path.basename(qemu_bin)}[{qpid}]"
        check(q.returncode == 0 and sum(peer in l and " denied " in l for l in q.stdout.splitlines()) == 2,
              f"{tag} prhctl audit --all lists QEMU's two denials")
        # prhd said so, once per denial; QEMU kept its two connections (a denial closes nothing).
        with open(os.path.join(logs, f"{VM_POLICY_NAME}.stderr")) as f:
            said = [l for l in f.read().rsplit(" s: ready\n", 1)[-1].splitlines() if l.strip()]
        check(len(said) == 2 and all(re.search(DENIAL_WARNING, l) for l in said), f"{tag} prhd warned of each denial: {said}")
        with open(os.path.join(logs, f"{VM_POLICY_NAME}.trace")) as f:
            accepts = sum(l.startswith("conn_accept ") for l in f)
        check(accepts == 2, f"{tag} QEMU connected once to each socket: {accepts} connections")
        for n in (VM_POLICY_NAME, VM_PLAIN_NAME):
            rc, ev, _ = rig_rc(f"helper_log_check {n} {logs}", **renv)
            check(rc == 0, f"{tag} {ev.strip()}")
        for dev in (a, b, c, d):
            left = expected_ua.pop(dev, [])
            check(not left, f"{tag} every expected UNIT ATTENTION on {dev} was reported: left {left}")
    finally:
        stop_helpers()


def main():
    rig("lio_init; lio_lu_create >/dev/null")
    for name, binary in HELPERS:
        if not os.access(binary, os.X_OK):
            check(False, f"helper {binary} is not executable")
            continue
        scenario(name, binary)
        if name == "prhd":
            policy_scenario(binary)
            policy_qemu_scenario(binary)
    log(f"rig-prhctl: {checks} checks, {failures} failed")
    return 1 if failures or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
