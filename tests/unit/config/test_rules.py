"""One row per validation rule: the valid input builds, the invalid one is refused
with an error naming the object and the field."""

from __future__ import annotations

from typing import Any

import pytest

from metallb.config.build import build_config
from metallb.config.errors import ConfigError

from .helpers import bgp_ad, l2_ad, node, obj, peer, pool

P4 = pool("p4", "198.51.100.0/24")
P6 = pool("p6", "2001:db8::/64")
SECRET_OK = {
    "apiVersion": "v1",
    "kind": "Secret",
    "type": "kubernetes.io/basic-auth",
    "metadata": {"name": "pw", "namespace": "metallb-system"},
    "data": {"password": "c2VjcmV0"},
}
SECRET_OPAQUE = {**SECRET_OK, "type": "Opaque"}
SEL = {"matchLabels": {"a": "b"}}
N1, N2 = node("n1", zone="a"), node("n2", zone="b")

# (id, mode, valid objects, invalid objects, expected object, expected field, reason fragment)
RULES: list[tuple[str, str, list[Any], list[Any], str, str, str]] = [
    (
        "bad CIDR",
        "native",
        [pool("a", "192.0.2.0/24")],
        [pool("a", "192.0.2.0/33")],
        "IPAddressPool metallb-system/a",
        "spec.addresses[0]",
        "invalid CIDR",
    ),
    (
        "CIDR with leading space",
        "native",
        [pool("a", "192.0.2.0/24")],
        [pool("a", " 192.0.2.0/24")],
        "IPAddressPool metallb-system/a",
        "spec.addresses[0]",
        "invalid CIDR",
    ),
    (
        "range start after end",
        "native",
        [pool("a", "192.0.2.1 - 192.0.2.9")],
        [pool("a", "192.0.2.9-192.0.2.1")],
        "IPAddressPool metallb-system/a",
        "spec.addresses[0]",
        "is after the end IP",
    ),
    (
        "range bad start",
        "native",
        [pool("a", "192.0.2.1-192.0.2.9")],
        [pool("a", "x-192.0.2.9")],
        "IPAddressPool metallb-system/a",
        "spec.addresses[0]",
        "invalid start IP",
    ),
    (
        "range bad end",
        "native",
        [pool("a", "192.0.2.1-192.0.2.9")],
        [pool("a", "192.0.2.1-y")],
        "IPAddressPool metallb-system/a",
        "spec.addresses[0]",
        "invalid end IP",
    ),
    (
        "no addresses",
        "native",
        [pool("a", "192.0.2.0/24")],
        [pool("a")],
        "IPAddressPool metallb-system/a",
        "spec.addresses",
        "no prefixes",
    ),
    (
        "overlap across pools",
        "native",
        [pool("a", "192.0.2.0/25"), pool("b", "192.0.2.128/25")],
        [pool("a", "192.0.2.0/24"), pool("b", "192.0.2.128-192.0.2.130")],
        "IPAddressPool metallb-system/b",
        "spec.addresses[0]",
        "overlaps",
    ),
    (
        "overlap inside a pool",
        "native",
        [pool("a", "192.0.2.0/25", "192.0.2.128/25")],
        [pool("a", "192.0.2.0/24", "192.0.2.7/32")],
        "IPAddressPool metallb-system/a",
        "spec.addresses[1]",
        "overlaps",
    ),
    (
        "duplicate pool name",
        "native",
        [pool("a", "192.0.2.0/25")],
        [pool("a", "192.0.2.0/25"), pool("a", "198.51.100.0/24")],
        "IPAddressPool metallb-system/a",
        "metadata.name",
        "duplicate",
    ),
    (
        "duplicate namespaces",
        "native",
        [pool("a", "192.0.2.0/24", serviceAllocation={"namespaces": ["x", "y"]})],
        [pool("a", "192.0.2.0/24", serviceAllocation={"namespaces": ["x", "x"]})],
        "IPAddressPool metallb-system/a",
        "spec.serviceAllocation.namespaces[1]",
        "duplicate",
    ),
    (
        "duplicate namespaceSelectors",
        "native",
        [pool("a", "192.0.2.0/24", serviceAllocation={"namespaceSelectors": [SEL]})],
        [pool("a", "192.0.2.0/24", serviceAllocation={"namespaceSelectors": [SEL, SEL]})],
        "IPAddressPool metallb-system/a",
        "spec.serviceAllocation.namespaceSelectors[1]",
        "duplicate",
    ),
    (
        "bad selector operator",
        "native",
        [
            pool(
                "a",
                "192.0.2.0/24",
                serviceAllocation={
                    "serviceSelectors": [
                        {"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}
                    ]
                },
            )
        ],
        [
            pool(
                "a",
                "192.0.2.0/24",
                serviceAllocation={
                    "serviceSelectors": [
                        {"matchExpressions": [{"key": "k", "operator": "Is", "values": ["v"]}]}
                    ]
                },
            )
        ],
        "IPAddressPool metallb-system/a",
        "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator",
        "operator",
    ),
    (
        "wrong type",
        "native",
        [pool("a", "192.0.2.0/24", autoAssign=False)],
        [pool("a", "192.0.2.0/24", autoAssign="no")],
        "IPAddressPool metallb-system/a",
        "spec.autoAssign",
        "boolean",
    ),
    (
        "unknown field",
        "native",
        [pool("a", "192.0.2.0/24")],
        [pool("a", "192.0.2.0/24", autoassign=True)],
        "IPAddressPool metallb-system/a",
        "spec.autoassign",
        "unknown field",
    ),
    (
        "L2 duplicate pools",
        "native",
        [P4, l2_ad("l2", ipAddressPools=["p4"])],
        [P4, l2_ad("l2", ipAddressPools=["p4", "p4"])],
        "L2Advertisement metallb-system/l2",
        "spec.ipAddressPools[1]",
        "duplicate",
    ),
    (
        "L2 preferred weight range",
        "native",
        [P4, l2_ad("l2", preferredNodeSelectors=[{"weight": 100, "preference": SEL}])],
        [P4, l2_ad("l2", preferredNodeSelectors=[{"weight": 101, "preference": SEL}])],
        "L2Advertisement metallb-system/l2",
        "spec.preferredNodeSelectors[0].weight",
        "less than",
    ),
    (
        "aggregation > 32",
        "frr",
        [P4, bgp_ad("ad", aggregationLength=32)],
        [P4, bgp_ad("ad", aggregationLength=33)],
        "BGPAdvertisement metallb-system/ad",
        "spec.aggregationLength",
        "invalid aggregation length",
    ),
    (
        "aggregationV6 > 128",
        "frr",
        [P6, bgp_ad("ad", aggregationLengthV6=128)],
        [P6, bgp_ad("ad", aggregationLengthV6=129)],
        "BGPAdvertisement metallb-system/ad",
        "spec.aggregationLengthV6",
        "invalid aggregation length",
    ),
    (
        "aggregation shorter than pool prefix",
        "frr",
        [pool("a", "192.0.2.0/28"), bgp_ad("ad", aggregationLength=28)],
        [pool("a", "192.0.2.0/28"), bgp_ad("ad", aggregationLength=26)],
        "BGPAdvertisement metallb-system/ad",
        "spec.aggregationLength",
        "more specific",
    ),
    (
        "serviceSelectors with aggregation",
        "frr",
        [P4, bgp_ad("ad", serviceSelectors=[SEL])],
        [P4, bgp_ad("ad", serviceSelectors=[SEL], aggregationLength=24)],
        "BGPAdvertisement metallb-system/ad",
        "spec.aggregationLength",
        "mutually exclusive",
    ),
    (
        "localPref conflict",
        "frr",
        [N1, P4, bgp_ad("a1", localPref=100), bgp_ad("a2", localPref=100)],
        [N1, P4, bgp_ad("a1", localPref=100), bgp_ad("a2", localPref=200)],
        "BGPAdvertisement metallb-system/a2",
        "spec.localPref",
        "local preference",
    ),
    (
        "community syntax",
        "frr",
        [P4, bgp_ad("ad", communities=["65535:65281"])],
        [P4, bgp_ad("ad", communities=["65535:65536"])],
        "BGPAdvertisement metallb-system/ad",
        "spec.communities[0]",
        "invalid section",
    ),
    (
        "large community syntax",
        "frr",
        [P4, bgp_ad("ad", communities=["large:1:2:3"])],
        [P4, bgp_ad("ad", communities=["big:1:2:3"])],
        "BGPAdvertisement metallb-system/ad",
        "spec.communities[0]",
        "large:",
    ),
    (
        "unknown community alias",
        "frr",
        [
            P4,
            obj("Community", "c", {"communities": [{"name": "no-export", "value": "65535:65281"}]}),
            bgp_ad("ad", communities=["no-export"]),
        ],
        [P4, bgp_ad("ad", communities=["no-export"])],
        "BGPAdvertisement metallb-system/ad",
        "spec.communities[0]",
        "unknown community alias",
    ),
    (
        "duplicate community alias",
        "frr",
        [obj("Community", "c", {"communities": [{"name": "x", "value": "1:1"}]})],
        [
            obj("Community", "c", {"communities": [{"name": "x", "value": "1:1"}]}),
            obj("Community", "d", {"communities": [{"name": "x", "value": "1:2"}]}),
        ],
        "Community metallb-system/d",
        "spec.communities[0].name",
        "duplicate definition of community",
    ),
    (
        "duplicate ad communities",
        "frr",
        [P4, bgp_ad("ad", communities=["1:1"])],
        [P4, bgp_ad("ad", communities=["1:1", "1:1"])],
        "BGPAdvertisement metallb-system/ad",
        "spec.communities[1]",
        "duplicate",
    ),
    (
        "missing myASN",
        "native",
        [peer("p")],
        [peer("p", myASN=0)],
        "BGPPeer metallb-system/p",
        "spec.myASN",
        "missing local ASN",
    ),
    (
        "missing peerASN",
        "native",
        [peer("p")],
        [peer("p", peerASN=0)],
        "BGPPeer metallb-system/p",
        "spec.peerASN",
        "missing peer ASN",
    ),
    (
        "peerASN and dynamicASN",
        "frr",
        [peer("p", peerASN=0, dynamicASN="external")],
        [peer("p", dynamicASN="external")],
        "BGPPeer metallb-system/p",
        "spec.dynamicASN",
        "both",
    ),
    (
        "bad dynamicASN",
        "frr",
        [peer("p", peerASN=0, dynamicASN="internal")],
        [peer("p", peerASN=0, dynamicASN="sideways")],
        "BGPPeer metallb-system/p",
        "spec.dynamicASN",
        "internal",
    ),
    (
        "ebgp multihop on ibgp",
        "native",
        [peer("p", ebgpMultiHop=True)],
        [peer("p", peerASN=64500, ebgpMultiHop=True)],
        "BGPPeer metallb-system/p",
        "spec.ebgpMultiHop",
        "ibgp",
    ),
    (
        "no address",
        "native",
        [peer("p")],
        [peer("p", address="")],
        "BGPPeer metallb-system/p",
        "spec.peerAddress",
        "no Address or Interface",
    ),
    (
        "address and interface",
        "frr",
        [peer("p", address="", interface="eth0")],
        [peer("p", interface="eth0")],
        "BGPPeer metallb-system/p",
        "spec.interface",
        "both",
    ),
    (
        "bad address",
        "native",
        [peer("p")],
        [peer("p", address="192.0.2.300")],
        "BGPPeer metallb-system/p",
        "spec.peerAddress",
        "invalid BGPPeer address",
    ),
    (
        "bad router ID",
        "native",
        [peer("p", routerID="10.0.0.1")],
        [peer("p", routerID="r1")],
        "BGPPeer metallb-system/p",
        "spec.routerID",
        "invalid router ID",
    ),
    (
        "bad source address",
        "native",
        [peer("p", sourceAddress="10.0.0.1")],
        [peer("p", sourceAddress="here")],
        "BGPPeer metallb-system/p",
        "spec.sourceAddress",
        "invalid source IP",
    ),
    (
        "hold time under 3s",
        "native",
        [peer("p", holdTime="3s")],
        [peer("p", holdTime="2s")],
        "BGPPeer metallb-system/p",
        "spec.holdTime",
        "must be 0 or >=3s",
    ),
    (
        "keepalive above hold",
        "frr",
        [peer("p", holdTime="90s", keepaliveTime="30s")],
        [peer("p", holdTime="90s", keepaliveTime="91s")],
        "BGPPeer metallb-system/p",
        "spec.keepaliveTime",
        "lower than holdTime",
    ),
    (
        "bad duration",
        "native",
        [peer("p", holdTime="1m30s")],
        [peer("p", holdTime="90")],
        "BGPPeer metallb-system/p",
        "spec.holdTime",
        "invalid duration",
    ),
    (
        "connect time whole seconds",
        "frr",
        [peer("p", connectTime="5s")],
        [peer("p", connectTime="1500ms")],
        "BGPPeer metallb-system/p",
        "spec.connectTime",
        "whole number",
    ),
    (
        "peer port range",
        "native",
        [peer("p", peerPort=16384)],
        [peer("p", peerPort=16385)],
        "BGPPeer metallb-system/p",
        "spec.peerPort",
        "less than",
    ),
    (
        "password and secret",
        "native",
        [peer("p", password="x")],
        [peer("p", password="x", passwordSecret={"name": "pw"})],
        "BGPPeer metallb-system/p",
        "spec.passwordSecret",
        "both password and secret",
    ),
    (
        "missing secret",
        "native",
        [SECRET_OK, peer("p", passwordSecret={"name": "pw"})],
        [peer("p", passwordSecret={"name": "pw"})],
        "BGPPeer metallb-system/p",
        "spec.passwordSecret",
        "not found",
    ),
    (
        "secret type",
        "native",
        [SECRET_OK, peer("p", passwordSecret={"name": "pw"})],
        [SECRET_OPAQUE, peer("p", passwordSecret={"name": "pw"})],
        "BGPPeer metallb-system/p",
        "spec.passwordSecret",
        "basic-auth",
    ),
    (
        "unknown BFD profile",
        "frr",
        [obj("BFDProfile", "b", {}), peer("p", bfdProfile="b")],
        [peer("p", bfdProfile="b")],
        "BGPPeer metallb-system/p",
        "spec.bfdProfile",
        "non existing bfd profile",
    ),
    (
        "BFD range",
        "frr",
        [obj("BFDProfile", "b", {"detectMultiplier": 2})],
        [obj("BFDProfile", "b", {"detectMultiplier": 1})],
        "BFDProfile metallb-system/b",
        "spec.detectMultiplier",
        "greater than",
    ),
    (
        "BFD echo with IPv6 pool",
        "frr",
        [obj("BFDProfile", "b", {"echoMode": True}), peer("p", bfdProfile="b"), P4, bgp_ad("ad")],
        [obj("BFDProfile", "b", {"echoMode": True}), peer("p", bfdProfile="b"), P6, bgp_ad("ad")],
        "BGPAdvertisement metallb-system/ad",
        "spec.peers",
        "echo",
    ),
    (
        "native: bfdProfile",
        "native",
        [peer("p")],
        [peer("p", bfdProfile="b")],
        "BGPPeer metallb-system/p",
        "spec.bfdProfile",
        "native",
    ),
    (
        "native: keepalive",
        "native",
        [peer("p", keepaliveTime="0s")],
        [peer("p", keepaliveTime="30s")],
        "BGPPeer metallb-system/p",
        "spec.keepaliveTime",
        "native",
    ),
    (
        "native: vrf",
        "native",
        [peer("p")],
        [peer("p", vrf="red")],
        "BGPPeer metallb-system/p",
        "spec.vrf",
        "native",
    ),
    (
        "native: BFD profile object",
        "native",
        [],
        [obj("BFDProfile", "b", {})],
        "BFDProfile metallb-system/b",
        "",
        "bfd profiles section set",
    ),
    (
        "FRR: duplicate peer address",
        "frr",
        [peer("a"), peer("b", address="192.0.2.2")],
        [peer("a"), peer("b")],
        "BGPPeer metallb-system/b",
        "spec.peerAddress",
        "duplicate BGPPeers",
    ),
    (
        "FRR: different router IDs on a node",
        "frr",
        [
            N1,
            N2,
            peer("a", routerID="10.0.0.1", nodeSelectors=[{"matchLabels": {"zone": "a"}}]),
            peer(
                "b",
                "192.0.2.2",
                routerID="10.0.0.2",
                nodeSelectors=[{"matchLabels": {"zone": "b"}}],
            ),
        ],
        [N1, N2, peer("a", routerID="10.0.0.1"), peer("b", "192.0.2.2", routerID="10.0.0.2")],
        "BGPPeer metallb-system/b",
        "spec.routerID",
        "same RouterID",
    ),
    (
        "FRR: different myASN in a VRF",
        "frr",
        [peer("a"), peer("b", "192.0.2.2", myASN=64999, vrf="red")],
        [peer("a"), peer("b", "192.0.2.2", myASN=64999)],
        "BGPPeer metallb-system/b",
        "spec.myASN",
        "same myAsn",
    ),
    (
        "namespace",
        "native",
        [pool("a", "192.0.2.0/24")],
        [{**pool("a", "192.0.2.0/24"), "metadata": {"name": "a", "namespace": "default"}}],
        "IPAddressPool default/a",
        "metadata.namespace",
        "must be created in metallb-system",
    ),
]


@pytest.mark.parametrize(
    ("mode", "valid", "invalid", "who", "field", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in RULES],
)
def test_rule(
    mode: str, valid: list[Any], invalid: list[Any], who: str, field: str, reason: str
) -> None:
    """The valid case builds; the invalid one names the object, the field and the reason."""
    build_config(valid, bgp_type=mode, namespace="metallb-system")
    with pytest.raises(ConfigError) as exc:
        build_config(invalid, bgp_type=mode, namespace="metallb-system")
    matching = [p for p in exc.value.problems if str(p.ref) == who and p.field == field]
    assert matching, f"no problem for {who} {field}: {exc.value}"
    assert any(reason in p.reason for p in matching), str(exc.value)
    line = f"{who}: {field}: " if field else f"{who}: "
    assert line in str(exc.value)


def test_native_mode_accepts_ipv6_pools_and_large_communities() -> None:
    """A deliberate difference from upstream, whose native speaker refuses both: ours
    advertises IPv6 prefixes and large communities, so the configuration may ask for them
    (BFD, VRFs and the other FRR-only fields stay refused: see the native rows above)."""
    config = build_config(
        [P6, bgp_ad("ad", ipAddressPools=["p6"], communities=["large:1:2:3", "65000:1"])],
        bgp_type="native",
        namespace="metallb-system",
    )
    (ad,) = config.bgp_advertisements
    assert sorted(str(c) for c in ad.communities) == ["65000:1", "large:1:2:3"]
