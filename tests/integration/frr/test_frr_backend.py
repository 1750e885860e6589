"""The FRR backend against real FRR in network namespaces: the node's FRR, configured only
through :class:`metallb.net.frr.FRRBackend`, advertises a Service's /32 and /128 to an FRR
router with communities, large communities and LOCAL_PREF; a reload that adds a prefix
keeps the session; BFD comes up with the BFDProfile; a dead node link is withdrawn fast.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from metallb import views
from metallb.config.build import build_config
from metallb.election.ranking import Node
from metallb.frr import render as frr_render
from metallb.lab.routers import wait_for
from metallb.net.frr import FRRBackend, FRRTarget
from metallb.speaker import bgp_decision
from tests.integration.frr.conftest import ASN, BFD_MS, NODE_V4, ROUTER_V4, FrrNet

pytestmark = pytest.mark.timeout(120)

NS = "metallb-system"
NODE = Node("node", {"kubernetes.io/hostname": "node"})
WAIT = 30.0  # seconds any convergence may take


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = "metallb.io/v1beta2" if kind == "BGPPeer" else "metallb.io/v1beta1"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


FAST = {"receiveInterval": BFD_MS, "transmitInterval": BFD_MS, "detectMultiplier": 3}
PEER = {
    "myASN": ASN,
    "peerASN": ASN,
    "peerAddress": ROUTER_V4,
    "routerID": NODE_V4,
    "bfdProfile": "fast",
    "dualStackAddressFamily": True,
    "holdTime": "9s",
    "keepaliveTime": "3s",
}
ADS = {
    "ipAddressPools": ["dual"],
    "localPref": 150,
    "communities": ["64512:100", "large:64512:1:2"],
}
CONFIG = build_config(
    [
        obj("IPAddressPool", "dual", {"addresses": ["198.51.100.0/24", "2001:db8:100::/64"]}),
        obj("BFDProfile", "fast", FAST),
        obj("BGPPeer", "router", PEER),
        obj("BGPAdvertisement", "ads", ADS),
    ],
    namespace=NS,
    bgp_type="frr",
)


def service(name: str, *ips: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def endpoints(name: str) -> dict[str, Any]:
    labels = {"kubernetes.io/service-name": name}
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "endpoints": [{"nodeName": "node", "addresses": ["10.0.0.1"], "conditions": {}}],
    }


def state(*services: dict[str, Any]) -> frr_render.NodeConfig:
    decisions = [
        bgp_decision.decide(
            CONFIG,
            views.Service.from_dict(s),
            node=NODE,
            endpoints=views.EndpointSlice.from_dict(endpoints(s["metadata"]["name"])).endpoints,
        )
        for s in services
    ]
    return frr_render.desired(
        CONFIG, NODE, [d for d in decisions if isinstance(d, bgp_decision.Announce)]
    )


WEB = service("web", "198.51.100.7", "2001:db8:100::7")
DNS = service("dns", "198.51.100.9")


def router_path(net: FrrNet, prefix: str) -> dict[str, Any] | None:
    fam = "ipv6" if ":" in prefix else "ipv4"
    out = json.loads(net.router.vtysh(f"show bgp {fam} unicast {prefix} json") or "{}")
    paths = out.get("paths") or []
    return paths[0] if paths else None


def neighbor_info(net: FrrNet) -> dict[str, Any]:
    out = json.loads(net.router.vtysh(f"show bgp neighbors {NODE_V4} json") or "{}")
    info: dict[str, Any] = out.get(NODE_V4, {})
    return info


async def converge(backend: FRRBackend, *services: dict[str, Any]) -> None:
    backend.set(state(*services))
    async with asyncio.timeout(WAIT):
        await backend.settled()


@pytest.mark.asyncio
async def test_routes_attributes_and_no_session_reset(frrnet: FrrNet) -> None:
    """/32 and /128 reach the router with communities, large communities and LOCAL_PREF;
    adding a Service reloads FRR without a new session; removing it withdraws it."""
    backend = FRRBackend(FRRTarget(frrnet.workdir, frrnet.node.netns), debounce=0.2)
    assert backend.uses_frr_reload
    async with backend:
        await converge(backend, WEB)
        frrnet.router.wait_established(NODE_V4, WAIT)
        for prefix in ("198.51.100.7/32", "2001:db8:100::7/128"):
            path = wait_for(prefix, lambda p=prefix: router_path(frrnet, p), WAIT)  # type: ignore[misc]
            assert path["community"]["string"] == "64512:100"
            assert path["largeCommunity"]["string"] == "64512:1:2"
            assert path["locPrf"] == 150
        before = neighbor_info(frrnet)
        assert before["connectionsEstablished"] == 1

        await converge(backend, WEB, DNS)
        wait_for("the second prefix", lambda: router_path(frrnet, "198.51.100.9/32"), WAIT)
        after = neighbor_info(frrnet)
        assert after["bgpState"] == "Established"
        assert after["connectionsEstablished"] == before["connectionsEstablished"]
        assert after["connectionsDropped"] == before.get("connectionsDropped", 0)
        assert backend.reloads == 2
        assert backend.failures == 0

        # Removing a Service leaves the others' lines alone: the router never sees the
        # remaining prefix withdrawn and re-sent (its path version stays the same).
        dns_version = router_path(frrnet, "198.51.100.9/32")["version"]  # type: ignore[index]
        await converge(backend, DNS)
        wait_for("the withdrawal", lambda: router_path(frrnet, "198.51.100.7/32") is None, WAIT)
        await asyncio.sleep(1.0)  # let a flap, if any, finish reaching the router
        assert router_path(frrnet, "198.51.100.9/32")["version"] == dns_version  # type: ignore[index]
        assert neighbor_info(frrnet)["connectionsEstablished"] == 1


def bfd_peer(net: FrrNet, where: str) -> dict[str, Any] | None:
    if where == "router":
        text = net.router.vtysh("show bfd peers json")
    else:
        argv = ["vtysh", "-N", net.node.netns, "--config_dir", str(net.workdir / "etc")]
        text = net.node.run(*argv, "-c", "show bfd peers json")
    peers = [p for p in json.loads(text or "[]") if p.get("status") == "up"]
    return peers[0] if peers else None


@pytest.mark.asyncio
async def test_bfd_up_and_fast_withdrawal_on_link_down(
    frrnet: FrrNet, record_property: Any
) -> None:
    """The BFDProfile's intervals govern the node's BFD session with the router; when the
    node's link goes down, the router withdraws the route (BFD, not the 9 s hold timer)."""
    backend = FRRBackend(FRRTarget(frrnet.workdir, frrnet.node.netns), debounce=0.2)
    async with backend:
        await converge(backend, WEB)
        wait_for("the route", lambda: router_path(frrnet, "198.51.100.7/32"), WAIT)
        node_side = wait_for("BFD up at the node", lambda: bfd_peer(frrnet, "node"), WAIT)
        assert node_side["peer"] == ROUTER_V4
        assert node_side["detect-multiplier"] == 3
        assert node_side["receive-interval"] == BFD_MS
        assert node_side["transmit-interval"] == BFD_MS
        assert wait_for("BFD up at the router", lambda: bfd_peer(frrnet, "router"), WAIT)

        frrnet.node.link_set("eth0", "down")
        t0 = time.monotonic()
        wait_for("withdrawal", lambda: router_path(frrnet, "198.51.100.7/32") is None, 8.0)
        elapsed = time.monotonic() - t0
        record_property("withdraw_seconds_link_down", round(elapsed, 3))
        print(f"route withdrawn {elapsed:.3f} s after link down")
