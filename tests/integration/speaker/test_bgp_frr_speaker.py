"""The speaker daemon in FRR mode (``METALLB_BGP_TYPE=frr``), end to end: the lab's
apiserver, controller and three speakers (:class:`L2Cluster`), each node running its own
FRR (zebra, bgpd, bfdd) that only the speaker configures, and an FRR router with BFD on
the data LAN.

- A BGPPeer with a BFDProfile: every node's FRR establishes a session and a BFD session
  with the router; a Service's /32 arrives from three nodes with its communities and
  large communities and the router's kernel installs three ECMP next hops.
- The speakers read their sessions back from FRR: ``metallb_bgp_session_up`` and
  ``metallb_bfd_session_up`` with upstream's FRR labels (``peer``, ``vrf``).
- A node whose data link goes down is withdrawn by the router through BFD (the elapsed
  time is printed: the figure belongs to the benchmarks, not to an assertion).
- Killing a speaker leaves its FRR's routes in place (FRR keeps the configuration);
  deleting the Service withdraws the prefix from every node.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metallb.lab.routers import FRR, FRR_BIN, remove_frr_rundirs, start_node_frr
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
    bgp_statuses,
    create,
    metrics,
    wait_paths,
)
from tests.integration.speaker.conftest import Services
from tests.integration.speaker.harness import DATA_IP, NODES, L2Cluster, wait_for

POOL_V4 = "192.0.2.200/29"  # inside the lab's SERVICE_RANGE

pytestmark = [
    pytest.mark.skipif(not FRR_BIN.exists(), reason="FRR is not installed"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def frr_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[L2Cluster, FRR]]:
    cluster = L2Cluster(env={"METALLB_BGP_TYPE": "frr"})

    def flags(node: str) -> list[str]:
        return [
            f"--frr-pathspace={cluster.lab.hosts[node].netns}",
            f"--frr-workdir={cluster.workdir / f'frr-{node}'}",
            "--bgp-debounce-timeout=200",
            "--frr-status-interval=1",
        ]

    cluster.speaker_args = flags
    procs: list[subprocess.Popen[bytes]] = []
    with cluster as c:
        for n in NODES:
            start_node_frr(c.lab.hosts[n], c.workdir / f"frr-{n}.out", procs)
        router = add_router(c, Path(tmp_path_factory.mktemp("frr")), kind=BFDRouter)
        try:
            create(c, BFDProfile, "fast", {"receiveInterval": 100, "transmitInterval": 100})
            create(
                c,
                BGPPeer,
                "router",
                {
                    "myASN": NODE_ASN,
                    "peerASN": ROUTER_ASN,
                    "peerAddress": ROUTER_IP,
                    "bfdProfile": "fast",
                },
            )
            advertise_pool(c, [POOL_V4])
            yield c, router
        finally:
            router.stop()
    remove_frr_rundirs(cluster.lab.tag)


def test_frr_mode_advertises_with_bfd_and_survives_a_speaker_restart(
    frr_cluster: tuple[L2Cluster, FRR],
) -> None:
    cluster, router = frr_cluster
    for n in NODES:
        router.wait_established(DATA_IP[n], timeout=WAIT)
    everyone = sorted(DATA_IP.values())
    assert wait_for(
        lambda: bfd_up(router) if bfd_up(router) == everyone else None,
        WAIT,
        "three BFD sessions up",
    )
    services = Services(cluster)
    try:
        name = services.create()
        prefix = f"{services.ip(name)}/32"
        assert_three_ecmp_paths(router, prefix)
        wait_for(
            lambda: True if len(bgp_statuses(cluster, name)) == 3 else None,
            WAIT,
            "three ServiceBGPStatus objects",
        )
        up = f'metallb_bgp_session_up{{peer="{ROUTER_IP}:179",vrf="default"}} 1.0'
        bfd = f'metallb_bfd_session_up{{peer="{ROUTER_IP}",vrf="default"}} 1.0'
        wait_for(
            lambda: True if up in (text := metrics(cluster, "n1")) and bfd in text else None,
            WAIT,
            "BGP and BFD session metrics read from FRR",
        )

        # A node's link dies: BFD tells the router long before the hold timer would.
        n1 = cluster.lab.hosts["n1"]
        start = time.monotonic()
        n1.link_set("eth0", "down")
        try:
            assert wait_paths(router, prefix, 2) == [DATA_IP["n2"], DATA_IP["n3"]]
            print(f"\nBFD withdrawal of n1 after link down: {time.monotonic() - start:.2f} s")
        finally:
            n1.link_set("eth0", "up")
        assert wait_paths(router, prefix, 3) == everyone

        # The speaker dies; its FRR keeps advertising (no config change, no reset).
        before = json.loads(router.vtysh(f"show bgp neighbors {DATA_IP['n2']} json"))
        cluster.kill_speaker("n2")
        time.sleep(3)
        assert paths_now(router, prefix) == everyone
        cluster.start_speaker("n2")
        cluster.wait_speaker_ready("n2")
        time.sleep(2)
        after = json.loads(router.vtysh(f"show bgp neighbors {DATA_IP['n2']} json"))
        established = [d[DATA_IP["n2"]].get("connectionsEstablished") for d in (before, after)]
        assert established[0] == established[1], "the restart reset n2's session"
        assert paths_now(router, prefix) == everyone

        services.delete_all()
        assert wait_paths(router, prefix, 0) == []
    finally:
        services.delete_all()


def paths_now(router: FRR, prefix: str) -> list[str]:
    return sorted(r.next_hop for r in router.routes(4).get(prefix, []))
