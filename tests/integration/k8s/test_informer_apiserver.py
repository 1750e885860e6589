"""The informer against the real kube-apiserver: events, sync, bookmarks, relist diffs, CRDs."""

from __future__ import annotations

import asyncio
import uuid

import httpx2
import pytest
from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.apiextensions_v1 import (
    CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion,
    CustomResourceValidation,
    JSONSchemaProps,
)
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Node, Service

from metallb.k8s.cache import namespace_index
from metallb.k8s.informer import Informer
from metallb.k8s.source import EventType, LightkubeListWatch, decode_watch_line

from .helpers import WAIT, EventLog, running

pytestmark = pytest.mark.controlplane


def service(name: str, namespace: str) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=ServiceSpec(ports=[ServicePort(port=80)]),
    )


def service_informer(
    client: AsyncClient, namespace: str | None
) -> tuple[Informer[Service], EventLog]:
    informer = Informer(
        LightkubeListWatch(client, Service, namespace=namespace),
        name="services",
        indexers={"namespace": namespace_index},
    )
    log = EventLog()
    informer.add_handler(log)
    return informer, log


@pytest.mark.asyncio
async def test_informer_sees_creates_updates_and_deletes(
    akube: AsyncClient, namespace: str
) -> None:
    """has_synced comes after the initial list; then ADDED, MODIFIED, DELETED keys arrive."""
    await akube.create(service("before", namespace))
    informer, log = service_informer(akube, namespace)
    assert not informer.has_synced.is_set()
    async with running(informer):
        await asyncio.wait_for(informer.has_synced.wait(), WAIT)
        assert informer.cache.keys() == [f"{namespace}/before"]
        assert log.seen == [(EventType.ADDED, f"{namespace}/before")]

        key = f"{namespace}/web"
        await akube.create(service("web", namespace))
        await log.wait_for(EventType.ADDED, key)
        await akube.patch(
            Service, "web", {"metadata": {"labels": {"tier": "front"}}}, namespace=namespace
        )
        await log.wait_for(EventType.MODIFIED, key)
        cached = informer.cache.get(key)
        assert cached is not None
        assert cached.metadata is not None
        assert cached.metadata.labels == {"tier": "front"}
        await akube.delete(Service, "web", namespace=namespace)
        await log.wait_for(EventType.DELETED, key)
        assert key not in informer.cache
    assert informer.lists == 1, "no relist was needed"


@pytest.mark.asyncio
async def test_all_namespaces_informer_indexes_by_namespace(
    akube: AsyncClient, namespace: str
) -> None:
    """namespace=None watches every namespace; the namespace index finds this test's objects."""
    informer, log = service_informer(akube, None)
    async with running(informer):
        await asyncio.wait_for(informer.has_synced.wait(), WAIT)
        await akube.create(service("a", namespace))
        await akube.create(service("b", namespace))
        await log.wait_for(EventType.ADDED, f"{namespace}/b")
        await log.wait_for(EventType.ADDED, f"{namespace}/a")
        assert informer.cache.index_keys("namespace", namespace) == [
            f"{namespace}/a",
            f"{namespace}/b",
        ]
        assert "default/kubernetes" in informer.cache, "other namespaces are cached too"


@pytest.mark.asyncio
async def test_cluster_scoped_nodes_by_label_selector(akube: AsyncClient) -> None:
    """A cluster-scoped kind keys by name; a label selector limits what is cached."""
    tag = uuid.uuid4().hex[:8]
    name = f"node-{tag}"
    informer = Informer(
        LightkubeListWatch(akube, Node, label_selector=f"metallb-test={tag}"), name="nodes"
    )
    log = EventLog()
    informer.add_handler(log)
    async with running(informer):
        await asyncio.wait_for(informer.has_synced.wait(), WAIT)
        assert len(informer.cache) == 0
        await akube.create(Node(metadata=ObjectMeta(name=name, labels={"metallb-test": tag})))
        try:
            await log.wait_for(EventType.ADDED, name)
        finally:
            await akube.delete(Node, name)
        await log.wait_for(EventType.DELETED, name)
        assert informer.cache.keys() == []


