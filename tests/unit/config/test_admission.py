"""The webhook's decision: each rule of upstream's admission behaviour, allowed and refused."""

from __future__ import annotations

from typing import Any

import pytest

from metallb.config.admission import admit

NS = "metallb-system"


def obj(
    kind: str, name: str, spec: dict[str, Any], *, ns: str = NS, api: str = "metallb.io/v1beta1"
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def pool(name: str, *addresses: str, ns: str = NS) -> dict[str, Any]:
    return obj("IPAddressPool", name, {"addresses": list(addresses)}, ns=ns)


def peer(name: str, **spec: Any) -> dict[str, Any]:
    base = {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"}
    return obj("BGPPeer", name, {**base, **spec}, api="metallb.io/v1beta2")


EXISTING = [
    pool("a", "192.0.2.0/28"),
    obj("BFDProfile", "fast", {}),
    peer("router", bfdProfile="fast"),
]


@pytest.mark.parametrize(
    ("kind", "op", "incoming", "allowed", "says"),
    [
        pytest.param(
            "IPAddressPool",
            "CREATE",
            pool("b", "192.0.2.16/28"),
            True,
            "",
            id="disjoint pool accepted",
        ),
        pytest.param(
            "IPAddressPool",
            "CREATE",
            pool("b", "192.0.2.8/29"),
            False,
            "overlaps",
            id="overlapping pool refused",
        ),
        pytest.param(
            "IPAddressPool",
            "CREATE",
            pool("b", "192.0.2.300/32"),
            False,
            "invalid",
            id="bad CIDR refused",
        ),
        pytest.param(
            "IPAddressPool",
            "UPDATE",
            pool("a", "192.0.2.0/27"),
            True,
            "",
            id="an update replaces its own old version",
        ),
        pytest.param(
            "IPAddressPool",
            "CREATE",
            pool("b", "198.51.100.0/24", ns="default"),
            False,
            "must be created in metallb-system namespace",
            id="wrong namespace refused",
        ),
        pytest.param(
            "L2Advertisement",
            "CREATE",
            obj("L2Advertisement", "l2", {"ipAddressPools": ["a", "a"]}),
            False,
            "ipAddressPools",
            id="duplicate pool in L2 advertisement",
        ),
        pytest.param(
            "BGPPeer",
            "CREATE",
            peer("p2", bfdProfile="missing"),
            True,
            "",
            id="unknown BFD profile left to runtime",
        ),
        pytest.param(
            "BGPPeer",
            "CREATE",
            peer("p2", holdTime="1s"),
            False,
            "hold",
            id="bad hold time refused",
        ),
        pytest.param(
            "BGPPeer",
            "CREATE",
            peer("p2", disableMP=True, holdTime="1s"),
            True,
            "",
            id="disableMP create skips validation as upstream",
        ),
        pytest.param(
            "BGPAdvertisement",
            "CREATE",
            obj("BGPAdvertisement", "ad", {"communities": ["not-yet-defined"]}),
            True,
            "",
            id="community alias left to runtime",
        ),
        pytest.param(
            "BGPAdvertisement",
            "CREATE",
            obj("BGPAdvertisement", "ad", {"communities": ["65535:notanumber"]}),
            False,
            "communit",
            id="bad community value refused",
        ),
        pytest.param(
            "BFDProfile",
            "DELETE",
            obj("BFDProfile", "fast", {}),
            False,
            "failed to delete BFDProfile fast, used by BGPPeer router",
            id="BFD profile in use cannot be deleted",
        ),
        pytest.param(
            "BFDProfile",
            "DELETE",
            obj("BFDProfile", "slow", {}),
            True,
            "",
            id="unused BFD profile can be deleted",
        ),
        pytest.param(
            "IPAddressPool",
            "DELETE",
            pool("a", "192.0.2.0/28"),
            True,
            "",
            id="other deletions always allowed",
        ),
    ],
)
def test_admission(kind: str, op: str, incoming: dict[str, Any], allowed: bool, says: str) -> None:
    """Each upstream admission rule holds, with a message naming what is wrong."""
    verdict = admit(kind, op, incoming, EXISTING, namespace=NS)
    assert verdict.allowed is allowed, verdict.message
    assert says in verdict.message


def test_disable_mp_warns() -> None:
    """The deprecated field is let through with a warning the user sees."""
    verdict = admit("BGPPeer", "CREATE", peer("p", disableMP=True), [], namespace=NS)
    assert verdict.allowed
    # webhookv1beta2 validatePeerCreate's warning, word for word.
    assert verdict.warnings == (
        "disable mp is deprecated and has no effect since it's the default behavior now",
    )


def test_v1beta1_peer_is_reviewed_as_v1beta2() -> None:
    """An object sent in the old version is converted before the rules run."""
    old = obj(
        "BGPPeer",
        "p",
        {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1", "holdTime": "1s"},
    )
    verdict = admit("BGPPeer", "CREATE", old, [], namespace=NS)
    assert not verdict.allowed
    assert "hold" in verdict.message


def test_native_mode_rejects_frr_only_field_but_frr_mode_accepts() -> None:
    """The BGP mode selects which rules apply, as METALLB_BGP_TYPE does upstream."""
    incoming = peer("p", vrf="red")
    assert not admit("BGPPeer", "CREATE", incoming, [], namespace=NS).allowed
    assert admit("BGPPeer", "CREATE", incoming, [], namespace=NS, bgp_type="frr").allowed
