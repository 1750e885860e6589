"""Helpers for running the controller and the speaker in-process on the API double.

Waits are bounded polls on a condition (:func:`eventually`, :func:`never_within`): a
loaded machine only makes them slower, never wrong, and no sleep stands for an
assertion.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from lightkube import AsyncClient
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Namespace, Service

T = TypeVar("T")
WAIT = 30.0  # a bound against hangs, not a measurement
POLL = 0.01
NS = "metallb-system"


async def eventually(what: str, probe: Callable[[], Awaitable[T]], within: float = WAIT) -> T:
    """``await probe()`` until it returns something truthy; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {value!r}")
        await asyncio.sleep(POLL)


@asynccontextmanager
async def running(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coro`` as a task for the block; cancel it after, re-raising what it raised."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        if isinstance(results[0], Exception):
            raise results[0]


async def namespaces(client: AsyncClient, *names: str) -> None:
    for name in names:
        await client.create(Namespace(metadata=ObjectMeta(name=name)))


async def configure(client: AsyncClient, res: Any, name: str, **spec: Any) -> None:
    """Create the metallb.io object ``name`` of resource ``res`` in the MetalLB namespace."""
    await client.create(res(metadata=ObjectMeta(name=name, namespace=NS), spec=spec))


def lb_service(
    name: str,
    ns: str = "default",
    *,
    annotations: dict[str, str] | None = None,
    ports: tuple[tuple[int, str], ...] = ((80, "TCP"),),
    policy: str | None = None,
) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=ns, annotations=annotations),
        spec=ServiceSpec(
            type="LoadBalancer",
            externalTrafficPolicy=policy,
            ports=[
                ServicePort(port=p, protocol=proto, name=f"{proto.lower()}{p}")
                for p, proto in ports
            ],
        ),
    )


async def ingress(client: AsyncClient, name: str, ns: str = "default") -> list[str]:
    svc = await client.get(Service, name, namespace=ns)
    lb = svc.status.loadBalancer if svc.status else None
    return [i.ip for i in (lb.ingress if lb else None) or () if i.ip]


async def events(
    client: AsyncClient, name: str, reason: str = "", ns: str = "default"
) -> list[tuple[str, str, str]]:
    """The Events recorded about Service ``ns/name`` (with ``reason`` if given):
    (type, reason, message)."""
    return [
        (e.type or "", e.reason or "", e.message or "")
        async for e in client.list(Event, namespace=ns)
        if e.involvedObject.name == name
        and e.involvedObject.kind == "Service"
        and (not reason or e.reason == reason)
    ]
