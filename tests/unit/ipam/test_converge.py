"""Converging Services (requests, annotations, reload, restart) and extracting requests."""

from __future__ import annotations

from typing import Any

import pytest

from metallb.ipam import (
    Allocator,
    FamilyPolicy,
    Pool,
    Port,
    ServiceAllocation,
    converge,
    is_handled,
    plan,
    pool_from_strings,
    processing_order,
    release,
    request_from_service,
)
from metallb.views import Service as View

from .helpers import DUAL_CLUSTER, ips, req, tcp

P1 = pool_from_strings("p1", ["192.168.1.0/30"])
P2 = pool_from_strings("p2", ["192.168.2.0/30", "2001:db8::/126"])
MANUAL = pool_from_strings("manual", ["192.168.9.0/30"], auto_assign=False)


def _alloc(*pools: Pool) -> Allocator:
    a = Allocator()
    a.set_pools(pools or (P1, P2, MANUAL))
    return a


@pytest.mark.parametrize(
    ("kw", "ips_out", "error"),
    [
        pytest.param({}, "192.168.1.0", None, id="automatic"),
        pytest.param({"want": ("192.168.2.3",)}, "192.168.2.3", None, id="requested ip"),
        pytest.param({"want": ("192.168.9.1",)}, "192.168.9.1", None, id="requested in manual"),
        pytest.param({"pool": "manual"}, "192.168.9.0", None, id="annotation pool"),
        pytest.param({"pool": "nope"}, "", 'unknown pool "nope"', id="unknown pool"),
        pytest.param(
            {"want": ("10.1.1.1",)}, "", '["10.1.1.1"] is not allowed in config', id="outside"
        ),
        pytest.param(
            {"want": ("192.168.2.1",), "pool": "p1"},
            "",
            'requested loadBalancer IP(s) ["192.168.2.1"] is not compatible with requested '
            "address pool p1",
            id="ip and pool disagree",
        ),
        pytest.param(
            {"want": ("2001:db8::1",)},
            "",
            'requested loadBalancer IP(s) ["2001:db8::1"] does not match the ipFamily of the '
            "service",
            id="family mismatch",
        ),
        pytest.param(
            {"cluster": ()}, "", "the Service has no clusterIP", id="no cluster ip (own text)"
        ),
        pytest.param(
            {"policy": FamilyPolicy.REQUIRE_DUAL_STACK},
            "",
            "Service requires dual stack but not enough clusterips [10.96.0.10]",
            id="require dual with one clusterIP",
        ),
        pytest.param(
            {"cluster": DUAL_CLUSTER, "policy": FamilyPolicy.PREFER_DUAL_STACK},
            "192.168.2.0 2001:db8::",
            None,
            id="prefer dual picks the dual pool",
        ),
    ],
)
def test_converge_new_service(kw: dict[str, Any], ips_out: str, error: str | None) -> None:
    """A new Service: requested IPs, pool annotation, automatic, and upstream's errors."""
    result = converge(_alloc(), req("s", **kw))
    assert " ".join(map(str, result.ips)) == ips_out
    assert result.error == error
    if error is None:
        assert result.events[-1].reason == "IPAllocated"
    elif "clusterips" not in error and "clusterIP" not in error:
        assert result.events[-1].message == f'Failed to allocate IP for "default/s": {error}'


def test_requested_ip_error_with_current_ip_keeps_it() -> None:
    """A bad requested IP on a Service that holds an IP: LoadBalancerFailed, IP kept."""
    a = _alloc()
    svc = req("s", status=("192.168.1.0",))
    svc = svc.__class__(
        **{**_fields(svc), "requested_ips_error": 'invalid spec.loadBalancerIP "x"'}
    )
    result = converge(a, svc)
    assert result.ips == ips("192.168.1.0")
    assert result.events[-1].reason == "LoadBalancerFailed"
    assert result.error == 'invalid requested loadbalancer IPs: invalid spec.loadBalancerIP "x"'


def _fields(r: Any) -> dict[str, Any]:
    return {k: getattr(r, k) for k in r.__dataclass_fields__ if k != "key"}


def test_status_ip_kept_then_changed_request_moves_it() -> None:
    """A status IP is re-assigned; a different requested IP or pool replaces it."""
    a = _alloc()
    assert converge(a, req("s", status=("192.168.1.2",))).ips == ips("192.168.1.2")
    moved = converge(a, req("s", status=("192.168.1.2",), want=("192.168.1.3",)))
    assert moved.ips == ips("192.168.1.3")
    repooled = converge(a, req("s", status=("192.168.1.3",), pool="manual"))
    assert (repooled.ips, repooled.pool) == (ips("192.168.9.0"), "manual")
    # As upstream: no reprocess, since the Service holds an IP again (same allocation key).
    assert not repooled.reprocess_all


