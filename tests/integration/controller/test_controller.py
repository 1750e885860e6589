"""`metallb controller` against the real apiserver, as its own ServiceAccount."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from lightkube import Client
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Service
from lightkube.types import PatchType

from metallb.lab.controlplane import ControlPlane
from tests.integration.controller.conftest import NS, Pool, make_pool

pytestmark = pytest.mark.controlplane
POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"


def lb_service(
    name: str,
    ns: str,
    lb_class: str | None,
    *,
    annotations: dict[str, str] | None = None,
    ports: tuple[tuple[int, str], ...] = ((80, "TCP"),),
    type_: str = "LoadBalancer",
) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=ns, annotations=annotations),
        spec=ServiceSpec(
            type=type_,
            loadBalancerClass=lb_class if type_ == "LoadBalancer" else None,
            ports=[
                ServicePort(port=p, protocol=proto, name=f"{proto.lower()}{p}")
                for p, proto in ports
            ],
        ),
    )


def ips_of(kube: Client, ns: str, name: str) -> list[str]:
    svc = kube.get(Service, name, namespace=ns)
    ingress = svc.status.loadBalancer.ingress if svc.status and svc.status.loadBalancer else None
    return [i.ip for i in ingress or [] if i.ip]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)


def wait_ips(kube: Client, ns: str, name: str, timeout: float = 30) -> list[str]:
    ips: list[str] = wait_for(f"an IP for {ns}/{name}", lambda: ips_of(kube, ns, name), timeout)
    return ips


def events_of(kube: Client, ns: str, name: str) -> list[tuple[str, str, str]]:
    return [
        (e.type or "", e.reason or "", e.message or "")
        for e in kube.list(Event, namespace=ns)
        if e.involvedObject.name == name and e.involvedObject.kind == "Service"
    ]


def test_allocation_behaves_as_upstream(
    kube: Client,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    """IP, pool annotation, event; requested IP; sharing; ignored Services; release."""
    make_pool(kube, pools, "ctl-basic", "198.51.100.0/29")
    make_pool(kube, pools, "ctl-manual", "198.51.100.8/29", autoAssign=False)
    start_controller("--webhook-mode=disabled")
    ns = namespace

    kube.create(lb_service("a", ns, lb_class))
    assert wait_ips(kube, ns, "a") == ["198.51.100.0"]
    a = kube.get(Service, "a", namespace=ns)
    assert a.metadata is not None
    assert a.metadata.annotations is not None
    assert a.metadata.annotations[POOL_ANNOTATION] == "ctl-basic"
    allocated = ("Normal", "IPAllocated", 'Assigned IP ["198.51.100.0"]')
    wait_for("the IPAllocated event", lambda: allocated in events_of(kube, ns, "a"))

    kube.create(
        lb_service("b", ns, lb_class, annotations={"metallb.io/loadBalancerIPs": "198.51.100.5"})
    )
    assert wait_ips(kube, ns, "b") == ["198.51.100.5"]

    kube.create(
        lb_service("m", ns, lb_class, annotations={"metallb.io/address-pool": "ctl-manual"})
    )
    assert wait_ips(kube, ns, "m") == ["198.51.100.8"]

    shared = {"metallb.io/allow-shared-ip": "dns", "metallb.io/loadBalancerIPs": "198.51.100.6"}
    kube.create(lb_service("dns-udp", ns, lb_class, annotations=shared, ports=((53, "UDP"),)))
    kube.create(lb_service("dns-tcp", ns, lb_class, annotations=shared, ports=((53, "TCP"),)))
    assert wait_ips(kube, ns, "dns-udp") == wait_ips(kube, ns, "dns-tcp") == ["198.51.100.6"]

    # Same port and protocol, no sharing key: the requested IP is refused with a reason.
    kube.create(
        lb_service(
            "clash",
            ns,
            lb_class,
            annotations={"metallb.io/loadBalancerIPs": "198.51.100.6"},
            ports=((53, "TCP"),),
        )
    )
    failed = wait_for(
        "an AllocationFailed event",
        lambda: [e for e in events_of(kube, ns, "clash") if e[1] == "AllocationFailed"],
    )
    # Upstream's wording: the IP is taken by Services this one may not share with.
    assert "address also in use by" in failed[0][2]
    assert f"{ns}/dns-tcp" in failed[0][2]
    assert ips_of(kube, ns, "clash") == []

    kube.create(lb_service("other-class", ns, "example.com/other"))
    kube.create(lb_service("internal", ns, None, type_="ClusterIP"))
    # Type change away from LoadBalancer: status and annotation go, the IP is free again.
    kube.patch(
        Service,
        "a",
        {"spec": {"type": "ClusterIP", "loadBalancerClass": None}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )

    def annotations(name: str) -> dict[str, str]:
        meta = kube.get(Service, name, namespace=ns).metadata
        return dict(meta.annotations or {}) if meta else {}

    wait_for("the pool annotation to be removed", lambda: POOL_ANNOTATION not in annotations("a"))
    kube.create(
        lb_service("c", ns, lb_class, annotations={"metallb.io/loadBalancerIPs": "198.51.100.0"})
    )
    assert wait_ips(kube, ns, "c") == ["198.51.100.0"]
    # By now the controller has seen the ignored Services; they got nothing.
    assert ips_of(kube, ns, "other-class") == []
    assert ips_of(kube, ns, "internal") == []
    assert events_of(kube, ns, "other-class") == []


def test_pool_status_counts_distinct_ips(
    kube: Client,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    """IPAddressPool.status is written by the controller from its counters."""
    make_pool(kube, pools, "ctl-status", "198.51.100.16/30")
    start_controller("--webhook-mode=disabled")
    for name in ("s1", "s2"):
        kube.create(lb_service(name, namespace, lb_class))
        wait_ips(kube, namespace, name)

    def status() -> dict[str, Any] | None:
        st = kube.get(Pool, "ctl-status", namespace=NS).get("status")
        return st if st and st.get("assignedIPv4") == 2 else None

    st = wait_for("pool status", status)
    assert st == {"assignedIPv4": 2, "assignedIPv6": 0, "availableIPv4": 2, "availableIPv6": 0}


def test_shrinking_a_pool_moves_services_and_says_why(
    kube: Client,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    """A Service whose IP leaves the pool gets a new IP from what remains, with events."""
    make_pool(kube, pools, "ctl-shrink", "198.51.100.32/28")
    start_controller("--webhook-mode=disabled")
    kube.create(
        lb_service(
            "far", namespace, lb_class, annotations={"metallb.io/address-pool": "ctl-shrink"}
        )
    )
    kube.create(
        lb_service(
            "pinned",
            namespace,
            lb_class,
            annotations={"metallb.io/loadBalancerIPs": "198.51.100.40"},
        )
    )
    assert wait_ips(kube, namespace, "far") == ["198.51.100.32"]
    assert wait_ips(kube, namespace, "pinned") == ["198.51.100.40"]
    kube.patch(
        Pool,
        "ctl-shrink",
        {"spec": {"addresses": ["198.51.100.32/30"]}},
        namespace=NS,
        patch_type=PatchType.MERGE,
    )
    # The requested IP is no longer in any pool: it loses it and the event says why.
    failed = wait_for(
        "the pinned Service to lose its IP",
        lambda: [
            e
            for e in events_of(kube, namespace, "pinned")
            if e[1] == "AllocationFailed" and "198.51.100.40" in e[2]
        ],
    )
    assert "is not allowed in config" in failed[0][2]
    assert ips_of(kube, namespace, "pinned") == []
    assert ips_of(kube, namespace, "far") == ["198.51.100.32"]


def test_restart_changes_no_ip_and_writes_nothing(
    kube: Client,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    """1,000 Services with IPs: a restarted controller keeps every IP and writes no status.

    The documentation ranges hold 768 IPv4 addresses, so the Services share IPs four by
    four (one sharing key, four ports): the restart must also rebuild the sharing."""
    make_pool(kube, pools, "ctl-restart", "203.0.113.0/24", "198.51.100.128/25")
    first = start_controller("--webhook-mode=disabled")
    count = 1000
    for i in range(count):
        kube.create(
            lb_service(
                f"r{i}",
                namespace,
                lb_class,
                annotations={"metallb.io/allow-shared-ip": f"k{i // 4}"},
                ports=((8000 + i % 4, "TCP"),),
            )
        )
    wait_for(
        "every Service to get an IP",
        lambda: all(
            s.status and s.status.loadBalancer and s.status.loadBalancer.ingress
            for s in kube.list(Service, namespace=namespace)
        ),
        timeout=180,
        every=1.0,  # listing 1,000 Services is itself load on the apiserver
    )
    before = {
        s.metadata.name: (s.status.loadBalancer.ingress[0].ip, s.metadata.resourceVersion)
        for s in kube.list(Service, namespace=namespace)
        if s.metadata and s.status and s.status.loadBalancer and s.status.loadBalancer.ingress
    }
    assert len(before) == count
    assert len({ip for ip, _ in before.values()}) == count // 4
    first.kill()  # no graceful shutdown: a crash
    # A newcomer created while the controller is down must not take anyone's IP.
    kube.create(lb_service("newcomer", namespace, lb_class))
    start_controller("--webhook-mode=disabled")
    newcomer = wait_ips(kube, namespace, "newcomer", timeout=120)
    after = {
        s.metadata.name: (s.status.loadBalancer.ingress[0].ip, s.metadata.resourceVersion)
        for s in kube.list(Service, namespace=namespace)
        if s.metadata
        and s.status
        and s.status.loadBalancer
        and s.status.loadBalancer.ingress
        and s.metadata.name != "newcomer"
    }
    assert after == before  # same IPs, and not even a rewrite of the same values
    assert newcomer[0] not in {ip for ip, _ in before.values()}


def test_apiserver_restart_is_survived(
    kube: Client,
    control_plane: ControlPlane,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    """The controller reconnects on its own after the apiserver restarts; no IP moves."""
    make_pool(kube, pools, "ctl-apirestart", "198.51.100.48/28")
    start_controller("--webhook-mode=disabled")
    for name in ("x", "y"):
        kube.create(lb_service(name, namespace, lb_class))
    before = {n: wait_ips(kube, namespace, n) for n in ("x", "y")}
    control_plane.restart("kube-apiserver")
    kube.create(lb_service("z", namespace, lb_class))
    z = wait_ips(kube, namespace, "z", timeout=90)
    assert {n: ips_of(kube, namespace, n) for n in ("x", "y")} == before
    assert z[0] not in {ip for ips in before.values() for ip in ips}
