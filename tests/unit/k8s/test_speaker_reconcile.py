"""The speaker's reconcile, in-process, on the API double (tests/unit/k8s/apidouble).

Beside tests/integration/speaker, which run speakers in a lab: here three
:class:`metallb.k8s.speaker.Speaker` objects (nodes n1, n2, n3) run on the test's event
loop through their public constructor and ``run``, each with its real informers and
runners over a lightkube client on the double, a fake announce table (the IPs it would
answer ARP for) and one fake membership (who is alive). The test plays the controller's
part by writing ``status.loadBalancer.ingress`` itself, and the EndpointSlice
controller's by writing EndpointSlices.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import pytest_asyncio
from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Service
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.types import PatchType

from metallb.config.types import Config
from metallb.election import ranking as election
from metallb.k8s.controller import IPAddressPool
from metallb.k8s.speaker import Speaker
from metallb.k8s.speaker_bgp import PeerMetrics
from metallb.k8s.speaker_status import ServiceBGPStatus, ServiceL2Status
from metallb.speaker import bgp_decision as bgp
from tests.unit.k8s.apidouble import ApiDouble

from .inproc import NS, configure, events, eventually, lb_service, namespaces, running

NODES = ("n1", "n2", "n3")
L2Advertisement = create_namespaced_resource(
    "metallb.io", "v1beta1", "L2Advertisement", "l2advertisements"
)
BGPAdvertisement = create_namespaced_resource(
    "metallb.io", "v1beta1", "BGPAdvertisement", "bgpadvertisements"
)
BGPPeer = create_namespaced_resource("metallb.io", "v1beta2", "BGPPeer", "bgppeers")


# -- fakes of the two ports of speaker_support.py, and of a BGP driver -------------------
class FakeAnnouncer:
    """An AnnounceTable: the IPs this node would answer for, with their interfaces."""

    def __init__(self) -> None:
        self.owned: dict[str, frozenset[str] | None] = {}
        self.reannounced: list[str] = []

    @property
    def interfaces(self) -> frozenset[str]:
        return frozenset({"eth0"})

    def set_owned(self, ip: Any, interfaces: Any = None) -> None:
        self.owned[str(ip)] = interfaces

    def reannounce(self, ip: Any) -> None:
        self.reannounced.append(str(ip))

    def remove(self, ip: Any) -> None:
        del self.owned[str(ip)]


@dataclass(frozen=True)
class Member:
    name: str


@dataclass
class FakeMembership:
    """Members: one view of who is alive, shared by every speaker of the test."""

    alive: set[str] = field(default_factory=lambda: set(NODES))
    listeners: list[Callable[[Any], None]] = field(default_factory=list)

    def members(self) -> list[Any]:
        return [Member(n) for n in sorted(self.alive)]

    def add_listener(self, callback: Any) -> None:
        self.listeners.append(callback)

    def join(self, seeds: Any) -> None:
        """Seeds are not used: the test names the members."""

    async def wait_joined(self, limit: float) -> bool:
        return True

    def leave(self, node: str) -> None:
        """``node`` is found dead: every speaker hears of it."""
        self.alive.discard(node)
        for callback in self.listeners:
            callback(("leave", node))


class FakeBGP:
    """A BGPDriver that records what it is told to advertise."""

    def __init__(self) -> None:
        self.advertised: tuple[bgp.Announce, ...] = ()
        self.synced: list[tuple[bool, str | None]] = []

    def start(self) -> None:
        """Nothing to start."""

    def sync(self, config: Config | None, node: election.Node | None) -> None:
        self.synced.append((config is not None, node.name if node else None))

    def advertise(self, announced: Collection[bgp.Announce]) -> None:
        self.advertised = tuple(announced)

    async def close(self) -> None:
        """Nothing to close."""

    def peer_metrics(self) -> list[PeerMetrics]:
        return []


# -- the cluster ------------------------------------------------------------------------
@dataclass
class Cluster:
    double: ApiDouble
    client: AsyncClient
    membership: FakeMembership
    announcers: dict[str, FakeAnnouncer] = field(default_factory=dict)
    drivers: dict[str, FakeBGP] = field(default_factory=dict)
    speakers: dict[str, Speaker] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def owners(self, ip: str) -> list[str]:
        """The nodes whose announcer holds ``ip``."""
        return sorted(n for n, a in self.announcers.items() if ip in a.owned)

    def kill(self, node: str) -> None:
        """``node`` dies: its speaker stops at once (no clean-up), membership says so."""
        self.tasks.pop(node).cancel()
        self.speakers.pop(node)
        self.announcers.pop(node)
        self.membership.leave(node)


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """Three Nodes and their speakers, running; a pool and its L2Advertisement."""
    double = ApiDouble()
    client = double.client(field_manager="tests")
    await namespaces(client, NS, "default")
    for name in NODES:
        labels = {"kubernetes.io/hostname": name}
        await client.create(Node(metadata=ObjectMeta(name=name, labels=labels)))
    await configure(client, IPAddressPool, "l2pool", addresses=["192.0.2.0/28"])
    await configure(client, L2Advertisement, "l2", ipAddressPools=["l2pool"])
    c = Cluster(double, client, FakeMembership())
    async with AsyncExitStack() as stack:
        for name in NODES:
            c.announcers[name] = FakeAnnouncer()
            c.drivers[name] = FakeBGP()
            c.speakers[name] = Speaker(
                double.client(),
                c.announcers[name],
                node_name=name,
                namespace=NS,
                membership=c.membership,
                bgp_driver=c.drivers[name],
            )
            c.tasks[name] = await stack.enter_async_context(
                running(c.speakers[name].run(), f"speaker-{name}")
            )
        for s in c.speakers.values():
            await eventually(f"speaker {s.node_name} ready", lambda s=s: _true(s.ready.is_set()))  # type: ignore[misc]
        yield c
    await client.close()


async def _true(value: bool) -> bool:
    return value


def hash_winner(ip: str, nodes: Collection[str]) -> str:
    """Upstream's choice (speaker/layer2_controller.go): the lowest SHA-256 of "node#ip"."""
    return min(nodes, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())


