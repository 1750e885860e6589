"""ElectionWorld: the speaker's Nodes and members, rebuilt only on change, and the
Services whose owner a change moved."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node

from metallb.election.ranking import Advertisement, Endpoint, Service, rank
from metallb.k8s.cache import Cache
from metallb.k8s.source import EventType
from metallb.k8s.speaker_world import ElectionWorld

NAMES = ("n1", "n2", "n3")


@dataclass(frozen=True)
class _Record:
    name: str


@dataclass
class _Members:
    live: list[str]
    reads: int = 0
    listeners: list[Any] = field(default_factory=list)

    def members(self) -> list[_Record]:
        self.reads += 1
        return [_Record(n) for n in self.live]

    def add_listener(self, callback: Any) -> None:
        self.listeners.append(callback)

    def join(self, seeds: Any) -> None:
        pass

    async def wait_joined(self, limit: float) -> bool:
        return True


def node(name: str, **labels: str) -> Node:
    return Node(metadata=ObjectMeta(name=name, labels=labels))


def world(members: _Members | None) -> tuple[ElectionWorld, Cache[Any]]:
    cache: Cache[Any] = Cache()
    for n in NAMES:
        cache.upsert(n, node(n))
    return ElectionWorld(cache, members, incremental=True, ignore_exclude_lb=False), cache


def test_members_are_read_once_per_membership_event() -> None:
    members = _Members(list(NAMES))
    w, _ = world(members)
    first = w.members()
    assert w.members() is first
    assert members.reads == 1
    members.live.remove("n2")
    assert w.members() is first  # no event yet: the same set
    w.members_changed()
    assert w.members() == frozenset({"n1", "n3"})
    assert members.reads == 2


def test_a_node_event_converts_that_node_only() -> None:
    w, cache = world(None)
    before = {n.name: n for n in w.nodes()}
    cache.upsert("n2", node("n2", zone="a"))
    w.node_changed(EventType.MODIFIED, "n2")
    after = {n.name: n for n in w.nodes()}
    assert after["n2"].labels == {"zone": "a"}
    assert after["n1"] is before["n1"]
    assert after["n3"] is before["n3"]
    cache.delete("n3")
    w.node_changed(EventType.DELETED, "n3")
    assert {n.name for n in w.nodes()} == {"n1", "n2"}
    assert w.members() is None  # membership disabled


def test_moved_names_the_services_whose_owner_left() -> None:
    members = _Members(list(NAMES))
    w, _ = world(members)
    assert w.elector is not None
    services = {
        f"default/s{i}": Service(ip_address(f"192.0.2.{i}"), endpoints=(Endpoint("n1"),))
        for i in range(1, 13)
    }
    w.moved()
    for key, svc in services.items():
        w.elector.elect(key, "n1", svc, (Advertisement("all"),))
    owned_by_n2 = frozenset(k for k, s in services.items() if rank(NAMES, s.ip, {})[0] == "n2")
    assert owned_by_n2  # 12 IPs over 3 nodes: n2 owns some
    members.live.remove("n2")
    w.members_changed()
    assert w.moved() == owned_by_n2
    assert w.moved() == frozenset()  # nothing changed since


def test_without_the_incremental_election_every_service_is_redecided() -> None:
    cache: Cache[Any] = Cache()
    w = ElectionWorld(cache, None, incremental=False, ignore_exclude_lb=False)
    assert w.elector is None
    assert w.moved() is None
