"""The frr-k8s backend's FRRConfiguration for one node: scenario tables.

The cases follow upstream's ``internal/bgp/frrk8s/*_test.go`` (sessions of each kind,
advertisements with communities and local preference, VRFs, BFD profiles, dynamic ASN,
interface peers, timers); the expected objects are written out here by hand.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest

from metallb.config.build import build_config
from metallb.election.ranking import Node
from metallb.frr import frrk8s as frrk8s_render
from metallb.speaker import bgp_decision
from tests.unit.frr.test_render import NS, obj, peer, ready, service
from tests.unit.speaker.objects import core

NODE = Node("node-1", {"kubernetes.io/hostname": "node-1", "rack": "a"})
FRRNS = "frr-k8s-system"
POOLS = [
    obj("IPAddressPool", "dual", {"addresses": ["198.51.100.0/25", "2001:db8:100::/64"]}),
    obj("IPAddressPool", "v4", {"addresses": ["198.51.100.128/25"]}),
]
WEB = service("web", "198.51.100.7", "2001:db8:100::7")
DNS = service("dns", "198.51.100.200")
SELECTOR = {"matchLabels": {"kubernetes.io/hostname": "node-1"}}
RECEIVE = {"allowed": {"mode": "filtered"}}
RACK_B = [{"matchLabels": {"rack": "b"}}]
GOLD = {"name": "gold", "value": "large:100:1:2"}
WEB_PREFIXES = ["198.51.100.7/32", "2001:db8:100::7/128"]


def ad(name: str, *pools: str, **spec: Any) -> dict[str, Any]:
    return obj("BGPAdvertisement", name, {"ipAddressPools": list(pools), **spec})


def render(
    objects: list[dict[str, Any]],
    services: list[dict[str, Any]],
    *,
    passthrough: bool = False,
) -> dict[str, Any] | None:
    config = build_config(objects, namespace=NS, bgp_type="frr-k8s", secret_passthrough=passthrough)
    slices = [ready(s["metadata"]["name"]) for s in services]
    decisions = [
        bgp_decision.decide(config, view, node=NODE, endpoints=endpoints)
        for view, endpoints in (core(s, slices) for s in services)
    ]
    announced = [d for d in decisions if isinstance(d, bgp_decision.Announce)]
    return frrk8s_render.desired(config, NODE, announced, namespace=FRRNS, passthrough=passthrough)


def nbr(address: str, asn: int, *prefixes: str, **extra: Any) -> dict[str, Any]:
    """A neighbour as the rendering writes it, for the fields a case does not set."""
    allowed: dict[str, Any] = {"mode": "filtered"}
    if prefixes:
        allowed["prefixes"] = list(prefixes)
    toadv: dict[str, Any] = {"allowed": allowed}
    for key in ("withLocalPref", "withCommunity"):
        if key in extra:
            toadv[key] = extra.pop(key)
    out: dict[str, Any] = {"asn": asn, "address": address, "port": 179, **extra}
    out["toAdvertise"] = toadv
    out["toReceive"] = RECEIVE
    out.setdefault("disableMP", False)
    out.setdefault("dualStackAddressFamily", False)
    return out


# (name, objects, services, expected spec.bgp)
CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]] = [
    (
        "ebgp_multihop_gr_password_timers",
        [
            *POOLS,
            peer(
                "edge", "203.0.113.1", 100, 200,
                password="password", holdTime="3s", keepaliveTime="1s", connectTime="5s",
                ebgpMultiHop=True, enableGracefulRestart=True, sourceAddress="192.0.2.10",
                peerPort=1179, localASN=300,
            ),
        ],
        [],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [{
            "asn": 200, "address": "203.0.113.1", "sourceaddress": "192.0.2.10",
            "localASN": 300, "port": 1179, "password": "password", "holdTime": "3s",
            "keepaliveTime": "1s", "connectTime": "5s", "ebgpMultiHop": True,
            "enableGracefulRestart": True,
            "toAdvertise": {"allowed": {"mode": "filtered"}}, "toReceive": RECEIVE,
            "disableMP": False, "dualStackAddressFamily": False,
        }]}]},
    ),
    (
        # An IPv4 session gets the IPv4 prefixes only; an IPv6 one the IPv6 ones.
        "one_family_per_session",
        [
            *POOLS,
            peer("tor-v4", "192.0.2.1", 100, 200),
            peer("tor-v6", "2001:db8::1", 100, 200),
            ad("all", "dual", "v4"),
        ],
        [WEB, DNS],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [
            nbr("192.0.2.1", 200, "198.51.100.200/32", "198.51.100.7/32"),
            nbr("2001:db8::1", 200, "2001:db8:100::7/128"),
        ], "prefixes": ["198.51.100.200/32", "198.51.100.7/32", "2001:db8:100::7/128"]}]},
    ),
    (
        # iBGP: LOCAL_PREF and communities (classic, large, by alias); two ads giving
        # one prefix merge their communities; prefixes sorted as strings (upstream).
        "ibgp_localpref_communities",
        [
            *POOLS,
            obj("Community", "names", {"communities": [GOLD]}),
            peer("rr", "192.0.2.1", 100, 100),
            ad("pref", "v4", localPref=300, communities=["1111:2222", "gold"]),
            ad("more", "v4", localPref=300, communities=["3333:4444"]),
            ad("plain", "dual"),
        ],
        [WEB, DNS],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [
            nbr(
                "192.0.2.1", 100, "198.51.100.200/32", "198.51.100.7/32",
                withLocalPref=[{"prefixes": ["198.51.100.200/32"], "localPref": 300}],
                withCommunity=[
                    {"prefixes": ["198.51.100.200/32"], "community": "1111:2222"},
                    {"prefixes": ["198.51.100.200/32"], "community": "3333:4444"},
                    {"prefixes": ["198.51.100.200/32"], "community": "large:100:1:2"},
                ],
            ),
        ], "prefixes": ["198.51.100.200/32", "198.51.100.7/32"]}]},
    ),
    (
        # eBGP: the local preference stays out (see the module docstring); aggregation.
        "ebgp_no_localpref_aggregation",
        [*POOLS, peer("tor", "192.0.2.1", 100, 200),
         ad("agg", "v4", localPref=50, aggregationLength=26)],
        [DNS],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [
            nbr("192.0.2.1", 200, "198.51.100.192/26"),
        ], "prefixes": ["198.51.100.192/26"]}]},
    ),
    (
        # Neighbours in upstream's session-key order: "200@192.0.2.9-..." sorts before
        # "300@192.0.2.1-...", whatever the names or addresses say.
        "two_sessions_sorted_by_session_key",
        [*POOLS, peer("a", "192.0.2.1", 100, 300), peer("b", "192.0.2.9", 100, 200)],
        [],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [
            nbr("192.0.2.9", 200), nbr("192.0.2.1", 300),
        ]}]},
    ),
    (
        "zero_timers",
        [*POOLS, peer("tor", "192.0.2.1", 100, 200, holdTime="0s", keepaliveTime="0s")],
        [],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [
            nbr("192.0.2.1", 200, holdTime="0s", keepaliveTime="0s"),
        ]}]},
    ),
    (
        # Dynamic ASN and an unnumbered peer (which carries both families); no router ID.
        "dynamic_asn_and_interface",
        [
            *POOLS,
            obj("BGPPeer", "int", {"myASN": 100, "dynamicASN": "internal",
                                   "peerAddress": "192.0.2.1"}),
            obj("BGPPeer", "ext", {"myASN": 100, "dynamicASN": "external", "interface": "eth1"}),
            ad("all", "dual"),
        ],
        [WEB],
        {"routers": [{"asn": 100, "neighbors": [
            {"dynamicASN": "external", "interface": "eth1", "port": 179, "toAdvertise": {
                "allowed": {"mode": "filtered", "prefixes": WEB_PREFIXES}
            }, "toReceive": RECEIVE, "disableMP": False, "dualStackAddressFamily": False},
            {"dynamicASN": "internal", "address": "192.0.2.1", "port": 179, "toAdvertise": {
                "allowed": {"mode": "filtered", "prefixes": ["198.51.100.7/32"]}
            }, "toReceive": RECEIVE, "disableMP": False, "dualStackAddressFamily": False},
        ], "prefixes": ["198.51.100.7/32", "2001:db8:100::7/128"]}]},
    ),
    (
        # dualStackAddressFamily: an IPv4 session told both families.
        "dual_stack_session",
        [*POOLS, peer("tor", "192.0.2.1", 100, 200, dualStackAddressFamily=True),
         ad("all", "dual")],
        [WEB],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [
            nbr("192.0.2.1", 200, *WEB_PREFIXES, dualStackAddressFamily=True),
        ], "prefixes": ["198.51.100.7/32", "2001:db8:100::7/128"]}]},
    ),
    (
        # VRFs: one router per (ASN, router ID, VRF), in upstream's router-key order
        # ("100@192.0.2.10@" < "100@192.0.2.10@red" < "200@..."); a peer selecting other
        # nodes is absent; an ad naming a peer reaches that peer only.
        "vrfs",
        [
            *POOLS,
            peer("default", "192.0.2.1", 100, 300),
            peer("red-a", "192.0.2.1", 100, 300, vrf="red"),
            peer("blue-a", "192.0.2.2", 200, 301, vrf="blue"),
            peer("far", "192.0.2.3", 100, 300, vrf="red", nodeSelectors=RACK_B),
            ad("red-only", "v4", peers=["red-a"]),
        ],
        [DNS],
        {"routers": [
            {"asn": 100, "id": "192.0.2.10", "neighbors": [nbr("192.0.2.1", 300)]},
            {"asn": 100, "id": "192.0.2.10", "vrf": "red", "neighbors": [
                nbr("192.0.2.1", 300, "198.51.100.200/32"),
            ], "prefixes": ["198.51.100.200/32"]},
            {"asn": 200, "id": "192.0.2.10", "vrf": "blue", "neighbors": [nbr("192.0.2.2", 301)]},
        ]},
    ),
    (
        # BFD: every profile of the configuration, by name; unset fields left out, the
        # two flags always written.
        "bfd_profiles",
        [
            *POOLS,
            obj("BFDProfile", "zeta", {}),
            obj("BFDProfile", "alpha", {
                "receiveInterval": 60, "transmitInterval": 70, "detectMultiplier": 5,
                "echoInterval": 90, "echoMode": True, "passiveMode": True, "minimumTtl": 60,
            }),
            peer("tor", "192.0.2.1", 100, 200, bfdProfile="alpha"),
        ],
        [],
        {"routers": [{"asn": 100, "id": "192.0.2.10", "neighbors": [
            nbr("192.0.2.1", 200, bfdProfile="alpha"),
        ]}], "bfdProfiles": [
            {"name": "alpha", "receiveInterval": 60, "transmitInterval": 70, "detectMultiplier": 5,
             "echoInterval": 90, "echoMode": True, "passiveMode": True, "minimumTtl": 60},
            {"name": "zeta", "echoMode": False, "passiveMode": False},
        ]},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("objects", "services", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_scenarios(
    objects: list[dict[str, Any]], services: list[dict[str, Any]], want: dict[str, Any]
) -> None:
    got = render(objects, services)
    assert got is not None
    assert got["apiVersion"] == "frrk8s.metallb.io/v1beta1"
    assert got["kind"] == "FRRConfiguration"
    assert got["metadata"] == {"name": "metallb-node-1", "namespace": FRRNS}
    assert got["spec"]["nodeSelector"] == SELECTOR
    assert got["spec"]["bgp"] == want


def test_no_peer_for_the_node_means_no_object() -> None:
    """No BGPPeer selects the node (or none at all): nothing to write, even with BFD
    profiles and Services (the driver deletes an existing object)."""
    far = peer("far", "192.0.2.3", 100, 300, nodeSelectors=RACK_B)
    objects = [*POOLS, obj("BFDProfile", "p", {}), far, ad("all", "dual", "v4")]
    assert render(objects, [WEB, DNS]) is None
    assert render(POOLS, []) is None


def secret(name: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "kubernetes.io/basic-auth",
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }


def test_password_secret_resolved_or_passed_through() -> None:
    """Without passthrough the Secret's password is written in clear (upstream's
    SecretConvert); with it, the reference, and the Secret need not be readable."""
    ref = {"name": "bgp-auth", "namespace": "frr-k8s-system"}
    objects = [*POOLS, peer("tor", "192.0.2.1", 100, 200, passwordSecret=ref)]
    resolved = render([*objects, secret("bgp-auth", "from-secret")], [])
    assert resolved is not None
    n = resolved["spec"]["bgp"]["routers"][0]["neighbors"][0]
    assert n["password"] == "from-secret"
    assert "passwordSecret" not in n
    passed = render(objects, [], passthrough=True)  # no Secret in MetalLB's namespace
    assert passed is not None
    n = passed["spec"]["bgp"]["routers"][0]["neighbors"][0]
    assert n["passwordSecret"] == ref
    assert "password" not in n


def test_withdrawn_service_leaves_the_session() -> None:
    """A Service that stops being advertised leaves its prefixes, not the neighbour."""
    objects = [*POOLS, peer("tor", "192.0.2.1", 100, 200), ad("all", "v4")]
    with_dns = render(objects, [DNS])
    without = render(objects, [])
    assert with_dns is not None
    assert without is not None
    assert with_dns["spec"]["bgp"]["routers"][0]["prefixes"] == ["198.51.100.200/32"]
    assert without["spec"]["bgp"]["routers"] == [
        {"asn": 100, "id": "192.0.2.10", "neighbors": [nbr("192.0.2.1", 200)]}
    ]


@pytest.mark.parametrize("seed", range(5))
def test_input_order_does_not_matter(seed: int) -> None:
    """Objects and Services in any order give an equal object (no needless writes)."""
    objects = [*CASES[8][1], ad("all", "dual", communities=["1:1", "2:2"])]
    services = [WEB, DNS]
    first = render(objects, services)
    rnd = random.Random(seed)
    rnd.shuffle(objects)
    rnd.shuffle(services)
    assert render(objects, services) == first
