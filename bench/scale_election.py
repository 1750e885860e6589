"""bench/scale.py, part (a): a speaker's cost from a membership or Node change to a decided,
applied announcement table, at hundreds of nodes and thousands of Services.

The speaker is the real adapter (:class:`metallb.k8s.speaker.Speaker`) with its real
informer caches, workqueue, runner, reconcile and decisions; only its ends are simulated:
the caches are filled directly (no apiserver: nothing is listed or watched), the
membership is a list of names whose listeners the bench calls (what
:class:`metallb.net.membership.MembershipNode` does on a member event), and the announce
table counts what it is told instead of sending frames. Two speakers on the same node
run side by side on the same events: the plain election (``incremental_election=False``,
upstream's "reprocess all") and the incremental one; after every event their announce
tables must be identical, and the bench says whether they were.

Events, each timed from the membership listener call (or the Node watch event) until
the speaker's workqueue is empty, every decision made and applied:

* ``leave``: a member dies (the owner of a Service this node is next in line for, so
  this node's table changes);
* ``join``: it comes back;
* ``node_update``: another Node object changes (a label), as kubelets' updates do.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any, cast

from lightkube import AsyncClient
from lightkube.models.core_v1 import (
    LoadBalancerIngress,
    LoadBalancerStatus,
    NodeSpec,
    ServiceSpec,
    ServiceStatus,
)
from lightkube.models.discovery_v1 import Endpoint, EndpointConditions
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from metallb.config.build import build_config
from metallb.election import ranking as election
from metallb.k8s.cache import object_key
from metallb.k8s.source import EventType, WatchEvent
from metallb.k8s.speaker import Speaker

NS = "metallb-system"
POOL = "2001:db8::/112"  # documentation range; 65,536 addresses


@dataclass(frozen=True)
class _Record:
    name: str


@dataclass
class SimMembers:
    """The membership as the speaker sees it: live names and listeners to call."""

    live: list[str]
    listeners: list[Callable[[Any], None]] = field(default_factory=list)

    def members(self) -> list[_Record]:
        return [_Record(n) for n in sorted(self.live)]

    def add_listener(self, callback: Callable[[Any], None]) -> None:
        self.listeners.append(callback)

    def join(self, seeds: Any) -> None:
        pass

    async def wait_joined(self, limit: float) -> bool:
        return True

    def fire(self) -> None:
        for callback in self.listeners:
            callback(None)


@dataclass
class CountingTable:
    """The announcer's table: what is owned, and how many calls changed or confirmed it."""

    owned: dict[Any, Any] = field(default_factory=dict)
    calls: int = 0

    @property
    def interfaces(self) -> frozenset[str]:
        return frozenset({"eth0"})

    def set_owned(self, ip: Any, interfaces: Any = None) -> None:
        self.calls += 1
        self.owned[ip] = interfaces

    def reannounce(self, ip: Any) -> None:
        self.calls += 1

    def remove(self, ip: Any) -> None:
        self.calls += 1
        self.owned.pop(ip, None)


def node_name(i: int) -> str:
    return f"node-{i:04d}"


def node_obj(i: int, generation: int = 0) -> Node:
    labels = {"kubernetes.io/hostname": node_name(i), "rack": f"r{i // 40}"}
    if generation:
        labels["bench/generation"] = str(generation)
    return Node(metadata=ObjectMeta(name=node_name(i), labels=labels), spec=NodeSpec())


def service_objs(i: int, nodes: int, rng: random.Random) -> tuple[Service, EndpointSlice]:
    name = f"svc-{i:05d}"
    ip = str(IPv6Address("2001:db8::") + i + 1)
    svc = Service(
        metadata=ObjectMeta(name=name, namespace="default", labels={"app": name}),
        spec=ServiceSpec(type="LoadBalancer"),
        status=ServiceStatus(loadBalancer=LoadBalancerStatus(ingress=[LoadBalancerIngress(ip=ip)])),
    )
    hosts = rng.sample(range(nodes), k=min(3, nodes))
    eps = EndpointSlice(
        addressType="IPv6",
        metadata=ObjectMeta(
            name=f"{name}-abcde",
            namespace="default",
            labels={"kubernetes.io/service-name": name},
        ),
        endpoints=[
            Endpoint(
                addresses=[f"2001:db8:1::{h:x}"],
                nodeName=node_name(h),
                conditions=EndpointConditions(ready=True),
            )
            for h in hosts
        ],
    )
    return svc, eps