def test_status_ip_not_allowed_any_more_is_replaced() -> None:
    """ClearAssignment when the status IP is outside every pool, then a new IP."""
    result = converge(_alloc(), req("s", status=("10.5.5.5",)))
    assert [e.reason for e in result.events] == ["ClearAssignment", "IPAllocated"]
    assert result.events[0].message == (
        'current IP for "default/s" not allowed by config, will attempt for new IP '
        'assignment: ["10.5.5.5"] is not allowed in config'
    )
    assert result.ips == ips("192.168.1.0")


def test_not_load_balancer_and_no_pools_clear() -> None:
    """Non-LoadBalancer Services lose their IP silently; no pools at all strips IPs."""
    a = _alloc()
    converge(a, req("s"))
    gone = converge(
        a,
        req("s", status=("192.168.1.0",)).__class__(
            **{**_fields(req("s", status=("192.168.1.0",))), "load_balancer": False}
        ),
    )
    assert (gone.ips, gone.error, gone.reprocess_all) == ((), None, True)
    a.set_pools([])
    assert converge(a, req("t")).error == "no IPAddressPool is configured"


def test_prefer_dual_stack_adds_second_family_only_with_two_cluster_ips() -> None:
    """PreferDualStack holding one IP gets the other family from the same pool."""
    a = _alloc()
    dual = req("s", cluster=DUAL_CLUSTER, policy=FamilyPolicy.PREFER_DUAL_STACK)
    held = dual.__class__(**{**_fields(dual), "status_ips": ("192.168.2.1",)})
    result = converge(a, held)
    assert result.ips == ips("192.168.2.1", "2001:db8::")
    assert result.events[-1].message == 'Assigned additional IP "2001:db8::"'
    single = req("t", policy=FamilyPolicy.PREFER_DUAL_STACK, status=("192.168.2.2",))
    assert converge(a, single).ips == ips("192.168.2.2")


def test_reload_then_converge_releases_and_keeps() -> None:
    """After a namespace restriction, the outsider is moved and the insider kept."""
    a = _alloc(P1)
    converge(a, req("in", ns="team"))
    converge(a, req("out"))
    a.set_pools(
        [
            pool_from_strings(
                "p1",
                ["192.168.1.0/30"],
                allocation=ServiceAllocation(namespaces=frozenset({"team"})),
            ),
            pool_from_strings("p9", ["192.168.99.0/30"]),
        ]
    )
    assert converge(a, req("in", ns="team", status=("192.168.1.0",))).ips == ips("192.168.1.0")
    out = converge(a, req("out", status=("192.168.1.1",)))
    assert out.ips == ips("192.168.99.0")
    assert out.events[0].message.endswith("pool p1 not compatible for ip assignment")


def test_release_frees_for_others() -> None:
    """Deleting a Service frees its IP and asks for a reprocess."""
    a = _alloc(pool_from_strings("one", ["192.168.1.7/32"]))
    converge(a, req("a"))
    assert converge(a, req("b")).error == "no available IPs"
    assert release(a, req("a").key) is True
    assert release(a, req("a").key) is False
    assert converge(a, req("b")).ips == ips("192.168.1.7")


@pytest.mark.parametrize(
    ("statuses", "order"),
    [
        pytest.param([(), ("1.1.1.1",), ("1.1.1.2", "::1")], [2, 1, 0], id="two, one, none"),
        pytest.param([("1.1.1.1",), (), ("1.1.1.2",)], [0, 2, 1], id="ties keep input order"),
        pytest.param([(), ()], [0, 1], id="none hold"),
    ],
)
def test_processing_order(statuses: list[tuple[str, ...]], order: list[int]) -> None:
    """Services holding more status IPs are processed first; ties in input order."""
    reqs = [req(f"s{i}", status=s) for i, s in enumerate(statuses)]
    assert [r.name for r in processing_order(reqs)] == [f"s{i}" for i in order]


def test_plan_restart_keeps_status_holders() -> None:
    """A later Service holding an IP in status keeps it over earlier newcomers."""
    pool = pool_from_strings("p", ["192.168.1.0/31"])
    result = plan([pool], [req("new"), req("old", status=("192.168.1.0",)), req("late")])
    got = {r.name: (tuple(map(str, c.ips)), c.error) for r, c in result.services}
    assert got == {
        "new": (("192.168.1.1",), None),
        "old": (("192.168.1.0",), None),
        "late": ((), "no available IPs"),
    }
    assert result.pools["p"].assigned_ipv4 == 2


def test_plan_is_deterministic_and_two_claims_on_one_ip() -> None:
    """Two Services claiming one IP: the first processed keeps it; reruns agree."""
    pool = pool_from_strings("p", ["192.168.1.0/30"])
    reqs = [req("a", status=("192.168.1.1",)), req("b", status=("192.168.1.1",))]
    first = plan([pool], reqs)
    assert [tuple(map(str, c.ips)) for _, c in first.services] == [
        ("192.168.1.1",),
        ("192.168.1.0",),
    ]
    assert plan([pool], reqs) == first


