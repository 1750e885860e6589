"""Small builders of metallb.io dicts for the configuration tests."""

from __future__ import annotations

from typing import Any

NS = "metallb-system"


def obj(kind: str, name: str, spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    api = "metallb.io/v1beta2" if kind == "BGPPeer" else "metallb.io/v1beta1"
    out: dict[str, Any] = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, **meta},
    }
    if spec is not None:
        out["spec"] = spec
    return out


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    return obj("IPAddressPool", name, {"addresses": list(addresses), **spec})


def peer(name: str, address: str = "192.0.2.1", **spec: Any) -> dict[str, Any]:
    return obj("BGPPeer", name, {"myASN": 64500, "peerASN": 64501, "peerAddress": address, **spec})


def bgp_ad(name: str, **spec: Any) -> dict[str, Any]:
    return obj("BGPAdvertisement", name, spec)


def l2_ad(name: str, **spec: Any) -> dict[str, Any]:
    return obj("L2Advertisement", name, spec)


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
