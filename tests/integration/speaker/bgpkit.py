"""What the BGP speaker tests share: the metallb.io kinds they create, a router on the
data LAN of an :class:`L2Cluster`, and the questions they ask the router and the API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.discovery_v1 import EndpointSlice

from metallb.lab.routers import FRR, Neighbor
from tests.integration.speaker.harness import DATA_IP, NODES, NS, L2Cluster, Pool, wait_for

ROUTER_IP, ROUTER_ASN, NODE_ASN = "192.0.2.1", 64512, 64513
WAIT = 40.0  # seconds any single convergence may take

BGPPeer = create_namespaced_resource("metallb.io", "v1beta2", "BGPPeer", "bgppeers")
BGPAdv = create_namespaced_resource(
    "metallb.io", "v1beta1", "BGPAdvertisement", "bgpadvertisements"
)
BGPStatus = create_namespaced_resource(
    "metallb.io", "v1beta1", "ServiceBGPStatus", "servicebgpstatuses"
)
BFDProfile = create_namespaced_resource("metallb.io", "v1beta1", "BFDProfile", "bfdprofiles")


def add_router(
    cluster: L2Cluster,
    workdir: Path,
    *,
    name: str = "router",
    address: str = ROUTER_IP,
    password: str | None = None,
    kind: type[FRR] = FRR,
) -> FRR:
    """An FRR router on the data LAN accepting every node, ECMP over three paths."""
    host = cluster.lab.add_host(name)
    cluster.lab.connect(host, cluster.lab.lans["data"], "eth0", [f"{address}/24"])
    router = kind(
        host,
        workdir,
        ROUTER_ASN,
        address,
        [Neighbor(DATA_IP[n], NODE_ASN, password) for n in NODES],
        maximum_paths=3,
    )
    router.start()
    return router


def create(cluster: L2Cluster, res: Any, name: str, spec: dict[str, Any]) -> None:
    assert cluster.kube is not None
    cluster.kube.create(res(metadata=ObjectMeta(name=name, namespace=NS), spec=spec))


COMMUNITY, LARGE_COMMUNITY = "64513:100", "64513:7:8"  # what advertise_pool() attaches


def advertise_pool(cluster: L2Cluster, addresses: list[str]) -> None:
    """Pool ``bgp`` and a BGPAdvertisement of it with one community of each kind."""
    create(cluster, Pool, "bgp", {"addresses": addresses})
    spec = {"ipAddressPools": ["bgp"], "communities": [COMMUNITY, f"large:{LARGE_COMMUNITY}"]}
    create(cluster, BGPAdv, "bgp", spec)


def assert_three_ecmp_paths(router: FRR, prefix: str) -> None:
    """The router learnt ``prefix`` from every node, with advertise_pool()'s communities,
    and its kernel installed a next hop per node."""
    everyone = sorted(DATA_IP.values())
    assert wait_paths(router, prefix, 3) == everyone
    for route in router.routes(4)[prefix]:
        assert route.communities == (COMMUNITY,)
        assert route.large_communities == (LARGE_COMMUNITY,)
    hops = wait_for(
        lambda: kernel_hops(router, prefix) if len(kernel_hops(router, prefix)) == 3 else None,
        WAIT,
        "three ECMP next hops in the router's kernel",
    )
    assert hops == everyone


def paths(router: FRR, prefix: str, want: int) -> list[str] | None:
    """The next hops of ``prefix`` in the router's BGP table once there are ``want``."""
    family = 6 if ":" in prefix else 4
    hops = sorted(r.next_hop for r in router.routes(family).get(prefix, []))
    return hops if len(hops) == want else None


def wait_paths(router: FRR, prefix: str, want: int, timeout: float = WAIT) -> list[str]:
    if want == 0:
        return wait_for(
            lambda: [] if paths(router, prefix, 0) is not None else None,
            timeout,
            f"{prefix} withdrawn",
            step=0.2,
        )
    return wait_for(
        lambda: paths(router, prefix, want), timeout, f"{want} paths for {prefix}", step=0.2
    )


def kernel_hops(router: FRR, prefix: str) -> list[str]:
    """Next hops the router's kernel installed for ``prefix`` (ECMP: several)."""
    out = router.host.run("ip", "route", "show", prefix)
    return sorted(set(re.findall(r"nexthop via (\S+)", out)))


def bfd_up(router: FRR) -> list[str]:
    """The addresses of the router's BFD peers that are up."""
    peers = json.loads(router.vtysh("show bfd peers json") or "[]")
    return sorted(str(p.get("peer")) for p in peers if p.get("status") == "up")


def bgp_statuses(cluster: L2Cluster, service: str) -> list[dict[str, Any]]:
    assert cluster.kube is not None
    return [
        dict(cast(dict[str, Any], o.status or {}))
        for o in cluster.kube.list(
            BGPStatus, namespace=NS, labels={"metallb.io/service-name": service}
        )
    ]


def keep_endpoints_on(cluster: L2Cluster, service: str, nodes: set[str]) -> None:
    """Shrink the Service's EndpointSlice (made by ``create_service``) to ``nodes``."""
    assert cluster.kube is not None
    es = cluster.kube.get(EndpointSlice, f"{service}-1", namespace="default")
    es.endpoints = [e for e in es.endpoints or [] if e.nodeName in nodes]
    cluster.kube.replace(es)


def metrics(cluster: L2Cluster, node: str) -> str:
    """The node's speaker metrics (port 9120 in the lab, HTTPS, a reader's token), as
    text."""
    auth = f"Authorization: Bearer {cluster.metrics_token}"
    return cluster.lab.hosts[node].run("curl", "-sfk", "-H", auth, "https://127.0.0.1:9120/metrics")