def _svc(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.5", **spec},
    }


@pytest.mark.parametrize(
    ("annotations", "spec", "wanted", "error"),
    [
        pytest.param({}, {}, (), None, id="nothing"),
        pytest.param({}, {"loadBalancerIP": "192.0.2.1"}, ("192.0.2.1",), None, id="spec"),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "192.0.2.1, 2001:db8::1"},
            {},
            ("192.0.2.1", "2001:db8::1"),
            None,
            id="annotation dual, trimmed",
        ),
        pytest.param(
            {"metallb.universe.tf/loadBalancerIPs": "192.0.2.9"},
            {},
            ("192.0.2.9",),
            None,
            id="deprecated honoured",
        ),
        pytest.param(
            {
                "metallb.io/loadBalancerIPs": "192.0.2.1",
                "metallb.universe.tf/loadBalancerIPs": "192.0.2.9",
            },
            {},
            ("192.0.2.1",),
            None,
            id="stable wins",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "", "metallb.universe.tf/loadBalancerIPs": "192.0.2.9"},
            {},
            (),
            None,
            id="stable present but empty still wins",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "192.0.2.1"},
            {"loadBalancerIP": "192.0.2.2"},
            (),
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
            id="both",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "192.0.2.1,nope"},
            {},
            (),
            'invalid metallb.io/loadBalancerIPs: "192.0.2.1,nope"',
            id="bad annotation",
        ),
        pytest.param(
            {}, {"loadBalancerIP": "nope"}, (), 'invalid spec.loadBalancerIP "nope"', id="bad spec"
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "192.0.2.1,192.0.2.2"},
            {},
            (),
            'IPFamilyForAddresses: same address family ["192.0.2.1" "192.0.2.2"]',
            id="same family",
        ),
    ],
)
def test_requested_ips_extraction(
    annotations: dict[str, str], spec: dict[str, Any], wanted: tuple[str, ...], error: str | None
) -> None:
    """Requested IPs: annotation vs spec, stable vs deprecated, upstream's errors."""
    r = request_from_service(View.from_dict(_svc(annotations, **spec)))
    assert tuple(map(str, r.requested_ips)) == wanted
    assert r.requested_ips_error == error


def test_request_fields_extraction() -> None:
    """Keys, ports, families, backend key, status and deprecated annotations."""
    service = _svc(
        {
            "metallb.universe.tf/allow-shared-ip": "old",
            "metallb.io/allow-shared-ip": "",
            "metallb.universe.tf/address-pool": "legacy",
        },
        clusterIPs=["10.96.0.5", "fd00::5"],
        ipFamilyPolicy="RequireDualStack",
        ipFamilies=["IPv6", "IPv4"],
        ports=[{"port": 53, "protocol": "UDP"}, {"port": 80}],
        externalTrafficPolicy="Local",
        selector={"tier": "fe", "app": "web"},
    )
    service["status"] = {"loadBalancer": {"ingress": [{"hostname": "x"}, {"ip": "192.0.2.4"}]}}
    service["metadata"]["labels"] = {"team": "a"}
    r = request_from_service(View.from_dict(service), {"env": "prod"})
    assert r.key == "shop/web"
    assert r.cluster_ips == ("10.96.0.5", "fd00::5")
    assert r.ip_family_policy is FamilyPolicy.REQUIRE_DUAL_STACK
    assert r.ip_families == ("IPv6", "IPv4")
    assert r.ports == (Port("UDP", 53), *tcp(80))
    assert r.sharing_key == ""  # stable key present, even empty, wins
    assert r.requested_pool == "legacy"
    assert r.backend_key == "app=web,tier=fe"
    assert r.status_ips == ("192.0.2.4",)
    assert (r.labels, r.namespace_labels) == ({"team": "a"}, {"env": "prod"})
    assert r.deprecated_annotations == (
        "metallb.universe.tf/address-pool",
        "metallb.universe.tf/allow-shared-ip",
    )
    assert (
        request_from_service(
            View.from_dict(_svc(externalTrafficPolicy="Cluster", selector={"a": "b"}))
        ).backend_key
        == ""
    )
    assert request_from_service(View.from_dict(_svc(type="ClusterIP"))).load_balancer is False


@pytest.mark.parametrize(
    ("cls", "flag", "handled"),
    [
        pytest.param(None, "", True, id="no class, no flag"),
        pytest.param(None, "mine", False, id="no class, flag"),
        pytest.param("other", "", False, id="class, no flag"),
        pytest.param("mine", "mine", True, id="matching class"),
        pytest.param("other", "mine", False, id="other class"),
    ],
)
def test_is_handled(cls: str | None, flag: str, handled: bool) -> None:
    """loadBalancerClass filtering as upstream's --lb-class."""
    spec: dict[str, Any] = {} if cls is None else {"loadBalancerClass": cls}
    assert is_handled(View.from_dict(_svc(None, **spec)), flag) is handled