async def lb_with_ip(
    client: AsyncClient,
    name: str,
    ip: str,
    *,
    endpoints_on: tuple[str, ...],
    policy: str = "Cluster",
) -> None:
    """A LoadBalancer Service holding ``ip`` and ready endpoints on ``endpoints_on``."""
    await client.create(lb_service(name, policy=policy))
    await client.patch(
        Service.Status,
        name,
        {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}},
        namespace="default",
        patch_type=PatchType.MERGE,
    )
    await set_endpoints(client, name, endpoints_on, create=True)


async def set_endpoints(
    client: AsyncClient, name: str, nodes: tuple[str, ...], *, create: bool = False
) -> None:
    body = {
        "endpoints": [
            {"addresses": [f"10.0.0.{i + 1}"], "nodeName": n, "conditions": {"ready": True}}
            for i, n in enumerate(nodes)
        ]
    }
    if create:
        slice_ = cast(
            EndpointSlice,
            EndpointSlice.from_dict(
                {
                    "metadata": {
                        "name": f"{name}-slice",
                        "namespace": "default",
                        "labels": {"kubernetes.io/service-name": name},
                    },
                    "addressType": "IPv4",
                    "ports": [{"port": 80, "protocol": "TCP"}],
                    **body,
                },
            ),
        )
        await client.create(slice_)
    else:
        await client.patch(
            EndpointSlice, f"{name}-slice", body, namespace="default", patch_type=PatchType.MERGE
        )


async def l2_statuses(client: AsyncClient) -> list[tuple[str, str]]:
    """(node, service name) of every ServiceL2Status."""
    out = []
    async for obj in client.list(ServiceL2Status, namespace=NS):
        status: dict[str, Any] = obj.get("status") or {}
        out.append((str(status.get("node")), str(status.get("serviceName"))))
    return sorted(out)


# -- the tests --------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_the_hash_winner_announces_and_the_others_do_not(cluster: Cluster) -> None:
    ip = "192.0.2.3"
    winner = hash_winner(ip, NODES)
    await lb_with_ip(cluster.client, "web", ip, endpoints_on=("n1", "n2", "n3"))

    async def announced_by() -> list[str]:
        return cluster.owners(ip)

    assert await eventually("web's IP to be announced", announced_by) == [winner]
    assert cluster.announcers[winner].owned[ip] is None  # every interface
    assert await eventually("web's ServiceL2Status", lambda: l2_statuses(cluster.client)) == [
        (winner, "web")
    ]
    assigned = ("Normal", "nodeAssigned", f'announcing from node "{winner}" with protocol "layer2"')

    async def has_event() -> bool:
        return assigned in await events(cluster.client, "web", "nodeAssigned")

    await eventually("the nodeAssigned Event", has_event)
    # Every speaker has decided by now; the losers still hold nothing.
    assert cluster.owners(ip) == [winner]


