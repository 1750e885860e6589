"""The API double against the apiserver's behaviours (apidouble/behaviours.py), and what only
the double can be made to do on cue: compaction (410 and a relist) and bookmarks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Service

from metallb.k8s.informer import Informer
from metallb.k8s.source import EventType, LightkubeListWatch
from tests.unit.k8s.apidouble import ApiDouble
from tests.unit.k8s.apidouble.behaviours import CHECKS, Check, lb

from .inproc import eventually, namespaces, running

NS = "t"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[ApiDouble, AsyncClient]]:
    double = ApiDouble()
    client = double.client(field_manager="tests")
    await namespaces(client, NS)
    yield double, client
    await client.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_behaves_as_the_apiserver(api: tuple[ApiDouble, AsyncClient], check: Check) -> None:
    await check(api[1], NS)


@pytest.mark.asyncio
async def test_compaction_makes_the_informer_relist_and_see_the_deletion(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    await client.create(lb("gone", NS, "ClusterIP"))
    informer: Informer[Service] = Informer(LightkubeListWatch(client, Service, namespace=NS))
    seen: list[tuple[EventType, str]] = []
    informer.add_handler(lambda e, k: seen.append((e, k)))
    async with running(informer.run(), "informer"):
        await informer.has_synced.wait()
        # The informer stops watching; meanwhile a deletion happens and the history of it
        # is compacted away: its next watch gets 410 and only a relist can tell.
        double.store.close_watches()
        await client.delete(Service, "gone", namespace=NS)
        double.store.compact()
        await eventually("the relist", lambda: _is(informer.lists >= 2))
        await eventually("the deletion", lambda: _is((EventType.DELETED, f"{NS}/gone") in seen))
    assert informer.expired >= 1


@pytest.mark.asyncio
async def test_a_bookmark_moves_the_informer_resource_version(
    api: tuple[ApiDouble, AsyncClient],
) -> None:
    double, client = api
    informer: Informer[Service] = Informer(LightkubeListWatch(client, Service, namespace=NS))
    async with running(informer.run(), "informer"):
        await informer.has_synced.wait()
        listed = int(informer.resource_version)
        await namespaces(client, "elsewhere")  # moves the revision, not a Service
        await eventually("the watch to open", lambda: _is(bool(double.store.watches)))
        double.store.bookmark()
        await eventually("the bookmark's RV", lambda: _is(int(informer.resource_version) > listed))


async def _is(value: bool) -> bool:
    await asyncio.sleep(0)
    return value
