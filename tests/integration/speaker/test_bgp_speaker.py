"""The speaker daemon in native BGP mode, end to end: a real apiserver and controller,
three ``metallb speaker`` processes in node namespaces (:class:`L2Cluster`) and FRR
routers on the data LAN with ``maximum-paths 3``.

- A ``Cluster``-policy Service with endpoints on every node: the router learns its /32
  from all three nodes with the advertisement's communities, installs three ECMP next
  hops, each node writes its ServiceBGPStatus and reports the session in its metrics;
  deleting the Service withdraws the route.
- An IPv6 Service: its /128 travels over the same IPv4 sessions (multiprotocol) with
  each node's IPv6 address as next hop.
- ``externalTrafficPolicy: Local``: only nodes with a ready endpoint advertise, and a
  node whose endpoint goes away withdraws.
- TCP-MD5 from a ``passwordSecret``: a second router requiring a password establishes
  with every node; after the Secret changes to a wrong password no session comes up.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Secret

from metallb.lab.daemon import LabError
from metallb.lab.routers import FRR, FRR_BIN, remove_frr_rundirs
from tests.integration.speaker.bgpkit import (
    NODE_ASN,
    ROUTER_ASN,
    ROUTER_IP,
    WAIT,
    BGPPeer,
    add_router,
    advertise_pool,
    assert_three_ecmp_paths,
    bgp_statuses,
    create,
    keep_endpoints_on,
    metrics,
    wait_paths,
)
from tests.integration.speaker.conftest import Services
from tests.integration.speaker.harness import (
    DATA_IP,
    DATA_IP6,
    NODES,
    NS,
    L2Cluster,
    wait_for,
)

POOL_V4 = "192.0.2.192/29"  # inside the lab's SERVICE_RANGE, unused by the Layer 2 tests
POOL_V6 = "2001:db8::2f8/125"  # inside SERVICE_RANGE6
SECURE_IP = "192.0.2.2"
PASSWORD = "s3cret-md5"

pytestmark = pytest.mark.skipif(not FRR_BIN.exists(), reason="FRR is not installed")


@pytest.fixture(scope="module")
def bgp_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[L2Cluster, FRR]]:
    with L2Cluster() as c:
        router = add_router(c, Path(tmp_path_factory.mktemp("frr")))
        try:
            create(
                c,
                BGPPeer,
                "router",
                {"myASN": NODE_ASN, "peerASN": ROUTER_ASN, "peerAddress": ROUTER_IP},
            )
            advertise_pool(c, [POOL_V4, POOL_V6])
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
        prefix = f"{services.ip(name)}/32"
        assert_three_ecmp_paths(router, prefix)

        def three_statuses() -> list[dict[str, object]] | None:
            found = bgp_statuses(cluster, name)
            return found if len({s.get("node") for s in found}) == 3 else None

        found = wait_for(three_statuses, WAIT, f"ServiceBGPStatus objects for {name}", step=0.2)
        assert sorted(str(s["node"]) for s in found) == sorted(NODES)
        for s in found:
            assert (s["serviceName"], s["serviceNamespace"], s["peers"]) == (
                name,
                "default",
                ["router"],
            )
        assert cluster.kube is not None

        def assigned() -> list[str] | None:
            events = cluster.kube.list(  # type: ignore[union-attr]
                Event, namespace="default", fields={"involvedObject.name": name}
            )
            msgs = sorted(e.message or "" for e in events if e.reason == "nodeAssigned")
            return msgs if len(msgs) == 3 else None

        assert wait_for(assigned, WAIT, "three nodeAssigned events") == [
            f'announcing from node "{n}" with protocol "bgp"' for n in NODES
        ]
        text = metrics(cluster, "n1")
        ip = prefix.split("/", maxsplit=1)[0]
        assert f'metallb_bgp_session_up{{peer="{ROUTER_IP}:179"}} 1.0' in text
        assert f'metallb_bgp_announced_prefixes_total{{peer="{ROUTER_IP}:179"}} 1.0' in text
        assert (
            f'metallb_speaker_announced{{ip="{ip}",node="n1",protocol="bgp",'
            f'service="default/{name}"}} 1.0'
        ) in text
        assert not list(cluster.pre_flight())

        services.delete_all()
        assert wait_paths(router, prefix, 0) == []
        wait_for(
            lambda: True if not bgp_statuses(cluster, name) else None,
            WAIT,
            "the ServiceBGPStatus objects deleted",
        )
    finally:
        services.delete_all()


def test_an_ipv6_service_is_advertised_as_a_128_over_ipv4_sessions(
    bgp_cluster: tuple[L2Cluster, FRR],
) -> None:
    cluster, router = bgp_cluster
    services = Services(cluster)
    try:
        name = services.create(family="IPv6")
        prefix = f"{services.ip(name)}/128"
        assert wait_paths(router, prefix, 3) == sorted(DATA_IP6.values())
    finally:
        services.delete_all()
    assert wait_paths(router, prefix, 0) == []


def test_local_policy_only_nodes_with_a_local_endpoint_advertise(
    bgp_cluster: tuple[L2Cluster, FRR],
) -> None:
    cluster, router = bgp_cluster
    services = Services(cluster)
    try:
        name = services.create(externalTrafficPolicy="Local")
        prefix = f"{services.ip(name)}/32"
        assert wait_paths(router, prefix, 3) == sorted(DATA_IP.values())
        keep_endpoints_on(cluster, name, {"n2"})
        assert wait_paths(router, prefix, 1) == [DATA_IP["n2"]]
        wait_for(
            lambda: True if [s["node"] for s in bgp_statuses(cluster, name)] == ["n2"] else None,
            WAIT,
            "only n2's ServiceBGPStatus left",
        )
        keep_endpoints_on(cluster, name, set())
        assert wait_paths(router, prefix, 0) == []
    finally:
        services.delete_all()


def test_md5_password_from_a_secret(bgp_cluster: tuple[L2Cluster, FRR], tmp_path: Path) -> None:
    cluster, _ = bgp_cluster
    assert cluster.kube is not None
    secure = add_router(cluster, tmp_path, name="secure", address=SECURE_IP, password=PASSWORD)
    try:
        cluster.kube.create(
            Secret(
                metadata=ObjectMeta(name="md5", namespace=NS),
                type="kubernetes.io/basic-auth",
                data={"password": base64.b64encode(PASSWORD.encode()).decode()},
            )
        )
        create(
            cluster,
            BGPPeer,
            "secure",
            {
                "myASN": NODE_ASN,
                "peerASN": ROUTER_ASN,
                "peerAddress": SECURE_IP,
                "passwordSecret": {"name": "md5", "namespace": NS},
            },
        )
        for n in NODES:
            secure.wait_established(DATA_IP[n], timeout=WAIT)
        # A wrong key: the speakers reopen their sessions with it and the router's
        # kernel drops every segment (RFC 2385), so none comes back.
        secret = cluster.kube.get(Secret, "md5", namespace=NS)
        secret.data = {"password": base64.b64encode(b"wrong").decode()}
        cluster.kube.replace(secret)
        wait_for(
            lambda: True if not any(secure.established(DATA_IP[n]) for n in NODES) else None,
            WAIT,
            "the sessions with the old key gone",
        )
        with pytest.raises(LabError, match="timed out"):
            wait_for(
                lambda: True if any(secure.established(DATA_IP[n]) for n in NODES) else None,
                8,
                "a session with the wrong key",
            )
    finally:
        secure.stop()
        cluster.kube.delete(BGPPeer, "secure", namespace=NS)
        cluster.kube.delete(Secret, "md5", namespace=NS)