@pytest.mark.asyncio
async def test_a_dead_nodes_ip_moves_to_the_next_in_hash_order(cluster: Cluster) -> None:
    ip = "192.0.2.5"
    first = hash_winner(ip, NODES)
    await lb_with_ip(cluster.client, "web", ip, endpoints_on=NODES)

    async def announced_by() -> list[str]:
        return cluster.owners(ip)

    assert await eventually("the first owner", announced_by) == [first]
    cluster.kill(first)
    second = hash_winner(ip, set(NODES) - {first})

    assert await eventually("the IP to move", announced_by) == [second]
    # The new owner writes its ServiceL2Status and deletes the dead node's (after
    # STALE_AGE, 5 s, as a partition's two winners must not fight faster than that).

    async def moved() -> list[tuple[str, str]] | None:
        have = await l2_statuses(cluster.client)
        return have if have == [(second, "web")] else None

    assert await eventually("the ServiceL2Status to move", moved)


@pytest.mark.asyncio
async def test_local_policy_announces_only_from_a_node_with_a_local_endpoint(
    cluster: Cluster,
) -> None:
    # An IP whose hash winner among all nodes is not n1: only the endpoint puts it there.
    ip = next(f"192.0.2.{i}" for i in range(1, 15) if hash_winner(f"192.0.2.{i}", NODES) != "n1")
    # Another Service's endpoints on every node must not count for this one.
    await lb_with_ip(cluster.client, "other", "192.0.2.15", endpoints_on=NODES)
    await lb_with_ip(cluster.client, "local", ip, endpoints_on=("n1",), policy="Local")

    async def announced_by() -> list[str]:
        return cluster.owners(ip)

    assert await eventually("the IP on n1", announced_by) == ["n1"]
    await set_endpoints(cluster.client, "local", ("n3",))

    async def on_n3() -> list[str] | None:
        return cluster.owners(ip) if cluster.owners(ip) == ["n3"] else None

    assert await eventually("the IP to follow the endpoint to n3", on_n3)
    await set_endpoints(cluster.client, "local", ())

    async def nowhere() -> bool:
        return cluster.owners(ip) == []

    await eventually("no endpoint, no announcement", nowhere)


@pytest.mark.asyncio
async def test_service_l2_status_goes_with_the_service(cluster: Cluster) -> None:
    ip = "192.0.2.7"
    await lb_with_ip(cluster.client, "web", ip, endpoints_on=NODES)
    winner = hash_winner(ip, NODES)
    assert await eventually("the status", lambda: l2_statuses(cluster.client)) == [(winner, "web")]
    await cluster.client.delete(Service, "web", namespace="default")

    async def gone() -> bool:
        return await l2_statuses(cluster.client) == [] and cluster.owners(ip) == []

    await eventually("the status and the announcement to go", gone)
    deletes = [w for w in cluster.double.writes("servicel2statuses") if w.method == "DELETE"]
    assert len(deletes) == 1


@pytest.mark.asyncio
async def test_bgp_every_node_advertises_and_reports_its_peers(cluster: Cluster) -> None:
    client = cluster.client
    await configure(client, IPAddressPool, "bgppool", addresses=["198.51.100.0/28"])
    await configure(client, BGPAdvertisement, "bgp", ipAddressPools=["bgppool"])
    await configure(
        client, BGPPeer, "router", myASN=64500, peerASN=64501, peerAddress="198.51.100.254"
    )
    ip = "198.51.100.3"
    await lb_with_ip(client, "routed", ip, endpoints_on=NODES)

    def routed(node: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        return [(a.pool, a.ips, a.peers) for a in cluster.drivers[node].advertised]

    for node in NODES:

        async def advertised(node: str = node) -> bool:
            return routed(node) == [("bgppool", (ip,), ("router",))]

        await eventually(f"{node} to advertise {ip}", advertised)
        # The driver was told this node and a configuration (so it knows the peer).
        assert (True, node) in cluster.drivers[node].synced
    # Its pool has no L2Advertisement: no node answers ARP for it.
    assert cluster.owners(ip) == []

    async def bgp_statuses() -> list[tuple[str, tuple[str, ...]]] | None:
        out = []
        async for obj in client.list(ServiceBGPStatus, namespace=NS):
            status: dict[str, Any] = obj.get("status") or {}
            out.append((str(status.get("node")), tuple(status.get("peers") or ())))
        return sorted(out) if len(out) == len(NODES) else None

    assert await eventually("a ServiceBGPStatus per node", bgp_statuses) == [
        (n, ("router",)) for n in NODES
    ]