CONFIG = [
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "bench", "namespace": NS},
        "spec": {"addresses": [POOL]},
    },
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": "bench", "namespace": NS},
        "spec": {"ipAddressPools": ["bench"]},
    },
]


class Cluster:
    """N Nodes and S Services (with one EndpointSlice each), as lightkube objects."""

    def __init__(self, nodes: int, services: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.n = nodes
        self.nodes = [node_obj(i) for i in range(nodes)]
        self.services = [service_objs(i, nodes, rng) for i in range(services)]
        self.me = node_name(0)

    def victim(self) -> str:
        """The owner of a Service this node is next in line for (else of the first one)."""
        names = [node_name(i) for i in range(self.n)]
        first = None
        for svc, _ in self.services[:2000]:
            ip = svc.status.loadBalancer.ingress[0].ip  # type: ignore[union-attr,index]
            ranking = election.rank(names, IPv6Address(ip), {})
            first = first or ranking[0]
            if ranking[1] == self.me:
                return ranking[0]
        assert first is not None
        return first


async def build_speaker(cluster: Cluster, *, incremental: bool) -> tuple[Speaker, SimMembers]:
    """A synced, ready speaker on ``cluster.me``; its first full pass done."""
    members = SimMembers([node_name(i) for i in range(cluster.n)])
    speaker = Speaker(
        cast(AsyncClient, object()),  # never used: nothing is listed, watched or written
        CountingTable(),
        node_name=cluster.me,
        namespace=NS,
        membership=members,
        incremental_election=incremental,
    )
    for node in cluster.nodes:
        speaker.nodes.cache.upsert(object_key(node), node)
    for svc, eps in cluster.services:
        speaker.services.cache.upsert(object_key(svc), svc)
        speaker.slices.cache.upsert(object_key(eps), eps)
    speaker.config = build_config(CONFIG, namespace=NS)
    for key in speaker.services.cache.keys():  # noqa: SIM118 - a copy: what Speaker.run does once synced
        await speaker.reconcile(key)
    speaker.ready.set()
    return speaker, members


async def drain(speaker: Speaker) -> int:
    """Run the speaker's worker until its queue is empty; the number of reconciles."""
    done = 0
    while len(speaker.runner.queue):
        await speaker.runner.process_one()
        done += 1
    return done


@dataclass
class EventTiming:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # this process's CPU time (contention-proof)
    reconciles: list[int] = field(default_factory=list)


def table(speaker: Speaker) -> dict[str, Any]:
    return {k: (a.ips, a.interfaces) for k, a in speaker.announced.items()}


async def run_events(
    cluster: Cluster,
    speakers: dict[str, tuple[Speaker, SimMembers]],
    repeats: dict[str, int],
) -> tuple[dict[tuple[str, str], EventTiming], bool, int]:
    """Each repeat: leave, join, node_update on every speaker in turn (a path stops after
    its ``repeats``); timings by (path, event), whether the tables agreed after every
    event both paths ran, and how often this node's own table changed."""
    victim = cluster.victim()
    index = int(victim.rsplit("-", 1)[1])
    timings: dict[tuple[str, str], EventTiming] = {}
    identical, changes = True, 0
    for rep in range(max(repeats.values())):
        for event in ("leave", "join", "node_update"):
            tables = {}
            for path, (speaker, members) in speakers.items():
                if rep >= repeats[path]:
                    continue
                before = table(speaker)
                t0, c0 = time.perf_counter(), time.process_time()
                if event == "leave":
                    members.live.remove(victim)
                    members.fire()
                elif event == "join":
                    members.live.append(victim)
                    members.fire()
                else:
                    obj = node_obj(index, generation=rep + 1)
                    speaker.nodes.apply(WatchEvent(EventType.MODIFIED, str(rep), obj))
                count = await drain(speaker)
                elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
                timing = timings.setdefault((path, event), EventTiming())
                timing.seconds.append(elapsed)
                timing.cpu.append(cpu)
                timing.reconciles.append(count)
                tables[path] = table(speaker)
                changes += path == "incremental" and tables[path] != before
            identical = identical and len({repr(sorted(t.items())) for t in tables.values()}) == 1
    return timings, identical, changes


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