@pytest.mark.asyncio
async def test_relist_reports_deletion_missed_while_not_watching(
    akube: AsyncClient, namespace: str
) -> None:
    """With no watch running, a deleted object comes out of the next relist as DELETED."""
    await akube.create(service("stays", namespace))
    await akube.create(service("goes", namespace))
    informer, log = service_informer(akube, namespace)
    await asyncio.wait_for(informer.relist(), WAIT)
    first_rv = informer.resource_version
    await akube.delete(Service, "goes", namespace=namespace)
    await akube.create(service("new", namespace))
    log.seen.clear()
    await asyncio.wait_for(informer.relist(), WAIT)
    assert log.seen == [
        (EventType.DELETED, f"{namespace}/goes"),
        (EventType.ADDED, f"{namespace}/new"),
    ]
    assert informer.cache.keys() == [f"{namespace}/new", f"{namespace}/stays"]
    assert int(informer.resource_version) > int(first_rv)


@pytest.mark.asyncio
async def test_real_bookmark_updates_the_informer_rv(akube: AsyncClient, namespace: str) -> None:
    """The server accepts our bookmark request, and a BOOKMARK it sends moves the informer's RV.

    Periodic bookmarks come about once a minute; a watch that also asks for
    the initial events (``sendInitialEvents``) gets one at once, marking their
    end, so this test sees a real BOOKMARK without waiting.
    """
    await akube.create(service("one", namespace))
    source = LightkubeListWatch(akube, Service, namespace=namespace)
    informer = Informer(source, name="services")
    base = source.watch_request("", 30)
    assert base.url.params["allowWatchBookmarks"] == "true"
    request = httpx2.Request(
        base.method,
        base.url.copy_merge_params(
            {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}
        ),
        headers=base.headers,
        extensions=base.extensions,
    )
    types: list[EventType] = []

    async def read_until_bookmark() -> None:
        # The test reaches the httpx client behind lightkube, as the source does.
        async with akube._client._client.stream(
            request.method, request.url, headers=request.headers
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                event = decode_watch_line(line, Service)
                informer.apply(event)
                types.append(event.type)
                if event.type is EventType.BOOKMARK:
                    assert informer.resource_version == event.resource_version
                    assert event.resource_version
                    return

    await asyncio.wait_for(read_until_bookmark(), WAIT)
    assert types == [EventType.ADDED, EventType.BOOKMARK]
    assert informer.cache.keys() == [f"{namespace}/one"]


@pytest.mark.asyncio
async def test_generic_custom_resource(akube: AsyncClient, namespace: str) -> None:
    """A CRD's objects (lightkube generic resources) are listed, watched and keyed the same way."""
    group = f"g{uuid.uuid4().hex[:8]}.metallb-py.test"
    crd = CustomResourceDefinition(
        metadata=ObjectMeta(name=f"widgets.{group}"),
        spec=CustomResourceDefinitionSpec(
            group=group,
            scope="Namespaced",
            names=CustomResourceDefinitionNames(kind="Widget", plural="widgets"),
            versions=[
                CustomResourceDefinitionVersion(
                    name="v1",
                    served=True,
                    storage=True,
                    schema=CustomResourceValidation(
                        openAPIV3Schema=JSONSchemaProps(
                            type="object", x_kubernetes_preserve_unknown_fields=True
                        )
                    ),
                )
            ],
        ),
    )
    await akube.create(crd)
    try:
        await akube.wait(
            CustomResourceDefinition, f"widgets.{group}", for_conditions=["Established"]
        )
        widget = create_namespaced_resource(group, "v1", "Widget", "widgets")
        informer = Informer(LightkubeListWatch(akube, widget, namespace=namespace), name="w")
        log = EventLog()
        informer.add_handler(log)
        async with running(informer):
            await asyncio.wait_for(informer.has_synced.wait(), WAIT)
            await akube.create(
                widget(metadata=ObjectMeta(name="w1", namespace=namespace), spec={"size": 3})
            )
            await log.wait_for(EventType.ADDED, f"{namespace}/w1")
            cached = informer.cache.get(f"{namespace}/w1")
            assert cached is not None
            assert cached["spec"] == {"size": 3}
            await akube.delete(widget, "w1", namespace=namespace)
            await log.wait_for(EventType.DELETED, f"{namespace}/w1")
    finally:
        await akube.delete(CustomResourceDefinition, f"widgets.{group}")
