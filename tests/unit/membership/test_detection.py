"""Failure detection on the fake network: dead members are found within the predicted bound,
slow ones are not declared dead, suspicions are refuted, and leaving is immediate."""

from __future__ import annotations

import pytest

from metallb.membership import MembershipConfig, State

from .fakenet import FakeNet


def converged_net(n: int, seed: int = 0, config: MembershipConfig | None = None) -> FakeNet:
    net = FakeNet(config, seed=seed)
    for i in range(n):
        net.add(f"node-{i}")
    net.run(2.0)
    assert net.converged(), {name: net.view(name) for name in net.nodes}
    return net


def downs(net: FakeNet) -> list[tuple[str, str, State]]:
    return [(o.observer, o.event.name, o.event.state) for o in net.events if o.event.kind == "down"]


@pytest.mark.parametrize("n", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", range(5))
def test_crashed_member_is_declared_dead_by_all_within_the_bound(n: int, seed: int) -> None:
    """Every survivor sees the crashed member go down, DEAD, within detection_bound(n)."""
    net = converged_net(n, seed)
    victim = f"node-{seed % n}"
    net.events.clear()
    net.crash(victim)
    t0, bound = net.now, net.config.detection_bound(n)
    net.run(bound + 1.0)
    for name in net.live_names():
        at = net.down_at(name, victim)
        assert at is not None, f"{name} never declared {victim} dead"
        assert at - t0 <= bound, f"{name}: {at - t0:.3f}s > bound {bound:.3f}s"
        assert victim not in net.view(name)
    assert {state for _, _, state in downs(net)} == {State.DEAD}
    assert net.converged()


def test_typical_detection_is_well_under_a_second() -> None:
    """Over many crashes of a 3-member cluster, the median detection is under 0.75 s."""
    times: list[float] = []
    for seed in range(20):
        net = converged_net(3, seed)
        net.crash("node-0")
        t0 = net.now
        net.run(2.0)
        times.extend((net.down_at(n, "node-0") or 99.0) - t0 for n in net.live_names())
    times.sort()
    assert times[len(times) // 2] < 0.75, times


@pytest.mark.parametrize(
    "delay",
    [
        pytest.param(0.03, id="acks late but within the probe timeout"),
        pytest.param(0.08, id="acks after the probe timeout, within the interval"),
        pytest.param(0.25, id="acks after the interval: suspected, refuted"),
    ],
)
def test_slow_member_is_never_declared_dead(delay: float) -> None:
    """A member whose every packet is delayed (a starved process) stays a member."""
    net = converged_net(3, seed=1)
    net.delay["node-2"] = delay
    net.run(20.0)
    assert downs(net) == []
    assert all("node-2" in net.view(n) for n in net.nodes)
    slow = net.nodes["node-2"].counters
    if delay >= net.config.probe_interval:
        assert slow.refutations > 0  # it was suspected, and outbid the suspicion
    else:
        assert slow.refutations == 0


def test_gc_like_stalls_shorter_than_the_tolerance_are_survived() -> None:
    """Ten 0.3 s freezes (packets queue meanwhile) never get the member declared dead."""
    net = converged_net(5, seed=2)
    for _ in range(10):
        net.stall("node-3", 0.3)
        net.run(2.0)
    assert downs(net) == []
    assert net.converged()


def test_a_long_stall_is_a_death_and_the_member_comes_back() -> None:
    """A 3 s freeze is indistinguishable from a crash; on waking the member refutes and
    rejoins with a higher incarnation, and everyone sees it up again."""
    net = converged_net(3, seed=3)
    net.stall("node-1", 3.0)
    net.run(3.0)
    assert ("node-0", "node-1", State.DEAD) in downs(net)
    net.run(3.0)
    assert net.converged()
    assert net.nodes["node-1"].incarnation >= 1
    ups = [o for o in net.events if o.event.kind == "up" and o.event.name == "node-1"]
    assert {o.observer for o in ups} >= {"node-0", "node-2"}


def test_suspicion_is_refuted_by_the_live_member() -> None:
    """Cut a member off for a little more than one probe interval: it is suspected, not
    killed; it raises its incarnation and everyone sees it alive again."""
    net = converged_net(4, seed=4)
    cut = {"on": True}
    net.loss = lambda src, dst: cut["on"] and "node-1" in (src, dst)
    net.run(0.25)
    cut["on"] = False
    net.run(2.0)
    observers = [n for n in net.nodes if n != "node-1"]
    assert sum(net.nodes[n].counters.suspicions for n in observers) > 0
    assert net.nodes["node-1"].counters.refutations >= 1
    assert downs(net) == []
    assert net.converged()
    rec = net.nodes["node-0"].record("node-1")
    assert rec is not None
    assert rec.incarnation == net.nodes["node-1"].incarnation >= 1


def test_graceful_leave_is_seen_at_once_and_is_not_a_death() -> None:
    """A leaving member tells everyone directly: down (LEFT) within one packet latency."""
    net = converged_net(4, seed=5)
    t0 = net.now
    net.apply("node-2", net.nodes["node-2"].leave(net.now))
    net.run(0.01)
    for n in ("node-0", "node-1", "node-3"):
        assert (at := net.down_at(n, "node-2")) is not None
        assert at - t0 < 0.005
        assert net.nodes[n].counters.deaths == 0
        assert net.nodes[n].counters.leaves == 1
    net.run(5.0)  # it stays gone: nothing revives a member that left
    assert all("node-2" not in net.view(n) for n in ("node-0", "node-1", "node-3"))
    assert {state for _, _, state in downs(net)} == {State.LEFT}
    assert net.nodes["node-2"].left
    assert net.nodes["node-2"].tick(net.now).sends == []


def test_indirect_probe_saves_a_member_behind_a_broken_path() -> None:
    """With only the a-b path broken, a reaches b through ping-req: no suspicion of b."""
    net = converged_net(4, seed=6)
    net.blocked.add(frozenset(("node-0", "node-1")))
    before = net.nodes["node-0"].counters.indirect_probes_sent
    net.run(10.0)
    assert net.nodes["node-0"].counters.indirect_probes_sent > before
    assert downs(net) == []
    assert all(net.nodes[n].counters.suspicions == 0 for n in net.nodes)
