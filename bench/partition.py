"""Split brain of the Layer 2 election, measured: partition the data LAN, heal it, count MACs.

Run ``python -m bench.partition [--trials N] [--reconnect-interval S] [--kinds K]`` as root
(``--reconnect-interval 0``: our members without the reconnect round, the figures before
it; ``--kinds py,go,py``: n2 a memberlist peer). Three of our members with the
election and the announcer (``bench/l2_member.py``) n1, n2, n3 and a few VIPs chosen so
that each of the three wins one under the speaker's ranking
(:func:`metallb.election.ranking.rank`). The LAN is two switches joined by one cable
(:meth:`metallb.lab.netlab.Netlab.uplink`): n1 and client A on one, n2, n3 and client B
on the other; each client probes every VIP every 100 ms and records every MAC answering
each probe (``bench/vip_watch.py``).

One trial: pull the cable; wait until n1 has declared n2 and n3 dead and they n1 (each
side then announces every VIP it wins among its own members: the expected split brain,
each client answered by its own side); wait ``--settle``; plug the cable back (the heal)
and wait until all three see all three, then ``--observe`` seconds more. Per VIP and
client, after the heal:

* ``double_answer_after_heal``: time of the last probe two MACs answered minus the heal
  time (0 if none): how long the split brain outlived the partition (goal: p99 < 1 s);
* ``sole_owner_after_heal``: time of the first probe from which every probe is answered by
  the final owner's MAC alone;
* ``rejoin_after_heal``: until both sides have seen the other up again (membership lines);
* counts: ``double_answer_probes_after_heal``, ``double_answer_probes_during_partition``
  (each side alone: should be 0), ``split_brain_seen`` (client A answered by n1 and client
  B by side B's winner before the heal), ``final_on_owner`` (the client's last answer is
  the MAC of the owner the election picks over all three), out of ``samples``.

Not covered: the Kubernetes half of the issue's scenario. There is no apiserver and there
are no backends here: the nodes do not watch Services or EndpointSlices, so "a client
ended on a node with no route to the backends" is approximated by "the client's last
answer is not the MAC of the election's owner over all three" (that owner is the node
the whole cluster agrees should serve). Whether every node still reaches the apiserver
during the partition, and what a speaker does with Service changes it hears during a
split, are not exercised.

Prints JSON lines ``{"bench", "metric", "value", "unit", ...}``; asserts nothing
(``tests/integration/net/test_partition.py`` asserts the outcomes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from bench.l2_rollout import L2_MEMBER
from bench.membership import GO, PY, MembershipLab, emit_for, summarize_for, wait_for
from bench.vip_watch import answers
from metallb.election.ranking import rank
from metallb.lab.netlab import Host, Uplink

BENCH = "partition"
SIDE_A = ("n1",)
SIDE_B = ("n2", "n3")
NAMES = SIDE_A + SIDE_B
CLIENTS = {"client-a": ("lan-a", "192.0.2.50"), "client-b": ("lan", "192.0.2.51")}
HERE = Path(__file__).resolve().parent


def _probe_of(line: Mapping[str, Any], vip: str) -> bool:
    return line["type"] == "probe" and line.get("vip") == vip


def owner(members: Iterable[str], vip: str) -> str:
    """The VIP's owner among ``members`` by the speaker's election."""
    return rank(list(members), IPv4Address(vip), {})[0]


def pick_vips(names: tuple[str, ...] = NAMES, first: int = 100) -> dict[str, str]:
    """One VIP per member, the first of 192.0.2.``first``.. that the member wins over all."""
    vips: dict[str, str] = {}
    for host in range(first, first + 28):
        vip = f"192.0.2.{host}"
        vips.setdefault(owner(names, vip), vip)
        if len(vips) == len(names):
            return {vips[n]: n for n in names}
    raise ValueError(f"no VIP in 192.0.2.{first}-{first + 27} for each of {names}")


@dataclass
class Trial:
    cut: float
    detected: float = 0.0
    heal: float = 0.0
    end: float = 0.0


@dataclass
class PartitionLab:
    """The two switches, three members, two watching clients; use :func:`partition_lab`."""

    lab: MembershipLab
    uplink: Uplink
    vips: dict[str, str]  # VIP -> its owner over all three
    clients: dict[str, tuple[Host, Path, Any]] = field(default_factory=dict)
    macs: dict[str, str] = field(default_factory=dict)  # member -> MAC

    def owners(self, members: Iterable[str]) -> dict[str, set[str]]:
        """Each VIP -> {the MAC of its owner among ``members``}."""
        return {v: {self.macs[owner(members, v)]} for v in self.vips}

    def watched(self, client: str) -> list[dict[str, Any]]:
        text = self.clients[client][1].read_text().splitlines()
        return [json.loads(t) for t in text if t.startswith("{") and t.endswith("}")]

    def last_answers(self, client: str, since: float) -> dict[str, set[str]]:
        """Each VIP's MACs in the client's last answered probe sent after ``since``."""
        lines = self.watched(client)
        out: dict[str, set[str]] = {}
        for vip in self.vips:
            sent = {x["seq"] for x in lines if _probe_of(x, vip) and x["mono"] > since}
            done = [macs for s, macs in sorted(answers(lines, vip).items()) if s in sent and macs]
            out[vip] = done[-1] if done else set()
        return out

    def wait_answered(
        self, want: Mapping[str, Mapping[str, set[str]]], since: float, timeout: float
    ) -> None:
        """Until each client's last answer to each VIP, among the probes sent after
        ``since``, is ``want[client][vip]`` (a set of MACs)."""

        def check() -> bool | None:
            ok = all(self.last_answers(c, since) == w for c, w in want.items())
            return True if ok else None

        wait_for(check, timeout, f"answers {want}")

    def split(self) -> Trial:
        """Pull the cable; return once each side has declared the other dead."""
        t = Trial(time.monotonic())
        self.uplink.plug(False)

        def detected() -> float | None:
            times = [self.lab.declared_dead_by_all(v, t.cut, SIDE_B) for v in SIDE_A]
            times += [self.lab.declared_dead_by_all(v, t.cut, SIDE_A) for v in SIDE_B]
            return None if None in times else max(x for x in times if x is not None)

        t.detected = t.cut + wait_for(detected, 30, "each side to declare the other dead")
        return t

    def heal(self, t: Trial) -> None:
        """Plug the cable back; return once all three see all three."""
        t.heal = time.monotonic()
        self.uplink.plug(True)
        self.lab.wait_converged(set(NAMES), timeout=30)

    def rejoin(self, t: Trial) -> float | None:
        """Seconds from the heal until every member saw the other side's members up."""
        pairs = [(a, b) for a in SIDE_A for b in SIDE_B]
        times = [self._up(x, y, t.heal) for a, b in pairs for x, y in ((a, b), (b, a))]
        return None if None in times else max(x for x in times if x is not None) - t.heal

    def _up(self, observer: str, other: str, since: float) -> float | None:
        ups = self.lab.members[observer].events("up", other, after=since)
        return float(ups[0]["mono"]) if ups else None


