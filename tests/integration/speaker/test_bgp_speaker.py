"""The speaker daemon in native BGP mode, end to end: a real apiserver and controller,
three ``metallb speaker`` processes in node namespaces (:class:`L2Cluster`) and an FRR
router on the data LAN with ``maximum-paths 3``. A BGPPeer, a pool with a
BGPAdvertisement and a ``Cluster``-policy Service with endpoints on every node: the
router learns the Service's /32 from all three nodes and installs three ECMP next hops
(the nodes' data addresses), and each node writes its ServiceBGPStatus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta

from metallb.lab.routers import FRR, FRR_BIN, Neighbor, remove_frr_rundirs
from tests.integration.speaker.conftest import Services
from tests.integration.speaker.harness import DATA_IP, NODES, NS, L2Cluster, Pool, wait_for

ROUTER_IP, ROUTER_ASN, NODE_ASN = "192.0.2.1", 64512, 64513
POOL = "192.0.2.192/29"  # inside the lab's SERVICE_RANGE, unused by the Layer 2 tests
WAIT = 40.0  # seconds any single convergence may take

BGPPeer = create_namespaced_resource("metallb.io", "v1beta2", "BGPPeer", "bgppeers")
BGPAdv = create_namespaced_resource(
    "metallb.io", "v1beta1", "BGPAdvertisement", "bgpadvertisements"
)
BGPStatus = create_namespaced_resource(
    "metallb.io", "v1beta1", "ServiceBGPStatus", "servicebgpstatuses"
)

pytestmark = pytest.mark.skipif(not FRR_BIN.exists(), reason="FRR is not installed")


@pytest.fixture(scope="module")
def bgp_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[L2Cluster, FRR]]:
    with L2Cluster() as c:
        assert c.kube is not None
        host = c.lab.add_host("router")
        c.lab.connect(host, c.lab.lans["data"], "eth0", [f"{ROUTER_IP}/24"])
        router = FRR(
            host,
            Path(tmp_path_factory.mktemp("frr")),
            ROUTER_ASN,
            ROUTER_IP,
            [Neighbor(DATA_IP[n], NODE_ASN) for n in NODES],
            maximum_paths=3,
        )
        try:
            router.start()
            c.kube.create(
                BGPPeer(
                    metadata=ObjectMeta(name="router", namespace=NS),
                    spec={"myASN": NODE_ASN, "peerASN": ROUTER_ASN, "peerAddress": ROUTER_IP},
                )
            )
            c.kube.create(
                Pool(metadata=ObjectMeta(name="bgp", namespace=NS), spec={"addresses": [POOL]})
            )
            c.kube.create(
                BGPAdv(
                    metadata=ObjectMeta(name="bgp", namespace=NS),
                    spec={"ipAddressPools": ["bgp"]},
                )
            )
            yield c, router
        finally:
            router.stop()
    remove_frr_rundirs(c.lab.tag)


def test_three_nodes_advertise_one_service_ip_as_three_ecmp_paths(
    bgp_cluster: tuple[L2Cluster, FRR],
) -> None:
    cluster, router = bgp_cluster
    for n in NODES:
        router.wait_established(DATA_IP[n], timeout=WAIT)
    services = Services(cluster)
    try:
        name = services.create()
        ip = services.ip(name)
        prefix = f"{ip}/32"

        def learned() -> list[str] | None:
            hops = sorted(r.next_hop for r in router.routes(4).get(prefix, []))
            return hops if len(hops) == 3 else None

        assert wait_for(learned, WAIT, f"three paths for {prefix}", step=0.2) == sorted(
            DATA_IP.values()
        )

        def installed() -> list[str] | None:
            out = router.host.run("ip", "route", "show", prefix)
            hops = sorted(set(re.findall(r"nexthop via (\S+)", out)))
            return hops if len(hops) == 3 else None

        assert wait_for(installed, WAIT, f"three ECMP next hops for {prefix}", step=0.2) == sorted(
            DATA_IP.values()
        )

        def statuses() -> list[dict[str, Any]] | None:
            assert cluster.kube is not None
            found = [
                dict(cast(dict[str, Any], o.status or {}))
                for o in cluster.kube.list(
                    BGPStatus, namespace=NS, labels={"metallb.io/service-name": name}
                )
            ]
            return found if len({s.get("node") for s in found}) == 3 else None

        found = wait_for(statuses, WAIT, f"ServiceBGPStatus objects for {name}", step=0.2)
        assert sorted(s["node"] for s in found) == sorted(NODES)
        for s in found:
            assert s["serviceName"] == name
            assert s["serviceNamespace"] == "default"
            assert s["peers"] == ["router"]
        assert not list(cluster.pre_flight())
    finally:
        services.delete_all()
