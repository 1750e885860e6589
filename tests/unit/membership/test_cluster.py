"""Cluster-level behaviour on the fake network: joining through seeds, partitions that heal,
restarts, wrong-key peers, and a property: with no loss, everyone ends up agreeing."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.membership import DropReason, Membership, MembershipConfig, State

from .fakenet import KEY, FakeNet

FAST_SYNC = MembershipConfig(push_pull_interval=1.0)


def test_join_through_any_seed_learns_the_whole_cluster() -> None:
    """A newcomer given one seed (the last member, plus an address nobody answers) learns
    every member through the push-pull reply, and every member learns it by gossip."""
    net = FakeNet(seed=10)
    for name in ("a", "b", "c"):
        net.add(name)
    net.run(1.0)
    d = net.add("d", join=False)
    step = d.join([net.nodes["c"].address, ("198.51.100.99", 7946), d.address], net.now)
    assert [s.to for s in step.sends] == [net.nodes["c"].address, ("198.51.100.99", 7946)]
    assert all(s.stream for s in step.sends)
    net.apply("d", step)
    net.run(0.01)
    assert set(net.view("d")) == {"a", "b", "c", "d"}  # one round trip
    net.run(0.5)
    assert net.converged()
    ups = {(o.observer, o.event.name) for o in net.events if o.event.kind == "up"}
    assert {("a", "d"), ("b", "d"), ("c", "d")} <= ups


def test_join_retries_a_seed_that_was_not_up_yet() -> None:
    """Members started before their seed keep retrying it every rejoin_interval."""
    net = FakeNet(seed=11)
    a = net.add("a")
    net.crash("a")  # "not started yet": nothing reaches it
    b = net.add("b")
    net.run(3.0)
    assert set(net.view("b")) == {"b"}
    net.crashed.discard("a")
    net.run(net.config.rejoin_interval + 0.5)
    assert net.converged()
    assert b.record("a") is not None
    assert a.record("b") is not None


def test_partition_then_heal_converges_to_full_membership() -> None:
    """Each side of a partition declares the other dead; after healing, the periodic
    push-pull (which also targets dead members) finds the other side and both refute."""
    net = FakeNet(FAST_SYNC, seed=12)
    for name in ("a", "b", "c", "d", "e"):
        net.add(name)
    net.run(2.0)
    assert net.converged()
    net.partition({"a", "b", "c"}, {"d", "e"})
    net.run(3.0)
    assert set(net.view("a")) == {"a", "b", "c"}
    assert set(net.view("d")) == {"d", "e"}
    net.heal()
    for _ in range(40):  # bounded: 20 simulated seconds
        net.run(0.5)
        if net.converged():
            break
    assert net.converged(), {n: net.view(n) for n in net.nodes}
    assert net.nodes["d"].incarnation >= 1  # it had to refute its death
    assert net.nodes["a"].incarnation >= 1


def test_restarted_member_with_the_same_name_rejoins() -> None:
    """A crashed member restarted (incarnation 1 again) outbids its old record and is up."""
    net = FakeNet.started("a", "b", "c", seed=13)
    net.crash("b")
    net.run(2.0)
    assert "b" not in net.view("a")
    old = net.nodes["b"]
    new = Membership("b", old.address, KEY, now=net.now, rng=random.Random(1))
    net.nodes["b"] = new
    net.crashed.discard("b")
    net.apply("b", new.join([net.nodes["a"].address], net.now))
    net.run(1.0)
    assert net.converged()
    rec = net.nodes["c"].record("b")
    assert rec is not None
    assert rec.state is State.ALIVE
    assert rec.incarnation >= 1


def test_member_with_the_wrong_key_never_joins_and_changes_nothing() -> None:
    """A member keyed differently is dropped (counted as AUTH) and nobody's state moves."""
    net = FakeNet(seed=14)
    for name in ("a", "b"):
        net.add(name)
    net.run(1.0)
    before = {n: (c.members(), c.incarnation) for n, c in net.nodes.items()}
    net.add("intruder", key=b"\x01" * 32)
    net.run(3.0)
    for name in ("a", "b"):
        assert (net.nodes[name].members(), net.nodes[name].incarnation) == before[name]
        assert net.nodes[name].record("intruder") is None
    assert net.nodes["a"].counters.dropped[DropReason.AUTH] > 0
    assert set(net.view("intruder")) == {"intruder"}


def test_garbage_and_replayed_channels_change_nothing() -> None:
    """Random bytes, truncated packets and a datagram fed to the stream side are dropped."""
    net = FakeNet(seed=15)
    for name in ("a", "b"):
        net.add(name)
    net.run(1.0)
    a = net.nodes["a"]
    before = (a.members(), a.incarnation, a.next_deadline())
    rng = random.Random(0)
    inputs = [b"", b"\x01", b"\x01" + bytes(rng.randrange(256) for _ in range(100))]
    # A genuine datagram from b, replayed on the wrong channel or cut short.
    step = net.nodes["b"].tick(net.now + 1.0)
    genuine = next(s.payload for s in step.sends if not s.stream)
    for data in inputs:
        assert a.receive(data, ("192.0.2.9", 7946), net.now).sends == []
        assert a.receive_stream(data, ("192.0.2.9", 7946), net.now).reply is None
    assert a.receive_stream(genuine, ("192.0.2.9", 7946), net.now).reply is None
    assert a.receive(genuine[:-1], ("192.0.2.9", 7946), net.now).sends == []
    assert (a.members(), a.incarnation, a.next_deadline()) == before
    assert a.counters.dropped[DropReason.AUTH] == 2 * len(inputs) + 2


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 7),
    seed=st.integers(0, 2**32 - 1),
    joins=st.lists(st.integers(0, 100), min_size=7, max_size=7),
    starts=st.lists(st.floats(0, 2.0), min_size=7, max_size=7),
)
def test_without_loss_all_members_eventually_agree(
    n: int, seed: int, joins: list[int], starts: list[float]
) -> None:
    """Whatever the start times and whichever earlier member each newcomer joins through,
    with no loss every member ends up seeing exactly all members, alive, same records."""
    net = FakeNet(seed=seed)
    for i in range(n):
        net.run(starts[i])
        core = net.add(f"m{i}", join=False)
        if i:
            seed_member = net.nodes[f"m{joins[i] % i}"]
            net.apply(core.name, core.join([seed_member.address], net.now))
    # Gossip alone reaches everyone with high probability; the periodic push-pull with a
    # random peer makes it certain, so run one push-pull interval past the last join.
    net.run(net.config.push_pull_interval + 2.0)
    assert net.converged(), {name: net.view(name) for name in net.nodes}
    records = {name: net.nodes[name].members() for name in net.nodes}
    assert len({tuple(r) for r in records.values()}) == 1
    assert not [o for o in net.events if o.event.kind == "down"]
