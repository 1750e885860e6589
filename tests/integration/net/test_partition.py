"""Split brain of the Layer 2 election across a partition of the data LAN, and its heal.

Three of our members with the election and the announcer (``bench/l2_member.py``) on two
switches joined by one cable, n1 | n2, n3, a client probing every VIP every 100 ms on
each side (``bench/partition.py`` builds it and measures the durations; this test asserts
the outcomes only, with bounded waits). Not covered, as in the bench: the apiserver and
the backends (no Kubernetes here).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from bench.membership import GO, PY
from bench.partition import (
    CLIENTS,
    NAMES,
    SIDE_A,
    SIDE_B,
    outcome,
    partition_lab,
)


@pytest.mark.parametrize("kinds", [(PY, PY, PY), (PY, GO, PY)], ids=["ours", "n2-memberlist"])
def test_each_side_answers_while_split_and_the_owner_alone_after_the_heal(
    tmp_path: Path, kinds: tuple[str, str, str]
) -> None:
    """Before: each VIP answered by its owner over all three, on both sides. Split: client
    A is answered by n1 for every VIP and client B by the winner between n2 and n3 (the
    split brain the election makes by design), never two MACs on one side. Healed: both
    clients end on the owner over all three, alone (twice: a second partition heals as
    the first). With n2 a hashicorp memberlist peer answering as upstream's speaker, the
    same: our reconnect push-pull is one it answers, and its refutation reaches n1."""
    with partition_lab(tmp_path, kinds) as plab:
        assert set(plab.vips.values()) == set(NAMES)  # each member owns one VIP
        for _ in range(2):
            trial = plab.split()
            sides = {"client-a": plab.owners(SIDE_A), "client-b": plab.owners(SIDE_B)}
            plab.wait_answered(sides, trial.detected, 15)
            time.sleep(0.5)
            plab.heal(trial)
            plab.wait_answered({c: plab.owners(NAMES) for c in CLIENTS}, trial.heal, 20)
            time.sleep(1.0)  # ten more probes: the owner must stay alone
            trial.end = time.monotonic()
            for client in CLIENTS:
                for vip in plab.vips:
                    o = outcome(plab, trial, client, vip)
                    assert o.split_brain_seen, (client, vip)
                    assert o.double_probes_split == 0, (client, vip)
                    assert o.final_on_owner, (client, vip)
                    # The owner alone answered (at least) the last second's probes.
                    assert o.sole_owner is not None, (client, vip)
                    assert o.sole_owner < trial.end - trial.heal - 0.9, (client, vip, o)
