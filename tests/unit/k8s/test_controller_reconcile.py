"""The controller's reconcile, in-process, on the API double (tests/unit/k8s/apidouble).

Beside tests/integration/controller, which run ``metallb controller`` as a process on
the real apiserver: here :class:`metallb.k8s.controller.Controller` runs on the test's
event loop, with its real informers, workqueue and runner, over a lightkube client whose
transport is the double. Each test drives it through the API only (create, patch,
delete objects) and reads the outcome from the API, as a user would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Service
from lightkube.types import PatchType

from metallb.k8s.config_state import ConfigurationState
from metallb.k8s.controller import Controller, IPAddressPool
from tests.unit.k8s.apidouble import ApiDouble

from .inproc import NS, configure, events, eventually, ingress, lb_service, namespaces, running

POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[ApiDouble, AsyncClient]]:
    """The double with the MetalLB and ``default`` namespaces; an admin client on it."""
    double = ApiDouble()
    client = double.client(field_manager="tests")
    await namespaces(client, NS, "default")
    yield double, client
    await client.close()


async def make_pool(client: AsyncClient, name: str, *addresses: str, **spec: Any) -> None:
    await configure(client, IPAddressPool, name, addresses=list(addresses), **spec)


def controller(double: ApiDouble) -> Controller:
    """A controller with a client of its own, as the process has."""
    return Controller(double.client(), namespace=NS)


@pytest.mark.asyncio
async def test_service_gets_an_ip_its_pool_annotation_and_an_event(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "basic", "192.0.2.0/29")
    ctl = controller(double)
    async with running(ctl.run(), "controller"):
        await client.create(lb_service("a"))
        assert await eventually("an IP for a", lambda: ingress(client, "a")) == ["192.0.2.0"]
        svc = await client.get(Service, "a", namespace="default")
        assert svc.metadata is not None
        assert (svc.metadata.annotations or {}).get(POOL_ANNOTATION) == "basic"
        allocated = ("Normal", "IPAllocated", 'Assigned IP ["192.0.2.0"]')

        async def has_event() -> bool:
            return allocated in await events(client, "a")

        await eventually("the IPAllocated Event", has_event)
        # One write through the status subresource carried the IP and the annotation.
        status_writes = [w for w in double.writes("services") if w.name == "a"]
        assert [(w.method, w.subresource) for w in status_writes] == [("PATCH", "status")]
        state = await client.get(ConfigurationState, "controller", namespace=NS)
        status: dict[str, Any] = state.get("status") or {}
        assert status.get("result") == "Valid"


@pytest.mark.asyncio
async def test_a_sharing_key_lets_compatible_services_share_and_no_one_else(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "shared", "192.0.2.8/30")
    shared = {"metallb.io/allow-shared-ip": "dns"}
    async with running(controller(double).run(), "controller"):
        await client.create(lb_service("dns-udp", annotations=shared, ports=((53, "UDP"),)))
        await client.create(lb_service("dns-tcp", annotations=shared, ports=((53, "TCP"),)))
        udp = await eventually("an IP for dns-udp", lambda: ingress(client, "dns-udp"))
        tcp = await eventually("an IP for dns-tcp", lambda: ingress(client, "dns-tcp"))
        assert udp == tcp == ["192.0.2.8"]
        # Without the key, the same IP is refused even on another port.
        await client.create(lb_service("other", ports=((53, "UDP"),)))
        assert await eventually("an IP for other", lambda: ingress(client, "other")) == [
            "192.0.2.9"
        ]
        await client.create(
            lb_service(
                "clash",
                annotations={"metallb.io/loadBalancerIPs": "192.0.2.8"},
                ports=((53, "TCP"),),
            )
        )
        failed = await eventually(
            "clash's AllocationFailed", lambda: events(client, "clash", "AllocationFailed")
        )
        event = failed[0]
        assert "default/dns-tcp" in event[2]
        assert await ingress(client, "clash") == []


@pytest.mark.asyncio
async def test_a_requested_ip_outside_every_pool_is_refused_with_a_warning(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "small", "192.0.2.0/30")
    async with running(controller(double).run(), "controller"):
        await client.create(
            lb_service("far", annotations={"metallb.io/loadBalancerIPs": "203.0.113.9"})
        )
        failed = await eventually(
            "an AllocationFailed Event", lambda: events(client, "far", "AllocationFailed")
        )
        event = failed[0]
        assert event[0] == "Warning"
        assert "203.0.113.9" in event[2]
        assert "is not allowed in config" in event[2]
        assert await ingress(client, "far") == []


@pytest.mark.asyncio
async def test_deleting_a_service_or_its_pool_releases_the_ip(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "one", "192.0.2.4/32")
    async with running(controller(double).run(), "controller"):
        await client.create(lb_service("first"))
        assert await eventually("first's IP", lambda: ingress(client, "first")) == ["192.0.2.4"]
        await client.create(lb_service("second"))
        await eventually(
            "second to be refused (the pool is full)",
            lambda: events(client, "second", "AllocationFailed"),
        )
        assert await ingress(client, "second") == []
        await client.delete(Service, "first", namespace="default")
        assert await eventually("second's IP", lambda: ingress(client, "second")) == ["192.0.2.4"]
        await client.delete(IPAddressPool, "one", namespace=NS)

        async def released() -> bool:
            return await ingress(client, "second") == []

        await eventually("second's IP to go with its pool", released)
        svc = await client.get(Service, "second", namespace="default")
        assert svc.metadata is not None
        assert POOL_ANNOTATION not in (svc.metadata.annotations or {})


@pytest.mark.asyncio
async def test_a_restarted_controller_moves_no_ip_and_writes_no_status(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "keep", "192.0.2.16/28")
    names = [f"s{i}" for i in range(6)]
    async with running(controller(double).run(), "controller-1"):
        for name in names:
            await client.create(lb_service(name))
        for name in names:
            await eventually(f"{name}'s IP", lambda n=name: ingress(client, n))  # type: ignore[misc]
    # The first controller is gone; a Service created meanwhile would take the lowest
    # IP of the pool if the restart handed out addresses before it knew who holds what.
    before = await held(client)
    await client.create(lb_service("newcomer"))
    writes_before = len(double.writes("services"))
    ctl = controller(double)
    async with running(ctl.run(), "controller-2"):
        newcomer = await eventually("newcomer's IP", lambda: ingress(client, "newcomer"))
        await eventually("the start-up pass", lambda: _true(ctl.ready.is_set()))
        after = await held(client)
        del after["newcomer"]
    assert after == before  # same IPs, and not one rewrite of them
    assert newcomer == ["192.0.2.22"]  # the first IP none of s0..s5 holds
    assert [w.name for w in double.writes("services")[writes_before:]] == ["newcomer"]


async def held(client: AsyncClient) -> dict[str, tuple[list[str], str]]:
    """Each Service's ingress IPs and resourceVersion."""
    out = {}
    async for svc in client.list(Service, namespace="default"):
        meta = svc.metadata
        assert meta is not None
        assert meta.name
        lb = svc.status.loadBalancer if svc.status else None
        ips = [i.ip for i in (lb.ingress if lb else None) or () if i.ip]
        out[meta.name] = (ips, meta.resourceVersion or "")
    return out


