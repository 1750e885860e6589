"""What the API double must do as the kube-apiserver does, as checks runnable on both.

Each check takes a lightkube ``AsyncClient`` and an existing namespace, and asserts one
behaviour the controller or the speaker relies on. tests/unit/k8s/test_apidouble.py runs
them on the double; tests/integration/k8s/test_apidouble_matches.py runs the very same
functions on the real apiserver, so a check that passes here and fails there shows the
double lying.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import (
    LoadBalancerIngress,
    LoadBalancerStatus,
    ServicePort,
    ServiceSpec,
    ServiceStatus,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Service
from lightkube.types import PatchType

from metallb.k8s.source import EventType, LightkubeListWatch

Check = Callable[[AsyncClient, str], Awaitable[None]]
Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")
L2Status = create_namespaced_resource(
    "metallb.io", "v1beta1", "ServiceL2Status", "servicel2statuses"
)
MERGE = PatchType.MERGE


def lb(name: str, ns: str, type_: str = "LoadBalancer") -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=ns),
        spec=ServiceSpec(type=type_, ports=[ServicePort(port=80)]),
    )


def pool(name: str, ns: str, status: dict[str, Any] | None = None) -> Any:
    meta = ObjectMeta(name=name, namespace=ns)
    return Pool(metadata=meta, spec={"addresses": ["192.0.2.0/28"]}, status=status)


POOL_STATUS = {"assignedIPv4": 1, "assignedIPv6": 0, "availableIPv4": 15, "availableIPv6": 0}


async def failure(call: Awaitable[Any]) -> tuple[int, str, str]:
    """The (code, reason, message) of the ApiError ``call`` raises."""
    with pytest.raises(ApiError) as info:
        await call
    status = info.value.status
    return status.code or 0, status.reason or "", status.message or ""


# -- the checks -----------------------------------------------------------------------
async def create_stamps_and_defaults_a_service(client: AsyncClient, ns: str) -> None:
    body = lb("a", ns)
    body.status = ServiceStatus(
        loadBalancer=LoadBalancerStatus(ingress=[LoadBalancerIngress(ip="192.0.2.9")])
    )
    svc = await client.create(body)
    meta, spec = svc.metadata, svc.spec
    assert meta is not None
    assert spec is not None
    assert meta.uid
    assert meta.creationTimestamp is not None
    assert meta.resourceVersion
    assert meta.generation is None  # core Services have none
    assert spec.clusterIP
    assert spec.clusterIPs == [spec.clusterIP]
    assert (spec.ipFamilies, spec.ipFamilyPolicy) == (["IPv4"], "SingleStack")
    assert spec.externalTrafficPolicy == "Cluster"
    ports = spec.ports or []
    assert ports[0].protocol == "TCP"
    assert ports[0].nodePort
    # status is a subresource: a create cannot set it.
    assert svc.status is not None
    assert svc.status.loadBalancer is not None
    assert not svc.status.loadBalancer.ingress


async def a_write_moves_the_resource_version_and_a_no_op_does_not(
    client: AsyncClient, ns: str
) -> None:
    created = await client.create(lb("a", ns))
    patch = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    first = await client.patch(Service.Status, "a", patch, namespace=ns, patch_type=MERGE)
    again = await client.patch(Service.Status, "a", patch, namespace=ns, patch_type=MERGE)
    assert created.metadata
    assert first.metadata
    assert again.metadata
    assert int(first.metadata.resourceVersion or 0) > int(created.metadata.resourceVersion or 0)
    assert again.metadata.resourceVersion == first.metadata.resourceVersion


async def service_status_takes_annotations_and_ignores_spec(client: AsyncClient, ns: str) -> None:
    await client.create(lb("a", ns))
    patch = {
        "metadata": {"annotations": {"x": "y"}},
        "spec": {"sessionAffinity": "ClientIP"},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    }
    svc = await client.patch(Service.Status, "a", patch, namespace=ns, patch_type=MERGE)
    assert svc.metadata is not None
    assert svc.spec is not None
    assert (svc.metadata.annotations or {}).get("x") == "y"
    assert svc.spec.sessionAffinity == "None"
    assert svc.status
    assert svc.status.loadBalancer
    assert svc.status.loadBalancer.ingress
    assert svc.status.loadBalancer.ingress[0].ipMode == "VIP"  # defaulted
    # And the main endpoint ignores status.
    cleared: dict[str, Any] = {
        "status": {"loadBalancer": {"ingress": None}},
        "metadata": {"labels": {"l": "v"}},
    }
    kept = await client.patch(Service, "a", cleared, namespace=ns, patch_type=MERGE)
    assert kept.status
    assert kept.status.loadBalancer
    assert kept.status.loadBalancer.ingress


async def leaving_load_balancer_clears_ingress_and_node_ports(client: AsyncClient, ns: str) -> None:
    await client.create(lb("a", ns))
    patch = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    await client.patch(Service.Status, "a", patch, namespace=ns, patch_type=MERGE)
    svc = await client.patch(
        Service, "a", {"spec": {"type": "ClusterIP"}}, namespace=ns, patch_type=MERGE
    )
    assert svc.spec is not None
    assert svc.status is not None
    assert svc.status.loadBalancer is not None
    assert not svc.status.loadBalancer.ingress
    assert (svc.spec.ports or [])[0].nodePort is None
    assert svc.spec.externalTrafficPolicy is None


async def custom_resources_default_count_generations_and_split_status(
    client: AsyncClient, ns: str
) -> None:
    created = await client.create(pool("p", ns, dict(POOL_STATUS)))
    assert created.metadata is not None
    assert created.metadata.generation == 1
    assert created.get("status") is None  # a create cannot set status
    spec: dict[str, Any] = created.get("spec") or {}
    assert (spec.get("autoAssign"), spec.get("avoidBuggyIPs")) == (True, False)  # CRD defaults
    patch = {
        "status": POOL_STATUS,
        "spec": {"autoAssign": False},
        "metadata": {"labels": {"a": "b"}},
    }
    st = await client.patch(Pool.Status, "p", patch, namespace=ns, patch_type=MERGE)
    assert st.metadata is not None
    assert st.get("status") == POOL_STATUS
    assert (st.get("spec") or {}).get("autoAssign") is True  # /status takes status only
    assert not st.metadata.labels
    assert st.metadata.generation == 1
    main: dict[str, Any] = {
        "status": {**POOL_STATUS, "assignedIPv4": 9},
        "spec": {"autoAssign": False},
    }
    whole = await client.patch(Pool, "p", main, namespace=ns, patch_type=MERGE)
    assert whole.metadata is not None
    assert whole.get("status") == POOL_STATUS  # the main endpoint ignores status
    assert (whole.get("spec") or {}).get("autoAssign") is False
    assert whole.metadata.generation == 2


async def errors_are_the_apiservers(client: AsyncClient, ns: str) -> None:
    await client.create(lb("a", ns))
    assert await failure(client.get(Service, "zz", namespace=ns)) == (
        404,
        "NotFound",
        'services "zz" not found',
    )
    assert await failure(client.create(lb("a", ns))) == (
        409,
        "AlreadyExists",
        'services "a" already exists',
    )
    assert await failure(client.create(lb("a", f"{ns}-missing"))) == (
        404,
        "NotFound",
        f'namespaces "{ns}-missing" not found',
    )
    stale = {"metadata": {"resourceVersion": "1", "labels": {"a": "b"}}}
    code, reason, message = await failure(
        client.patch(Service, "a", stale, namespace=ns, patch_type=MERGE)
    )
    assert (code, reason) == (409, "Conflict")
    assert "the object has been modified" in message
    svc = await client.get(Service, "a", namespace=ns)
    assert svc.metadata is not None
    svc.metadata.resourceVersion = "1"
    assert (await failure(client.replace(svc)))[:2] == (409, "Conflict")
    assert (await failure(client.delete(Service, "zz", namespace=ns)))[:2] == (404, "NotFound")
    await client.create(pool("p", ns))
    label = {"metadata": {"labels": {"a": "b"}}}
    strategic = client.patch(Pool, "p", label, namespace=ns, patch_type=PatchType.STRATEGIC)
    assert (await failure(strategic))[:2] == (415, "UnsupportedMediaType")


async def generate_name_and_namespace_label(client: AsyncClient, ns: str) -> None:
    obj = await client.create(
        L2Status(metadata=ObjectMeta(generateName="l2-", namespace=ns), spec={})
    )
    assert obj.metadata is not None
    assert obj.metadata.name
    assert obj.metadata.name.startswith("l2-")
    assert len(obj.metadata.name) == len("l2-") + 5
    namespace = await client.get(Namespace, ns)
    assert namespace.metadata is not None
    assert (namespace.metadata.labels or {}).get("kubernetes.io/metadata.name") == ns


async def lists_page_and_select(client: AsyncClient, ns: str) -> None:
    for name in ("a", "b", "c"):
        svc = lb(name, ns, "ClusterIP")
        assert svc.metadata is not None
        svc.metadata.labels = {"tier": "web" if name != "b" else "db"}
        await client.create(svc)
    names = [
        s.metadata.name
        async for s in client.list(Service, namespace=ns, chunk_size=2)
        if s.metadata
    ]
    assert names == ["a", "b", "c"]
    web = [
        s.metadata.name
        async for s in client.list(Service, namespace=ns, labels={"tier": "web"})
        if s.metadata
    ]
    assert web == ["a", "c"]
    named = [
        s.metadata.name
        async for s in client.list(Service, namespace=ns, fields={"metadata.name": "b"})
        if s.metadata
    ]
    assert named == ["b"]


async def a_watch_from_a_list_sees_every_later_change_in_order(
    client: AsyncClient, ns: str
) -> None:
    source = LightkubeListWatch(client, Service, namespace=ns)
    await client.create(lb("before", ns, "ClusterIP"))
    items, rv = await source.list()
    assert [o.metadata.name for o in items if o.metadata] == ["before"]
    await client.create(lb("a", ns, "ClusterIP"))
    await client.patch(
        Service, "a", {"metadata": {"labels": {"x": "y"}}}, namespace=ns, patch_type=MERGE
    )
    await client.delete(Service, "before", namespace=ns)
    seen: list[tuple[EventType, str, int]] = []
    stream = source.watch(rv, 5)
    async for event in stream:
        assert event.object is not None
        assert event.object.metadata is not None
        seen.append((event.type, str(event.object.metadata.name), int(event.resource_version)))
        if len(seen) == 3:
            break
    await stream.aclose()
    assert [(t, n) for t, n, _ in seen] == [
        (EventType.ADDED, "a"),
        (EventType.MODIFIED, "a"),
        (EventType.DELETED, "before"),
    ]
    rvs = [r for _, _, r in seen]
    assert rvs == sorted(rvs)
    assert rvs[0] > int(rv)
    assert len(set(rvs)) == 3  # a deletion has a resourceVersion of its own


CHECKS: tuple[Check, ...] = (
    create_stamps_and_defaults_a_service,
    a_write_moves_the_resource_version_and_a_no_op_does_not,
    service_status_takes_annotations_and_ignores_spec,
    leaving_load_balancer_clears_ingress_and_node_ports,
    custom_resources_default_count_generations_and_split_status,
    errors_are_the_apiservers,
    generate_name_and_namespace_label,
    lists_page_and_select,
    a_watch_from_a_list_sees_every_later_change_in_order,
)
