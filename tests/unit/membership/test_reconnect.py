"""Reconnecting to dead members: after a partition heals, the two sides meet again within
``reconnect_interval``, not at the next periodic push-pull (``bench/partition.py``)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from metallb.codec.memberlist import Alive, Dead, NodeState, PushNode, Suspect
from metallb.membership import MembershipConfig, Record, State
from metallb.membership.sync import push_pull_target, reconnect_target, state_messages

from .fakenet import FakeNet

# The default push-pull round (10 s) is far longer than any window below: a side only
# finds the other through the reconnect round.
CONFIG = MembershipConfig()
NO_RECONNECT = replace(CONFIG, reconnect_interval=0.0)


def _split_and_heal(config: MembershipConfig, seed: int) -> FakeNet:
    """n1 | n2, n3, held until each side declared the other dead, then healed."""
    net = FakeNet.started("n1", "n2", "n3", config=config, seed=seed, run=2.0)
    assert net.converged()
    net.partition({"n1"}, {"n2", "n3"})
    net.run(3.0)
    assert set(net.view("n1")) == {"n1"}
    assert set(net.view("n2")) == {"n2", "n3"}
    net.heal()
    return net


@pytest.mark.parametrize("seed", range(5))
def test_a_healed_partition_rejoins_within_two_reconnect_intervals(seed: int) -> None:
    """Both sides hold the other dead, and nobody probes the dead: the reconnect round
    (a push-pull with a dead member every reconnect_interval, from each member) brings
    them together, and every member is alive in every view."""
    net = _split_and_heal(CONFIG, seed)
    net.run(2 * CONFIG.reconnect_interval)
    assert net.converged(), {n: net.view(n) for n in net.nodes}
    # Each side refuted the death the other declared.
    assert all(net.nodes[n].incarnation > 1 for n in ("n1", "n2", "n3"))


def test_without_reconnect_the_sides_stay_apart_until_the_push_pull_round() -> None:
    """The same partition with the reconnect round off: one second after the heal, n1
    still sees only itself (what bench/partition.py measured before the round existed)."""
    net = _split_and_heal(NO_RECONNECT, seed=3)
    net.run(1.0)
    assert set(net.view("n1")) == {"n1"}
    assert not net.converged()


def test_the_reconnect_round_pushes_to_a_dead_member_only() -> None:
    """A core with one dead and one left member sends, at each reconnect deadline, one
    push-pull (a stream send) and only to the dead one; with no dead member, none."""
    net = FakeNet.started("a", "b", "c", seed=7)
    net.crash("b")
    net.run(2.0)
    net.apply("c", net.nodes["c"].leave(net.now))  # "c" says goodbye, then stops
    net.run(0.01)
    net.crash("c")
    net.run(1.0)
    a = net.nodes["a"]
    b, c = a.record("b"), a.record("c")
    assert b is not None
    assert b.state is State.DEAD
    assert c is not None
    assert c.state is State.LEFT
    now = net.now
    streams = []
    for _ in range(10):  # five seconds of a's timers, everything else frozen
        now = max(now, a.next_deadline())
        streams += [s.to for s in a.tick(now).sends if s.stream]
    assert streams, "no push-pull to the dead member"
    assert set(streams) == {net.nodes["b"].address}
    assert now - net.now < 5 * CONFIG.reconnect_interval + CONFIG.probe_interval


def _record(name: str, state: State) -> Record:
    return Record(name, (f"192.0.2.{len(name)}", 7946), 3, state)


def test_targets_by_state() -> None:
    """reconnect: dead only; periodic push-pull: any member not left, else a seed."""
    rng = random.Random(1)
    dead, left, alive = (
        _record(n, s) for n, s in (("d", State.DEAD), ("lf", State.LEFT), ("liv", State.ALIVE))
    )
    assert {reconnect_target([dead, left, alive], rng) for _ in range(20)} == {dead.address}
    assert reconnect_target([left, alive], rng) is None
    seed = ("198.51.100.7", 7946)
    picked = {push_pull_target([dead, left, alive], [seed], rng) for _ in range(40)}
    assert picked == {dead.address, alive.address}
    assert push_pull_target([left], [seed], rng) == seed
    assert push_pull_target([], [], rng) is None


def test_a_peer_state_reads_as_memberlist_merges_it() -> None:
    """Alive stays alive, left is the member's own goodbye, dead and suspect are only a
    suspicion raised by the observer (it may still refute)."""
    addr = ("192.0.2.9", 7946)
    nodes = [
        PushNode("a", addr, 2, NodeState.ALIVE, b"", b"\x01\x05\x02\x00\x00\x00"),
        PushNode("l", addr, 3, NodeState.LEFT, b"", b""),
        PushNode("d", addr, 4, NodeState.DEAD, b"", b""),
        PushNode("s", addr, 5, NodeState.SUSPECT, b"", b""),
    ]
    assert state_messages(nodes, "me") == [
        Alive(2, "a", addr, b"", b"\x01\x05\x02\x00\x00\x00"),
        Dead(3, "l", "l"),
        Suspect(4, "d", "me"),
        Suspect(5, "s", "me"),
    ]