@contextmanager
def partition_lab(
    workdir: Path, kinds: Sequence[str] = (PY,) * 3, reconnect: float | None = None
) -> Iterator[PartitionLab]:
    """n1 and client A on switch ``lan-a``, n2, n3 and client B on ``lan``, joined by one
    cable; the members converged and the clients probing every VIP every 100 ms.

    ``kinds`` gives n1..n3's kind: ours (PY, ``bench/l2_member.py``) or a memberlist peer
    answering ARP as upstream's speaker (GO, ``tools/mlpeer --vip``); ``reconnect`` sets
    our members' ``reconnect_interval`` (0: off, the figures before it existed)."""
    with MembershipLab(workdir, n=0) as lab:
        lab.net.add_lan("lan-a")
        for name in NAMES:
            lab.add_host(name, lan_name="lan-a" if name in SIDE_A else "lan")
        uplink = lab.net.uplink(lab.net.lans["lan-a"], lab.net.lans["lan"])
        vips = pick_vips()
        plab = PartitionLab(lab, uplink, vips)
        for name, kind in zip(NAMES, kinds, strict=True):
            extra = [f"--vip={v}" for v in vips]
            if kind == PY and reconnect is not None:
                extra.append(f"--reconnect-interval={reconnect}")
            lab.start(name, kind=kind, program=L2_MEMBER if kind == PY else (), extra=extra)
            plab.macs[name] = lab.members[name].host.mac("eth0").lower()
        lab.wait_converged(set(NAMES), timeout=30)
        for client, (lan, ip) in CLIENTS.items():
            host = lab.net.add_host(client)
            lab.net.connect(host, lab.net.lans[lan], "eth0", [f"{ip}/24"])
            log = workdir / f"{client}.log"
            argv = [sys.executable, str(HERE / "vip_watch.py"), *(f"--vip={v}" for v in vips)]
            plab.clients[client] = (host, log, host.start(*argv, log=log))
        plab.wait_answered({c: plab.owners(NAMES) for c in CLIENTS}, 0.0, 15)
        try:
            yield plab
        finally:
            for _, _, proc in plab.clients.values():
                proc.terminate()
                proc.wait(10)


