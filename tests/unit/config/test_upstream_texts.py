"""Reason texts an external suite greps: upstream MetalLB's, word for word.

Each row names the upstream function the text comes from. Where we add context
upstream does not give (which other object conflicts), it follows upstream's text in
parentheses, so the upstream text is always a prefix of our reason.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.gotext import go_quote

from .helpers import NS, bgp_ad, l2_ad, node, obj, peer, pool

SECRET_OPAQUE = {
    "apiVersion": "v1",
    "kind": "Secret",
    "type": "Opaque",
    "metadata": {"name": "pw", "namespace": NS},
    "data": {"password": "c2VjcmV0"},
}
DUP_VALUE = {"matchExpressions": [{"key": "k", "operator": "In", "values": ["b", "a", "b"]}]}

# (id, mode, objects, object, field, upstream text)
TEXTS: list[tuple[str, str, list[Any], str, str, str]] = [
    (
        # parseAddressPool, with ParseCIDR's error
        "invalid CIDR",
        "frr",
        [pool("p", "10.0.0.0/33")],
        "IPAddressPool metallb-system/p",
        "spec.addresses[0]",
        'invalid CIDR "10.0.0.0/33" in pool "p": invalid CIDR "10.0.0.0/33"',
    ),
    (
        # ParseCIDR (ranges)
        "range start after end",
        "frr",
        [pool("p", "192.0.2.9-192.0.2.1")],
        "IPAddressPool metallb-system/p",
        "spec.addresses[0]",
        'invalid CIDR "192.0.2.9-192.0.2.1" in pool "p": invalid IP range '
        '"192.0.2.9-192.0.2.1": start IP "192.0.2.9" is after the end IP "192.0.2.1"',
    ),
    (
        # validateBGPAdvPerPool (upstream's e2e test greps this one)
        "aggregation length vs pool",
        "frr",
        [pool("p", "1.1.1.0/28"), bgp_ad("ad", aggregationLength=26)],
        "BGPAdvertisement metallb-system/ad",
        "spec.aggregationLength",
        "invalid aggregation length 26: prefix 28 in this pool is more specific than the "
        "aggregation length for addresses 1.1.1.0/28",
    ),
    (
        # validateBGPAdvPerPool (typo "preferernce" is upstream's)
        "localPref conflict",
        "frr",
        [
            node("n1"),
            pool("p", "198.51.100.0/24"),
            bgp_ad("a1", localPref=100),
            bgp_ad("a2", localPref=200),
        ],
        "BGPAdvertisement metallb-system/a2",
        "spec.localPref",
        "invalid local preference 200: local preferernce 100 was already set for the same "
        "type of BGP update. Check existing BGP advertisements with common pools and "
        "aggregation lengths",
    ),
    (
        # addressPoolServiceAllocationsFromCR
        "duplicate namespace",
        "frr",
        [pool("p", "198.51.100.0/24", serviceAllocation={"namespaces": ["a", "a"]})],
        "IPAddressPool metallb-system/p",
        "spec.serviceAllocation.namespaces[1]",
        "duplicate definition in namespaces field",
    ),
    (
        # validateLabelSelectorMatchExpressions -> validateDuplicate
        "duplicate match expression value",
        "frr",
        [l2_ad("l2", nodeSelectors=[DUP_VALUE])],
        "L2Advertisement metallb-system/l2",
        "spec.nodeSelectors[0]",
        'duplicate definition of match expression value in label selector "b"',
    ),
    (
        # validateDuplicate(crdAd.Spec.Communities, "community")
        "duplicate community",
        "frr",
        [bgp_ad("ad", communities=["1:1", "1:1"])],
        "BGPAdvertisement metallb-system/ad",
        "spec.communities[1]",
        'duplicate definition of community "1:1"',
    ),
    (
        # communitiesFromCrs, with community.New's error
        "community alias value",
        "frr",
        [obj("Community", "c", {"communities": [{"name": "x", "value": "1:y"}]})],
        "Community metallb-system/c",
        "spec.communities[0].value",
        'parsing community "x": invalid community value: invalid section "y" of community '
        '"1:y", err: "strconv.ParseUint: parsing \\"y\\": invalid syntax"',
    ),
    (
        # parseTimers
        "hold time too short",
        "frr",
        [peer("p", holdTime="1s")],
        "BGPPeer metallb-system/p",
        "spec.holdTime",
        'invalid hold time "1s": must be 0 or >=3s',
    ),
    (
        # parseTimers
        "keepalive above hold time",
        "frr",
        [peer("p", holdTime="3s", keepaliveTime="10s")],
        "BGPPeer metallb-system/p",
        "spec.keepaliveTime",
        'invalid keepaliveTime "10s", must be lower than holdTime "3s"',
    ),
    (
        # passwordFromSecretForPeer
        "secret of the wrong type",
        "frr",
        [SECRET_OPAQUE, peer("p", passwordSecret={"name": "pw"})],
        "BGPPeer metallb-system/p",
        "spec.passwordSecret",
        'secret type mismatch on "metallb-system"/"pw", type "kubernetes.io/basic-auth" '
        "is expected",
    ),
    (
        # DiscardFRROnly
        "native: vrf",
        "native",
        [peer("p", vrf="red")],
        "BGPPeer metallb-system/p",
        "spec.vrf",
        "peer 192.0.2.1 has vrf set on native bgp mode",
    ),
    (
        # DiscardFRROnly
        "native: BFD profile",
        "native",
        [obj("BFDProfile", "b", {})],
        "BFDProfile metallb-system/b",
        "",
        "bfd profiles section set",
    ),
    (
        # peersCanRunOnSameNode
        "FRR: duplicate peer",
        "frr",
        [peer("a"), peer("b")],
        "BGPPeer metallb-system/b",
        "spec.peerAddress",
        "peer 192.0.2.1 already exists, FRR mode doesn't support duplicate BGPPeers "
        "selecting the same node",
    ),
]


@pytest.mark.parametrize(
    ("mode", "objects", "who", "field", "text"),
    [pytest.param(*row[1:], id=row[0]) for row in TEXTS],
)
def test_upstream_text(mode: str, objects: list[Any], who: str, field: str, text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_config(objects, bgp_type=mode, namespace=NS)
    reasons = [p.reason for p in exc.value.problems if str(p.ref) == who and p.field == field]
    assert any(r == text or r.startswith(text + " (") for r in reasons), str(exc.value)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("p", '"p"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("é", '"é"'),
        ("\u200b", '"\\u200b"'),
        (ipaddress.ip_address("192.0.2.1"), '"192.0.2.1"'),
        (26, '"26"'),
    ],
)
def test_go_quote(value: object, quoted: str) -> None:
    """Go's strconv.Quote, as %q renders a string (or a Stringer's String())."""
    assert go_quote(value) == quoted
