"""The typed views of Services, EndpointSlices and Nodes: what each field reads from the
API's dict, and that missing or null fields read as empty, as the API allows."""

from __future__ import annotations

from typing import Any

import pytest

from metallb import views


def test_service_fields_from_a_full_object() -> None:
    obj = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"metallb.io/address-pool": "p"},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "example.com/lb",
            "clusterIPs": ["10.96.0.5", "fd00::5"],
            "clusterIP": "10.96.0.5",
            "ipFamilies": ["IPv4", "IPv6"],
            "ipFamilyPolicy": "RequireDualStack",
            "externalTrafficPolicy": "Local",
            "selector": {"app": "web"},
            "loadBalancerIP": "192.0.2.1",
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 80}],
        },
        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}, {"ip": "192.0.2.1"}]}},
    }
    svc = views.Service.from_dict(obj)
    assert (svc.key, svc.type, svc.load_balancer_class) == (
        "shop/web",
        "LoadBalancer",
        "example.com/lb",
    )
    assert svc.is_load_balancer
    assert svc.local_traffic_policy
    assert svc.cluster_ips == ("10.96.0.5", "fd00::5")
    assert (svc.ip_families, svc.ip_family_policy) == (("IPv4", "IPv6"), "RequireDualStack")
    assert (dict(svc.labels), dict(svc.selector)) == ({"app": "web"}, {"app": "web"})
    assert dict(svc.annotations) == {"metallb.io/address-pool": "p"}
    assert svc.load_balancer_ip == "192.0.2.1"
    assert svc.ports == (views.ServicePort("UDP", 53), views.ServicePort("TCP", 80))
    # Every entry is kept (a hostname one as ""), the IPs alone in ingress_ips.
    assert svc.ingress == ("", "192.0.2.1")
    assert svc.ingress_ips == ("192.0.2.1",)


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"metadata": None, "spec": None, "status": None},
        {"metadata": {"labels": None}, "spec": {"ports": None}, "status": {"loadBalancer": None}},
        {"status": {"loadBalancer": {"ingress": None}}},
    ],
)
def test_service_missing_fields_read_as_empty(obj: dict[str, Any]) -> None:
    svc = views.Service.from_dict(obj)
    assert svc == views.Service()
    assert (svc.namespace, svc.name, svc.load_balancer_class) == ("default", "", None)
    assert not svc.is_load_balancer
    assert svc.ingress_ips == ()


def test_cluster_ip_stands_in_for_cluster_ips_and_an_empty_class_is_a_class() -> None:
    svc = views.Service.from_dict({"spec": {"clusterIP": "10.96.0.1", "loadBalancerClass": ""}})
    assert svc.cluster_ips == ("10.96.0.1",)
    assert svc.load_balancer_class == ""


def test_views_are_frozen() -> None:
    svc = views.Service.from_dict({"metadata": {"labels": {"a": "b"}}})
    with pytest.raises(AttributeError):
        svc.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        svc.labels["a"] = "c"  # type: ignore[index]


def _slice(ns: str | None, service: str | None, *endpoints: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "s"}
    if ns is not None:
        meta["namespace"] = ns
    if service is not None:
        meta["labels"] = {views.SERVICE_NAME_LABEL: service}
    return {"metadata": meta, "endpoints": list(endpoints)}


def test_endpoint_slices_group_by_their_service() -> None:
    ep = {"addresses": ["10.0.0.1"], "nodeName": "n1", "conditions": {"ready": True}}
    slices = [
        _slice("shop", "web", ep),
        _slice(None, "web", {"nodeName": "n2"}),  # no namespace: default
        _slice("shop", None, ep),  # no Service's
        _slice("shop", "web", {"nodeName": "n3", "conditions": {"terminating": True}}),
    ]
    by_service = views.endpoints_by_service(views.EndpointSlice.from_dict(s) for s in slices)
    assert set(by_service) == {"shop/web", "default/web"}
    first, second = by_service["shop/web"]
    assert (first.node_name, first.ready, first.addresses) == ("n1", True, ("10.0.0.1",))
    assert (second.node_name, second.ready, second.terminating) == ("n3", None, True)
    assert by_service["default/web"] == (views.Endpoint("n2"),)


@pytest.mark.parametrize(
    ("ready", "serving", "can_serve"),
    [
        (None, None, True),  # unset ready counts as ready
        (True, None, True),
        (False, None, False),
        (False, True, True),  # terminating but still serving
        (False, False, False),
    ],
)
def test_endpoint_readiness(ready: bool | None, serving: bool | None, can_serve: bool) -> None:
    assert views.Endpoint("n1", ready, serving).can_serve is can_serve


def test_serving_filters_by_readiness_and_node() -> None:
    eps = [
        views.Endpoint("n1", False),
        views.Endpoint("n1", True),
        views.Endpoint("n2", None),
        views.Endpoint(None, True),
    ]
    assert list(views.serving(eps)) == eps[1:]
    assert list(views.serving(eps, "n1")) == [eps[1]]
    assert list(views.serving(eps, "n3")) == []


def test_endpoint_equality_leaves_out_addresses() -> None:
    """The election compares Services: an address change alone moves nothing."""
    assert views.Endpoint("n1", True, None, ("10.0.0.1",)) == views.Endpoint("n1", True)


def test_node_network_unavailable_and_labels() -> None:
    node = views.Node.from_dict(
        {
            "metadata": {"name": "n1", "labels": {"zone": "a"}},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False"},
                    {"type": "NetworkUnavailable", "status": "True"},
                ]
            },
        }
    )
    assert node == views.Node("n1", {"zone": "a"}, network_unavailable=True)
    ok = views.Node.from_dict(
        {"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "NetworkUnavailable"}]}}
    )
    assert ok == views.Node("n2")
    assert not ok.network_unavailable
    assert views.Node.from_dict({}) == views.Node("")
