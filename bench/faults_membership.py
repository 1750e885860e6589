"""Fault: membership packets sealed with a wrong key, and garbage, at the members' port.

Method. Three members (``python -m bench.membership_demo`` in their namespaces,
harness :class:`bench.membership.MembershipLab`) converge; then an intruder namespace on
the same LAN sends UDP datagrams to port 7946 of all three, paced to ``--rate`` in
total for ``--seconds`` (at most 5 s, capped at ``rate * seconds`` datagrams), cycling
through three kinds: real packets (pings naming each member) sealed under another
secret, random bytes that start with memberlist's envelope version (1) (so they reach key
derivation and AES-GCM like a wrong-key packet) and random bytes of any first byte.
The members' CPU over the flood comes from ``/proc/<pid>/stat``; their drop counters
(``metallb_memberlist_dropped_packets_total{reason=auth|version|malformed}``) and
membership changes from their stats lines, up to ``--after`` seconds past the flood.

Output: JSON lines (see :mod:`bench.faults`); nothing asserted here
(``tests/integration/net/test_faults_membership.py`` asserts on :func:`scenario`'s
result). Run as root: ``.venv/bin/python -m bench.faults_membership``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.faults import CpuMeter, emit, paced
from bench.membership import MembershipLab, wait_for
from metallb.codec.memberlist import Ping, encode
from metallb.membership import DEFAULT_PORT, derive_key
from metallb.membership.crypto import VERSION
from metallb.membership.wire import Wire

BENCH = "fault_membership_garbage"
BENCH_MODULE = "bench.faults_membership"
INTRUDER_IP = "192.0.2.50"
MAX_SECONDS = 5.0
REASONS = ("auth", "version", "malformed")
KINDS = ("wrong_key", "garbage_v1", "garbage")


def payloads(names: list[str]) -> list[tuple[str, bytes]]:
    """(kind, datagram): for each of 32 rounds and each member, one of each kind."""
    wrong = Wire(derive_key(b"not-the-cluster-secret"))
    out: list[tuple[str, bytes]] = []
    for i in range(32):
        for name in names:
            ping = encode(Ping(i, name, (INTRUDER_IP, DEFAULT_PORT), "intruder"))
            out.append(("wrong_key", wrong.seal_packet([ping], crc=True)))
            out.append(("garbage_v1", bytes([VERSION]) + os.urandom(40 + i)))
            out.append(("garbage", os.urandom(1 + 7 * i)))
    return out


def flood(targets: list[str], rate: float, seconds: float) -> dict[str, Any]:
    """Inside the intruder namespace: the datagrams, round robin over targets and kinds."""
    names = [f"node-{i}" for i in range(len(targets))]  # as MembershipLab names them
    ips = [ip for ip in targets for _ in KINDS] * 32  # payloads' order: member, then kind
    plan = [(kind, data, ip) for (kind, data), ip in zip(payloads(names), ips, strict=True)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = {k: 0 for k in KINDS}

    def send(i: int) -> None:
        kind, data, ip = plan[i % len(plan)]
        try:
            sock.sendto(data, (ip, DEFAULT_PORT))
            sent[kind] += 1
        except OSError:  # a full queue: not counted as sent
            pass

    start = time.monotonic()
    paced(send, rate, min(seconds, MAX_SECONDS))
    return {"sent": sent, "elapsed": time.monotonic() - start}


def _counter(stats: dict[str, Any] | None, reason: str) -> int:
    return int((stats or {}).get(f"metallb_memberlist_dropped_packets_total{{reason={reason}}}", 0))


def scenario(workdir: Path, rate: float, seconds: float, after: float = 3.0) -> dict[str, Any]:
    seconds = min(seconds, MAX_SECONDS)
    with MembershipLab(workdir) as lab:
        names = set(lab.members)
        lab.wait_converged(names)
        intruder = lab.net.add_host("intruder")
        lab.net.connect(intruder, lab.net.lans["lan"], "eth0", [f"{INTRUDER_IP}/24"])
        members = sorted(lab.members.values(), key=lambda m: m.name)
        before = {m.name: m.stats() for m in members}
        meter = CpuMeter([m.proc.pid for m in members])
        t0 = time.monotonic()
        targets = ",".join(m.ip for m in members)
        proc = subprocess.run(
            [
                *("ip", "netns", "exec", intruder.netns, sys.executable, "-m", BENCH_MODULE),
                *("--flood", targets, "--rate", str(rate), "--seconds", str(seconds)),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
            cwd=Path(__file__).resolve().parent.parent,
        )
        cpu = meter.shares()
        sent = json.loads(proc.stdout)
        time.sleep(after)
        t1 = time.monotonic()
        wait_for(
            lambda: all(((m.stats() or {}).get("mono", 0) > t1) or None for m in members),
            5,
            "stats",
        )
        result: dict[str, Any] = {
            "sent": sent["sent"],
            "rate": sum(sent["sent"].values()) / sent["elapsed"],
        }
        result["members"] = {}
        for m, share in zip(members, cpu, strict=True):
            now = m.stats() or {}
            result["members"][m.name] = {
                "cpu": share,
                "dropped": {r: _counter(now, r) - _counter(before[m.name], r) for r in REASONS},
                "changes": [
                    e for e in m.lines() if e["type"] in ("down", "update", "up") and e["mono"] > t0
                ],
                "view": sorted(now.get("members", [])),
                "suspicions": now.get("metallb_memberlist_suspicions_total", 0)
                - (before[m.name] or {}).get("metallb_memberlist_suspicions_total", 0),
            }
        result["names"] = sorted(names)
    return result


def report(result: dict[str, Any], rate: float, seconds: float) -> None:
    params = {"offered_pps": rate, "seconds": seconds, "members": len(result["members"])}
    emit(BENCH, "flood_achieved_pps", round(result["rate"]), "1/s", **params)
    for kind, n in result["sent"].items():
        emit(BENCH, "sent", n, "count", kind=kind, **params)
    for name, m in result["members"].items():
        for reason, n in m["dropped"].items():
            emit(BENCH, "dropped", n, "count", member=name, reason=reason, **params)
        emit(BENCH, "member_cpu_during_flood", round(m["cpu"], 3), "cores", member=name, **params)
        emit(BENCH, "membership_changes", len(m["changes"]), "count", member=name, **params)
        emit(BENCH, "suspicions", m["suspicions"], "count", member=name, **params)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--flood", metavar="IP,IP,...", help="(internal) be the intruder")
    p.add_argument("--rate", type=float, default=10000.0)
    p.add_argument("--seconds", type=float, default=MAX_SECONDS)
    args = p.parse_args()
    if args.flood:
        print(json.dumps(flood(args.flood.split(","), args.rate, args.seconds)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = scenario(Path(tmp), args.rate, args.seconds)
    report(result, args.rate, args.seconds)


if __name__ == "__main__":
    main()
