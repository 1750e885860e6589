"""`metallb plan` fills `bgp`: the advertising nodes and their peers per Service, `[]` when
nobody advertises, null without a BGPAdvertisement; --down-node and node selectors apply."""

from __future__ import annotations

from typing import Any

from metallb.plan.core import plan_objects

NS = "metallb-system"


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = "metallb.io/v1beta2" if kind == "BGPPeer" else "metallb.io/v1beta1"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", **spec},
    }


def endpoints(service: str, *nodes: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": service},
        },
        "endpoints": [
            {"nodeName": n, "addresses": [f"10.0.0.{i + 1}"], "conditions": {"ready": True}}
            for i, n in enumerate(nodes)
        ],
    }


OBJECTS = [
    obj("IPAddressPool", "bgp", {"addresses": ["198.51.100.0/28"]}),
    obj("IPAddressPool", "l2only", {"addresses": ["192.0.2.0/28"], "autoAssign": False}),
    obj("BGPPeer", "tor-a", {"myASN": 64512, "peerASN": 64512, "peerAddress": "192.0.2.254"}),
    obj(
        "BGPPeer",
        "tor-b",
        {
            "myASN": 64512,
            "peerASN": 64513,
            "peerAddress": "192.0.2.253",
            "nodeSelectors": [{"matchLabels": {"rack": "b"}}],
        },
    ),
    obj(
        "BGPAdvertisement",
        "ads",
        {"ipAddressPools": ["bgp"], "nodeSelectors": [{"matchLabels": {"bgp": "yes"}}]},
    ),
    obj("L2Advertisement", "l2", {"ipAddressPools": ["l2only"]}),
    node("n3", bgp="yes", rack="b"),
    node("n1", bgp="yes", rack="a"),
    node("n2", rack="a"),
    service("cluster"),
    service("local", externalTrafficPolicy="Local"),
    service("nobody", externalTrafficPolicy="Local"),
    service("l2", **{"loadBalancerIP": "192.0.2.5"}),
    endpoints("cluster", "n2"),
    endpoints("local", "n3", "n2"),
    endpoints("l2", "n2"),
]


def bgp_by_name(down: tuple[str, ...] = ()) -> dict[str, Any]:
    doc = plan_objects(OBJECTS, down_nodes=down).to_json()
    return {s["name"]: s["bgp"] for s in doc["services"]}


def test_bgp_lists_advertising_nodes_and_their_peers_sorted() -> None:
    """Cluster policy: every selected node (n1, n3; not n2) with the peers it has
    sessions with; Local: only n3 hosts an endpoint; no endpoint on a selected node: []."""
    got = bgp_by_name()
    assert got["cluster"] == [
        {"node": "n1", "peers": ["tor-a"]},
        {"node": "n3", "peers": ["tor-a", "tor-b"]},
    ]
    assert got["local"] == [{"node": "n3", "peers": ["tor-a", "tor-b"]}]
    assert got["nobody"] == []
    assert got["l2"] is None


def test_down_nodes_do_not_advertise() -> None:
    """--down-node removes the node from every Service's list."""
    got = bgp_by_name(down=("n3",))
    assert got["cluster"] == [{"node": "n1", "peers": ["tor-a"]}]
    assert got["local"] == []
