"""A rollout from upstream speakers to ours, node by node: does one VIP ever get two answers?

Run ``python -m bench.l2_rollout [--trials N] [--to py|go]`` as root. A netlab LAN
(:class:`bench.membership.MembershipLab`) of three nodes and a client. The nodes start as
memberlist peers answering ARP for 192.0.2.100 when upstream's election picks them
(``tools/mlpeer --vip``); the client probes the VIP every 100 ms and matches every reply to
its probe (``bench/vip_watch.py``). Then, node by node as a DaemonSet rollout goes, the
node's peer gets SIGTERM (it leaves, answering until it exits, as upstream's speaker),
and once the others have seen it go, the node starts our member with our announcer
(``bench/l2_member.py``; ``--to go`` restarts a memberlist peer instead: upstream's own
rolling restart, the reference); the next node follows once all three agree, plus a
second of steady state.

Per trial: ``double_answer_probes`` (probes two MACs answered: the failure this guards
against), ``unanswered_probes`` (probes nobody answered: the handover gaps) and
``probes``. Prints JSON lines ``{"bench", "metric", "value", "unit", ...}``; asserts
nothing (``tests/integration/net/test_memberlist_interop.py`` asserts no double answer).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from bench.membership import GO, PY, MembershipLab, emit_for, wait_for
from bench.vip_watch import answers
from metallb.election.ranking import rank

BENCH = "l2_rollout"
VIP = "192.0.2.100"
NAMES = {"node-0", "node-1", "node-2"}
HERE = Path(__file__).resolve().parent
# A module run from the repository root, as every bench: it imports bench.membership_demo.
L2_MEMBER = (sys.executable, "-m", "bench.l2_member")


def winner(names: set[str]) -> str:
    """The VIP's owner among ``names`` by upstream's (and our) election."""
    return rank(names, IPv4Address(VIP), {})[0]


def mac(lab: MembershipLab, name: str) -> str:
    return lab.members[name].host.run("cat", "/sys/class/net/eth0/address").strip().lower()


def start_speaker(lab: MembershipLab, name: str, kind: str) -> None:
    """The node's member answering ARP for the VIP when elected: a memberlist peer (GO)
    or our member and announcer (PY)."""
    program = () if kind == GO else L2_MEMBER
    lab.start(name, kind=kind, program=program, extra=[f"--vip={VIP}"])


def start_go_speakers(lab: MembershipLab) -> None:
    """node-0..2 as memberlist peers with the VIP, converged."""
    for i in range(3):
        lab.add_host(f"node-{i}", kind=GO)
    for name in sorted(NAMES):
        start_speaker(lab, name, GO)
    lab.wait_converged(NAMES, timeout=30)


@contextmanager
def vip_watch(lab: MembershipLab, workdir: Path) -> Iterator[list[dict[str, Any]]]:
    """A client on the LAN probing the VIP every 100 ms; yields the list its lines are
    read into when the block ends."""
    client = lab.net.add_host("client")
    lab.net.connect(client, lab.net.lans["lan"], "eth0", ["192.0.2.50/24"])
    log = workdir / "vip-watch.log"
    proc = client.start(sys.executable, str(HERE / "vip_watch.py"), "--vip", VIP, log=log)
    wait_for(lambda: True if '"probe"' in log.read_text() else None, 15, "the watcher")
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        proc.terminate()
        proc.wait(10)
        text = log.read_text().splitlines()
        lines.extend(json.loads(t) for t in text if t.startswith("{"))


def roll(lab: MembershipLab, to: str, settle: float = 1.0) -> None:
    """Replace every node's speaker by one of kind ``to``, one node at a time."""
    time.sleep(settle)
    for name in sorted(NAMES):
        old = lab.members[name].proc
        t0 = time.monotonic()
        old.terminate()
        old.wait(10)
        wait_for(partial(lab.declared_dead_by_all, name, t0), 30, f"{name} gone")
        start_speaker(lab, name, to)
        lab.wait_converged(NAMES, timeout=30)
        time.sleep(settle)


def run(trials: int, to: str) -> None:
    for trial in range(trials):
        with tempfile.TemporaryDirectory() as tmp, MembershipLab(Path(tmp), n=0) as lab:
            start_go_speakers(lab)
            with vip_watch(lab, Path(tmp)) as watched:
                roll(lab, to)
            per_probe = answers(watched)
            params = {"trial": trial, "to": to, "nodes": len(NAMES), "probe_interval": 0.1}
            for metric, value in (
                ("double_answer_probes", sum(1 for m in per_probe.values() if len(m) > 1)),
                ("unanswered_probes", sum(1 for m in per_probe.values() if not m)),
                ("probes", len(per_probe)),
            ):
                emit_for(BENCH, metric, value, "count", params)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--to", choices=(PY, GO), default=PY)
    args = p.parse_args()
    run(args.trials, args.to)


if __name__ == "__main__":
    main()