async def _true(value: bool) -> bool:
    return value


@pytest.mark.asyncio
async def test_a_service_that_stops_being_a_load_balancer_frees_its_ip(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "tiny", "192.0.2.32/32")
    async with running(controller(double).run(), "controller"):
        await client.create(lb_service("a"))
        assert await eventually("a's IP", lambda: ingress(client, "a")) == ["192.0.2.32"]
        await client.patch(
            Service,
            "a",
            {"spec": {"type": "ClusterIP"}},
            namespace="default",
            patch_type=PatchType.MERGE,
        )

        async def annotation_gone() -> bool:
            svc = await client.get(Service, "a", namespace="default")
            return svc.metadata is not None and POOL_ANNOTATION not in (
                svc.metadata.annotations or {}
            )

        await eventually("the pool annotation to go", annotation_gone)
        assert await ingress(client, "a") == []
        # The one IP of the pool is free again.
        await client.create(lb_service("b"))
        assert await eventually("b's IP", lambda: ingress(client, "b")) == ["192.0.2.32"]


@pytest.mark.asyncio
async def test_pool_status_counts_what_is_assigned(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "counted", "192.0.2.40/30", "2001:db8::/126")
    shared = {"metallb.io/allow-shared-ip": "k", "metallb.io/address-pool": "counted"}
    async with running(controller(double).run(), "controller"):
        await client.create(lb_service("x", annotations=shared, ports=((80, "TCP"),)))
        await client.create(lb_service("y", annotations=shared, ports=((443, "TCP"),)))
        await client.create(lb_service("z"))
        for name in ("x", "y", "z"):
            await eventually(f"{name}'s IP", lambda n=name: ingress(client, n))  # type: ignore[misc]
        want = {"assignedIPv4": 2, "assignedIPv6": 0, "availableIPv4": 2, "availableIPv6": 4}

        async def status() -> dict[str, Any] | None:
            pool = await client.get(IPAddressPool, "counted", namespace=NS)
            have: dict[str, Any] = pool.get("status") or {}
            return have if have == want else None

        # x and y share one IP: two distinct IPv4 addresses are assigned.
        assert await eventually("the pool's status", status) == want
        await client.delete(Service, "z", namespace="default")
        want = {**want, "assignedIPv4": 1, "availableIPv4": 3}
        assert await eventually("the pool's status after a delete", status) == want


@pytest.mark.asyncio
async def test_a_bad_pool_is_reported_and_the_last_good_configuration_kept(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await make_pool(client, "good", "192.0.2.48/31")
    ctl = controller(double)
    async with running(ctl.run(), "controller"):
        await client.create(lb_service("a"))
        assert await eventually("a's IP", lambda: ingress(client, "a")) == ["192.0.2.48"]
        # No webhook here: the double stores what the webhook would have refused.
        await make_pool(client, "bad", "not-an-address")

        async def invalid() -> dict[str, Any] | None:
            state = await client.get(ConfigurationState, "controller", namespace=NS)
            status: dict[str, Any] = state.get("status") or {}
            return status if status.get("result") == "Invalid" else None

        status = await eventually("the ConfigurationState to say Invalid", invalid)
        assert status is not None
        assert "bad" in status["errorSummary"]
        assert ctl.stats.config_stale
        # The last good pools still serve.
        await client.create(lb_service("b"))
        assert await eventually("b's IP", lambda: ingress(client, "b")) == ["192.0.2.49"]