def cycle(plab: PartitionLab, settle: float, observe: float) -> Trial:
    """One partition and heal (see the module docstring)."""
    t = plab.split()
    time.sleep(settle)
    plab.heal(t)
    time.sleep(observe)
    t.end = time.monotonic()
    return t


@dataclass
class Outcome:
    """One (trial, client, VIP) after the heal; times in seconds from the heal."""

    double_answer: float
    sole_owner: float | None
    double_probes: int
    double_probes_split: int
    split_brain_seen: bool
    final_on_owner: bool


def outcome(plab: PartitionLab, t: Trial, client: str, vip: str) -> Outcome:
    lines = plab.watched(client)
    sent = {x["seq"]: x["mono"] for x in lines if _probe_of(x, vip)}
    per = answers(lines, vip)
    after = sorted((sent[s], macs) for s, macs in per.items() if s in sent and sent[s] >= t.heal)
    after = [(m, macs) for m, macs in after if m <= t.end]
    split = [macs for s, macs in sorted(per.items()) if t.detected < sent.get(s, 0) < t.heal]
    final = {plab.macs[plab.vips[vip]]}
    doubles = [m for m, macs in after if len(macs) > 1]
    sole = None
    for m, macs in reversed(after):
        if macs != final:
            break
        sole = m - t.heal
    side = SIDE_A if client == "client-a" else SIDE_B
    answered = [macs for macs in split if macs]
    return Outcome(
        double_answer=doubles[-1] - t.heal if doubles else 0.0,
        sole_owner=sole,
        double_probes=len(doubles),
        double_probes_split=sum(1 for macs in split if len(macs) > 1),
        split_brain_seen=bool(answered) and answered[-1] == {plab.macs[owner(side, vip)]},
        final_on_owner=bool(after) and after[-1][1] == final,
    )


def report(plab: PartitionLab, trials: list[Trial], params: Mapping[str, object]) -> None:
    got = [outcome(plab, t, c, v) for t in trials for c in CLIENTS for v in plab.vips]
    params = {"samples": len(got), **params}
    summarize_for(BENCH, "double_answer_after_heal", [o.double_answer for o in got], params)
    soles = [o.sole_owner for o in got if o.sole_owner is not None]
    summarize_for(BENCH, "sole_owner_after_heal", soles, params)
    per_trial = {**params, "samples": len(trials)}  # one figure per trial, not per VIP
    rejoins = [r for t in trials if (r := plab.rejoin(t)) is not None]
    summarize_for(BENCH, "rejoin_after_heal", rejoins, per_trial)
    summarize_for(BENCH, "detect_partition", [t.detected - t.cut for t in trials], per_trial)
    for metric, value in (
        ("double_answer_probes_after_heal", sum(o.double_probes for o in got)),
        ("double_answer_probes_during_partition", sum(o.double_probes_split for o in got)),
        ("split_brain_seen", sum(o.split_brain_seen for o in got)),
        ("final_on_owner", sum(o.final_on_owner for o in got)),
        ("never_sole_owner", sum(o.sole_owner is None for o in got)),
    ):
        emit_for(BENCH, metric, value, "count", params)


def run(args: argparse.Namespace, workdir: Path) -> None:
    kinds = args.kinds.split(",")
    with partition_lab(workdir, kinds, args.reconnect_interval) as plab:
        done = [cycle(plab, args.settle, args.observe) for _ in range(args.trials)]
        params: dict[str, object] = {"trials": args.trials, "vips": len(plab.vips)}
        params |= {"clients": len(CLIENTS), "kinds": args.kinds, "probe_interval": 0.1}
        reconnect = args.reconnect_interval
        params["reconnect_interval"] = "default" if reconnect is None else reconnect
        report(plab, done, params)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--settle", type=float, default=1.0, help="seconds split before the heal")
    p.add_argument("--observe", type=float, default=3.0, help="seconds watched after rejoin")
    p.add_argument("--keep", type=Path, default=None, help="keep the logs in this directory")
    p.add_argument("--kinds", default="py,py,py", help=f"n1,n2,n3: each {PY} or {GO}")
    p.add_argument(
        "--reconnect-interval",
        type=float,
        default=None,
        help="our members' reconnect_interval (0: off; default: MembershipConfig's)",
    )
    args = p.parse_args()
    if not all(k in (PY, GO) for k in args.kinds.split(",")) or args.kinds.count(",") != 2:
        p.error(f"--kinds: three of {PY}/{GO}, comma-separated, got {args.kinds!r}")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
