"""frr-k8s mode against the real frr-k8s: the speakers write FRRConfigurations, frr-k8s
(built from its Go module, tools/frrk8s/build.sh) runs on each node beside that node's
FRR (zebra, bgpd, bfdd) with its own ServiceAccount and RBAC, and the lab's FRR router
on the data LAN learns the routes.

- A Service's /32 arrives from the three nodes with the advertisement's communities and
  large community; the router's kernel installs three ECMP next hops; the BGPPeer's BFD
  profile brings BFD sessions up with every node; frr-k8s reports
  the sessions as BGPSessionState objects, which `metallb status` shows.
- A user's own FRRConfiguration (one more prefix to the same router, on every node) is
  merged by frr-k8s with MetalLB's: both prefixes arrive, MetalLB's stay.
- A node whose data link goes down is withdrawn; back up, it returns.
- Deleting the Service withdraws its prefix from every node.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube.models.meta_v1 import ObjectMeta

from metallb.k8s.snapshot import BGPSessionState
from metallb.k8s.speaker_frrk8s import FRRConfiguration
from metallb.lab import frrk8s
from metallb.lab.routers import FRR, FRR_BIN, remove_frr_rundirs
from tests.integration.frr.conftest import BFDRouter
from tests.integration.speaker.bgpkit import (
    NODE_ASN,
    ROUTER_ASN,
    ROUTER_IP,
    WAIT,
    BFDProfile,
    BGPPeer,
    add_router,
    advertise_pool,
    assert_three_ecmp_paths,
    bfd_up,
    create,
    wait_paths,
)
from tests.integration.speaker.conftest import Services
from tests.integration.speaker.harness import DATA_IP, NODES, L2Cluster, wait_for

POOL_V4 = "192.0.2.200/29"  # inside the lab's SERVICE_RANGE
USER_PREFIX = "203.0.113.0/24"  # what the user's own FRRConfiguration advertises
FRRNS = frrk8s.NAMESPACE

pytestmark = [
    pytest.mark.skipif(not FRR_BIN.exists(), reason="FRR is not installed"),
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[L2Cluster, FRR]]:
    work = tmp_path_factory.mktemp("frrk8s-real")
    work.chmod(0o755)
    cluster = L2Cluster(
        workdir=work,
        env={"METALLB_BGP_TYPE": "frr-k8s"},
        manifests=frrk8s.daemon_manifests(work),
    )
    cluster.speaker_args = lambda n: [*frrk8s.speaker_args(n), "--bgp-debounce-timeout=200"]
    with cluster as c:
        frrk8s.start_all(c)  # each node's FRR and frr-k8s (built once, cached)
        router = add_router(c, Path(tmp_path_factory.mktemp("router")), kind=BFDRouter)
        try:
            create(c, BFDProfile, "fast", {"receiveInterval": 100, "transmitInterval": 100})
            spec = {"myASN": NODE_ASN, "peerASN": ROUTER_ASN, "peerAddress": ROUTER_IP,
                    "holdTime": "3s", "keepaliveTime": "1s", "bfdProfile": "fast"}  # fmt: skip
            create(c, BGPPeer, "tor", spec)
            advertise_pool(c, [POOL_V4])
            yield c, router
        finally:
            router.stop()
    remove_frr_rundirs(cluster.lab.tag)


def session_states(cluster: L2Cluster) -> dict[str, str]:
    """Node -> bgpStatus of its session with the router, from frr-k8s's objects."""
    assert cluster.kube is not None
    out = {}
    for o in cluster.kube.list(BGPSessionState, namespace=FRRNS):
        st: dict[str, Any] = dict(o.get("status") or {})
        if st.get("peer") == ROUTER_IP:
            out[str(st.get("node"))] = str(st.get("bgpStatus"))
    return out


def test_routes_through_real_frrk8s(lab: tuple[L2Cluster, FRR]) -> None:
    cluster, router = lab
    assert cluster.kube is not None
    for n in NODES:
        router.wait_established(DATA_IP[n], timeout=WAIT)
    everyone = sorted(DATA_IP.values())
    services = Services(cluster)
    try:
        name = services.create()
        prefix = f"{services.ip(name)}/32"
        assert_three_ecmp_paths(router, prefix)
        # The BGPPeer's BFD profile reaches FRR through frr-k8s: BFD up with every node.
        wait_for(
            lambda: True if bfd_up(router) == everyone else None, WAIT, "three BFD sessions up"
        )

        # frr-k8s's status daemon reports the sessions; `metallb status` shows them.
        wait_for(
            lambda: True if session_states(cluster) == dict.fromkeys(NODES, "Established")
            else None,
            WAIT,
            "three Established BGPSessionStates",
        )  # fmt: skip
        assert cluster.cp is not None
        out = subprocess.run(
            [sys.executable, "-m", "metallb.cli.main", "status",
             f"--kubeconfig={cluster.cp.kubeconfig}"],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "METALLB_BGP_TYPE": "frr-k8s"},
        ).stdout  # fmt: skip
        for n in NODES:
            assert f"{n}: tor ({ROUTER_IP}) up (Established, BFD Up)" in out

        # The user's own FRRConfiguration beside MetalLB's: frr-k8s merges them (the
        # same neighbour must agree on its timers: frr-k8s refuses conflicting ones).
        user = {"routers": [{"asn": NODE_ASN, "neighbors": [
            {"asn": ROUTER_ASN, "address": ROUTER_IP, "holdTime": "3s", "keepaliveTime": "1s",
             "toAdvertise": {"allowed": {"prefixes": [USER_PREFIX]}}}],
            "prefixes": [USER_PREFIX]}]}  # fmt: skip
        cluster.kube.create(
            FRRConfiguration(metadata=ObjectMeta(name="user", namespace=FRRNS), spec={"bgp": user})
        )
        try:
            assert wait_paths(router, USER_PREFIX, 3) == everyone
            assert wait_paths(router, prefix, 3) == everyone
        finally:
            cluster.kube.delete(FRRConfiguration, "user", namespace=FRRNS)
        assert wait_paths(router, USER_PREFIX, 0) == []
        assert wait_paths(router, prefix, 3) == everyone

        # A node's data link dies: BFD (or the hold timer) withdraws its path.
        n3 = cluster.lab.hosts["n3"]
        n3.link_set("eth0", "down")
        try:
            assert wait_paths(router, prefix, 2) == [DATA_IP["n1"], DATA_IP["n2"]]
        finally:
            n3.link_set("eth0", "up")
        assert wait_paths(router, prefix, 3) == everyone

        # The Service goes: every node withdraws its prefix.
        services.delete_all()
        services.created.clear()
        assert wait_paths(router, prefix, 0) == []
    finally:
        services.delete_all()
