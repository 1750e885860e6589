"""The generated CRDs on the real apiserver: installed, printed as upstream, enforced."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta

from metallb.lab.controlplane import ControlPlane
from tests.integration.test_controlplane import kubectl

pytestmark = pytest.mark.controlplane

Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")
BGPAd = create_namespaced_resource("metallb.io", "v1beta1", "BGPAdvertisement", "bgpadvertisements")
BFD = create_namespaced_resource("metallb.io", "v1beta1", "BFDProfile", "bfdprofiles")
Peer = create_namespaced_resource("metallb.io", "v1beta2", "BGPPeer", "bgppeers")


def _meta(name: str, ns: str) -> ObjectMeta:
    return ObjectMeta(name=name, namespace=ns)


@pytest.mark.usefixtures("metallb_crds")
def test_printer_columns_match_upstream(
    control_plane: ControlPlane, kube: Client, namespace: str
) -> None:
    """`kubectl get ipaddresspools` shows upstream's columns and the defaults the schema set."""
    kube.create(Pool(metadata=_meta("p", namespace), spec={"addresses": ["192.0.2.0/28"]}))
    out = kubectl(control_plane, "get", "ipaddresspools", "-n", namespace)
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "AUTO", "ASSIGN", "AVOID", "BUGGY", "IPS", "ADDRESSES"]
    assert row.split()[:3] == ["p", "true", "false"]
    kube.create(
        Peer(
            metadata=_meta("r", namespace),
            spec={"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"},
        )
    )
    header, row = kubectl(control_plane, "get", "bgppeers.metallb.io", "-n", namespace).splitlines()
    assert header.split() == ["NAME", "ADDRESS", "ASN", "BFD", "PROFILE", "MULTI", "HOPS"]
    assert row.split() == ["r", "192.0.2.1", "64501"]


@pytest.mark.usefixtures("metallb_crds")
def test_schema_defaults_are_applied(kube: Client, namespace: str) -> None:
    """Defaults come from the CRD schema, as upstream: a bare peer gets port 179."""
    kube.create(
        Peer(
            metadata=_meta("r", namespace),
            spec={"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"},
        )
    )
    got = kube.get(Peer, "r", namespace=namespace)
    assert got["spec"]["peerPort"] == 179
    ad = kube.create(BGPAd(metadata=_meta("a", namespace), spec={}))
    assert (ad["spec"]["aggregationLength"], ad["spec"]["aggregationLengthV6"]) == (32, 128)


@pytest.mark.usefixtures("metallb_crds")
@pytest.mark.parametrize(
    ("resource", "spec", "says"),
    [
        pytest.param(Pool, {}, "addresses", id="pool without addresses"),
        pytest.param(Pool, {"addresses": "192.0.2.0/28"}, "addresses", id="addresses not a list"),
        pytest.param(
            BGPAd, {"aggregationLength": 0}, "aggregationLength", id="aggregation length below 1"
        ),
        pytest.param(
            BGPAd,
            {"aggregationLength": 24, "serviceSelectors": [{"matchLabels": {"a": "b"}}]},
            "mutually exclusive",
            id="CEL: selectors with aggregation",
        ),
        pytest.param(BFD, {"receiveInterval": 5}, "receiveInterval", id="BFD interval too small"),
        pytest.param(
            Peer,
            {"myASN": 64500, "peerAddress": "192.0.2.1", "connectTime": "0.5s"},
            "connect time",
            id="CEL: connect time below a second",
        ),
    ],
)
def test_schema_invalid_objects_are_refused_by_the_apiserver(
    kube: Client, namespace: str, resource: Any, spec: dict[str, Any], says: str
) -> None:
    """The apiserver itself (not our webhook) refuses what the schema forbids."""
    with pytest.raises(ApiError) as refused:
        kube.create(resource(metadata=_meta("bad", namespace), spec=spec))
    assert refused.value.status.code == 422
    assert says in (refused.value.status.message or "")


def test_all_kinds_are_served(control_plane: ControlPlane, metallb_crds: list[str]) -> None:
    """Every kind answers `kubectl get` through discovery, by its plural name."""
    for name in metallb_crds:
        # kubectl fails (and so does this test) when discovery does not know the kind;
        # objects other tests left behind must be of this kind.
        out = kubectl(control_plane, "get", name, "-A", "-o", "name")
        singular = name.split(".")[0].removesuffix("es").removesuffix("s")
        assert all(line.startswith(singular[:8]) for line in out.splitlines()), out
    assert len(metallb_crds) == 9
