"""Detection across implementations: our members and hashicorp/memberlist peers, mixed.

Run ``python -m bench.memberlist_interop [--trials N]`` as root (``make setup-mlpeer``
first, or let it build ``tools/mlpeer``). A netlab LAN of four members
(:class:`bench.membership.MembershipLab`): node-0 and node-1 run our
``bench.membership_demo`` with its default timing, node-2 and node-3 run
``tools/mlpeer`` (memberlist v0.5.1 with upstream's speaker configuration: the LAN
defaults). Each trial SIGKILLs one member, records when each survivor declares it dead
(the ``mono`` of its ``down`` line, CLOCK_MONOTONIC in both programs), restarts it and
waits for the four to agree again. Victims alternate between a memberlist peer (node-2)
and one of ours (node-0). ``--kinds go,go,go,go`` measures upstream's own cluster.
Metrics, each p50/p90/p99/max over the trials, in seconds from
the kill until the *last* observer of the kind named declared the victim dead:

* ``detect_go_by_py``: a dead memberlist peer, by our members;
* ``detect_py_by_go``: our dead member, by the memberlist peers;
* ``detect_go_by_go`` and ``detect_py_by_py``: the same victims by their own kind, the
  reference (memberlist's LAN defaults, and our timing).

Prints JSON lines ``{"bench", "metric", "value", "unit", ...}``; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

from bench.membership import GO, PY, MembershipLab, summarize_for, wait_for

BENCH = "memberlist_interop"
KINDS = (PY, PY, GO, GO)
VICTIMS = ("node-2", "node-0")  # a memberlist peer, then one of ours (with KINDS)


def run(trials: int, kinds: tuple[str, ...] = KINDS) -> None:
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, MembershipLab(Path(tmp), n=4, kinds=kinds) as lab:
        names = set(lab.members)
        lab.wait_converged(names, timeout=30)
        for trial in range(2 * trials):
            victim = VICTIMS[trial % 2]
            victim_kind = lab.members[victim].kind
            t0 = lab.kill(victim)
            for observer_kind in (PY, GO):
                observers = [
                    m.name
                    for m in lab.members.values()
                    if m.kind == observer_kind and m.name != victim
                ]
                if not observers:
                    continue
                seconds = wait_for(
                    partial(lab.declared_dead_by_all, victim, t0, observers), 60, "death"
                )
                samples.setdefault(f"detect_{victim_kind}_by_{observer_kind}", []).append(seconds)
            lab.start(victim)
            lab.wait_converged(names, timeout=60)
    params = {"members": len(kinds), "ours": kinds.count(PY), "memberlist_peers": kinds.count(GO)}
    for metric, values in sorted(samples.items()):
        summarize_for(BENCH, metric, values, params)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=10, help="kills of each of the two victims")
    p.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="the four members' kinds (py or go); go,go,go,go is upstream's own reference",
    )
    args = p.parse_args()
    run(args.trials, tuple(args.kinds.split(",")))


if __name__ == "__main__":
    main()
