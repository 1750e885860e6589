"""The FRR backend's rendering: golden files for several node states, and stability.

Regenerate the goldens with ``METALLB_UPDATE_GOLDEN=1 pytest tests/unit/frr`` and
review the diff; the test then fails once, naming the files it rewrote.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from metallb.config.build import build_config
from metallb.config.types import Config
from metallb.election.ranking import Node
from metallb.frr import render as frr_render
from metallb.speaker import bgp_decision
from tests.unit.speaker.objects import core

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("METALLB_UPDATE_GOLDEN") == "1"
NS = "metallb-system"
NODE = Node("node-1", {"kubernetes.io/hostname": "node-1", "rack": "a"})


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = "metallb.io/v1beta2" if kind == "BGPPeer" else "metallb.io/v1beta1"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def peer(name: str, address: str, my: int, asn: int, **spec: Any) -> dict[str, Any]:
    spec = {"myASN": my, "peerASN": asn, "peerAddress": address, "routerID": "192.0.2.10", **spec}
    return obj("BGPPeer", name, spec)


def service(name: str, *ips: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def ready(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": name},
        },
        "endpoints": [{"nodeName": "node-1", "addresses": ["10.0.0.1"], "conditions": {}}],
    }


POOLS = [
    obj("IPAddressPool", "dual", {"addresses": ["198.51.100.0/25", "2001:db8:100::/64"]}),
    obj("IPAddressPool", "v4", {"addresses": ["198.51.100.128/25"]}),
]
RACK_B = [{"matchLabels": {"rack": "b"}}]
SERVICES = [service("web", "198.51.100.7", "2001:db8:100::7"), service("dns", "198.51.100.200")]

SCENARIOS: dict[str, list[dict[str, Any]]] = {
    # eBGP, one IPv4 and one IPv6 session, no attributes.
    "dual_stack_ebgp": [
        *POOLS,
        peer("tor-v4", "192.0.2.1", 64512, 64513),
        peer("tor-v6", "2001:db8::1", 64512, 64513),
        obj("BGPAdvertisement", "all", {"ipAddressPools": ["dual", "v4"]}),
    ],
    # iBGP with LOCAL_PREF, communities (an alias, classic and large), aggregation.
    "ibgp_localpref_communities": [
        *POOLS,
        obj("Community", "names", {"communities": [{"name": "gold", "value": "large:64512:1:2"}]}),
        peer("rr", "192.0.2.1", 64512, 64512, dualStackAddressFamily=True),
        obj(
            "BGPAdvertisement",
            "pref",
            {
                "ipAddressPools": ["dual", "v4"],
                "localPref": 150,
                "communities": ["64512:100", "gold"],
            },
        ),
        obj(
            "BGPAdvertisement",
            "agg",
            {"ipAddressPools": ["dual"], "aggregationLength": 25, "localPref": 150},
        ),
    ],
    # BFD profile, password, timers, multihop, graceful restart, a non-default port.
    "bfd_password_timers": [
        *POOLS,
        obj(
            "BFDProfile",
            "fast",
            {
                "receiveInterval": 100,
                "transmitInterval": 100,
                "detectMultiplier": 3,
                "echoInterval": 50,
                "echoMode": True,
                "passiveMode": False,
                "minimumTtl": 250,
            },
        ),
        obj("BFDProfile", "unused", {"receiveInterval": 300}),
        peer(
            "edge",
            "203.0.113.1",
            64512,
            65000,
            bfdProfile="fast",
            password="s3cret",
            holdTime="9s",
            keepaliveTime="3s",
            connectTime="5s",
            ebgpMultiHop=True,
            enableGracefulRestart=True,
            peerPort=1179,
            sourceAddress="192.0.2.10",
        ),
        obj("BGPAdvertisement", "v4", {"ipAddressPools": ["v4"], "communities": ["65000:1"]}),
    ],
    # Two VRFs with their own ASN, a peer limited to other nodes, and an ad naming a peer.
    "two_vrfs": [
        *POOLS,
        peer("red-a", "192.0.2.1", 64512, 64600, vrf="red"),
        peer("blue-a", "192.0.2.2", 64513, 64601, vrf="blue"),
        peer("other-rack", "192.0.2.3", 64512, 64600, vrf="red", nodeSelectors=RACK_B),
        obj("BGPAdvertisement", "red-only", {"ipAddressPools": ["v4"], "peers": ["red-a"]}),
        obj("BGPAdvertisement", "both", {"ipAddressPools": ["dual"]}),
    ],
    # Peers but nothing to advertise: sessions and deny-all maps only.
    "no_services": [*POOLS, peer("tor", "192.0.2.1", 64512, 64513)],
}  # fmt: skip


def state(objects: list[dict[str, Any]], services: list[dict[str, Any]]) -> frr_render.NodeConfig:
    config: Config = build_config(objects, namespace=NS, bgp_type="frr")
    slices = [ready(s["metadata"]["name"]) for s in services]
    decisions = [
        bgp_decision.decide(config, view, node=NODE, endpoints=endpoints)
        for view, endpoints in (core(s, slices) for s in services)
    ]
    announced = [d for d in decisions if isinstance(d, bgp_decision.Announce)]
    return frr_render.desired(config, NODE, announced)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden(name: str) -> None:
    """The rendered frr.conf equals the reviewed golden file for each scenario."""
    services = [] if name == "no_services" else SERVICES
    text = frr_render.render(state(SCENARIOS[name], services))
    path = GOLDEN / f"frr_{name}.conf"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            pytest.fail(f"rewrote {path.name}; review the diff and run again")
    assert path.exists(), f"no golden file {path.name}: run with METALLB_UPDATE_GOLDEN=1"
    assert text == path.read_text()


@pytest.mark.parametrize("seed", range(5))
def test_rendering_ignores_input_order(seed: int) -> None:
    """Objects and Services in any order render byte-identical text (no reload churn)."""
    objects, services = list(SCENARIOS["two_vrfs"]), list(SERVICES)
    first = frr_render.render(state(objects, services))
    rnd = random.Random(seed)
    rnd.shuffle(objects)
    rnd.shuffle(services)
    assert frr_render.render(state(objects, services)) == first


def test_localpref_only_for_ibgp_and_peers_restrictions() -> None:
    """LOCAL_PREF never reaches an eBGP neighbour's map; `peers` keeps red-a's routes off
    blue-a, and a peer selecting other nodes is absent."""
    text = frr_render.render(state(SCENARIOS["two_vrfs"], SERVICES))
    assert "other-rack" not in text
    assert "192.0.2.3" not in text
    dns_lines = [line for line in text.splitlines() if "198.51.100.200/32" in line]
    assert dns_lines
    assert all("mlb-red-red-a-" in line or "network" in line for line in dns_lines)
    ibgp = frr_render.render(state(SCENARIOS["ibgp_localpref_communities"], SERVICES))
    assert "set local-preference 150" in ibgp
    ebgp = [*POOLS, peer("x", "192.0.2.1", 64512, 64513)]
    ebgp.append(obj("BGPAdvertisement", "p", {"ipAddressPools": ["v4"], "localPref": 150}))
    assert "local-preference" not in frr_render.render(state(ebgp, SERVICES))


@pytest.mark.skipif(shutil.which("vtysh") is None, reason="FRR's vtysh is not installed")
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_frr_parses_golden(name: str) -> None:
    """FRR's own parser (`vtysh --dryrun`) accepts every golden file."""
    path = GOLDEN / f"frr_{name}.conf"
    proc = subprocess.run(
        ["vtysh", "--dryrun", "-f", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unnumbered_peer_gets_both_families() -> None:
    """An interface (unnumbered) session carries IPv4 and IPv6 routes, as upstream."""
    objects = [
        *POOLS,
        obj(
            "BGPPeer",
            "unnum",
            {"myASN": 64512, "peerASN": 64513, "interface": "eth1", "routerID": "192.0.2.10"},
        ),
        obj("BGPAdvertisement", "all", {"ipAddressPools": ["dual", "v4"]}),
    ]
    text = frr_render.render(state(objects, SERVICES))
    assert " neighbor eth1 interface remote-as 64513" in text
    v4 = text.split(" address-family ipv4 unicast", 1)[1].split("exit-address-family")[0]
    assert "  neighbor eth1 activate" in v4
    assert "network 198.51.100.200/32" in v4
    assert "disable-connected-check" not in text


@pytest.mark.parametrize(
    ("my", "asn", "extra", "expected"),
    [
        (64512, 64513, {}, True),  # IPv6 eBGP, single family: on-link only
        (64512, 64512, {}, False),  # iBGP by number
        (64512, 64513, {"ebgpMultiHop": True}, False),
        (64512, 64513, {"dualStackAddressFamily": True}, False),
    ],
)
def test_disable_connected_check_only_for_single_family_ipv6_ebgp(
    my: int, asn: int, extra: dict[str, Any], expected: bool
) -> None:
    objects = [*POOLS, peer("v6", "2001:db8::1", my, asn, **extra)]
    text = frr_render.render(state(objects, SERVICES))
    assert ("neighbor 2001:db8::1 disable-connected-check" in text) is expected


def test_next_hops_resolve_via_default_and_preserve_fw_state_always() -> None:
    text = frr_render.render(state(SCENARIOS["no_services"], []))
    assert "ip nht resolve-via-default\nipv6 nht resolve-via-default\n" in text
    assert " bgp graceful-restart preserve-fw-state" in text
