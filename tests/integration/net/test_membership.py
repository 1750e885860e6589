"""Membership over real UDP and TCP between network namespaces on a bridged LAN.

Each member is ``python -m bench.membership_demo`` in its own namespace (harness:
:class:`bench.membership.MembershipLab`), writing membership changes as JSON lines. The
tests check outcomes with bounded waits and never assert a time: the benchmark measures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from bench.membership import MembershipLab, wait_for

NAMES = {"node-0", "node-1", "node-2"}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[MembershipLab]:
    with MembershipLab(tmp_path) as lab:
        lab.wait_converged(NAMES)
        yield lab


def test_three_members_converge(lab: MembershipLab) -> None:
    """Each member reports the other two up, alive, at their LAN addresses, and sees all three."""
    for m in lab.members.values():
        ups = {e["name"]: e for e in m.events("up")}
        assert set(ups) == NAMES - {m.name}
        for name, e in ups.items():
            assert e["state"] == "alive"
            assert e["address"] == [lab.members[name].ip, 7946]
        assert m.view() == NAMES
        stats = m.stats()
        assert stats is not None
        assert stats["metallb_memberlist_acks_received_total"] > 0


def test_sigkilled_member_is_declared_dead_by_the_others(lab: MembershipLab) -> None:
    """After SIGKILL (no leave), both survivors declare the member dead (not left)."""
    t0 = lab.kill("node-1")
    wait_for(partial(lab.declared_dead_by_all, "node-1", t0), 10, "node-1 declared dead")
    for name in ("node-0", "node-2"):
        (down,) = lab.members[name].events("down", "node-1", after=t0)
        assert down["state"] == "dead"
    lab.wait_converged({"node-0", "node-2"})


def test_member_whose_link_goes_down_is_declared_dead_and_returns(lab: MembershipLab) -> None:
    """A member cut off by link-down (process alive) is declared dead; once the link is
    back it refutes, and all three agree again."""
    host = lab.members["node-2"].host
    t0 = time.monotonic()
    host.link_set("eth0", "down")
    wait_for(partial(lab.declared_dead_by_all, "node-2", t0), 10, "node-2 declared dead")
    host.link_set("eth0", "up")
    lab.wait_converged(NAMES, timeout=20)
    for name in ("node-0", "node-1"):
        assert lab.members[name].events("up", "node-2", after=t0)
    stats = lab.members["node-2"].stats()
    assert stats is not None
    assert stats["metallb_memberlist_refutations_total"] >= 1


def test_graceful_stop_is_a_leave(lab: MembershipLab) -> None:
    """SIGTERM makes the member leave: the others see it go with state "left"."""
    proc = lab.members["node-0"].proc
    t0 = time.monotonic()
    proc.terminate()
    proc.wait(10)
    wait_for(partial(lab.declared_dead_by_all, "node-0", t0), 10, "node-0 gone")
    for name in ("node-1", "node-2"):
        (down,) = lab.members[name].events("down", "node-0", after=t0)
        assert down["state"] == "left"


def test_member_with_the_wrong_key_never_joins(lab: MembershipLab) -> None:
    """A fourth member keyed with another secret is never seen; its packets are dropped
    and counted as failed authentication; the three keep agreeing."""
    lab.add_host("intruder")
    t0 = time.monotonic()
    intruder = lab.start("intruder", secret=b"another-secret")

    def dropped() -> int | None:
        s = lab.members["node-0"].stats()
        n = s.get("metallb_memberlist_dropped_packets_total{reason=auth}", 0) if s else 0
        return n if n > 0 and s and s["mono"] > t0 + 3 else None

    wait_for(dropped, 15, "node-0 to count failed authentications for 3 s")
    for name in NAMES:
        assert not [e for e in lab.members[name].events("up") if e["name"] == "intruder"]
        assert lab.members[name].view() == NAMES
    assert intruder.view() == {"intruder"}
    assert not intruder.events("up")
