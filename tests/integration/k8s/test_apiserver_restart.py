"""The informer survives a kube-apiserver restart and loses no deletion across it.

These tests restart the session's shared apiserver. ``ControlPlane.restart``
returns only once ``/readyz`` answers again, so the next test finds a healthy
server; each test also checks that the admin client works at its end.

A restarted apiserver rebuilds its watch cache from etcd at the current
resourceVersion, so a watch resumed from an RV older than that is answered
with a real ``410 Gone`` ("too old resource version"): the path where
lightkube's own watch would silently drop deletions.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator

import pytest
from lightkube import AsyncClient
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace, Service

from metallb.k8s.backoff import JitteredBackoff
from metallb.k8s.informer import Informer
from metallb.k8s.source import EventType, LightkubeListWatch, WatchEvent
from metallb.lab.controlplane import ControlPlane

from .helpers import WAIT, EventLog, running

pytestmark = pytest.mark.controlplane


def service(name: str, namespace: str) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=ServiceSpec(ports=[ServicePort(port=80)]),
    )


class GatedSource(LightkubeListWatch[Service]):
    """The real source, except that new lists and watches wait while the gate is closed.

    It lets a test hold the informer disconnected (after it noticed the
    outage on its own) while the test changes things behind its back.
    """

    def __init__(self, client: AsyncClient, namespace: str) -> None:
        super().__init__(client, Service, namespace=namespace)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = asyncio.Event()

    async def _pass(self) -> None:
        if not self.gate.is_set():
            self.held.set()
            await self.gate.wait()

    async def list(self) -> tuple[builtins.list[Service], str]:
        await self._pass()
        return await super().list()

    async def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> AsyncGenerator[WatchEvent[Service], None]:
        await self._pass()
        async for event in super().watch(resource_version, timeout_seconds):
            yield event


def fast_backoff() -> JitteredBackoff:
    # Reconnect quickly once the apiserver is back; the test bounds every wait anyway.
    return JitteredBackoff(0.2, 2.0)


def restart_apiserver(control_plane: ControlPlane) -> None:
    """Restart the apiserver from this (the main) thread; blocks the event loop meanwhile.

    Not ``asyncio.to_thread``: the harness starts children with
    PR_SET_PDEATHSIG, which fires when the *thread* that forked them exits, so
    an apiserver started from an executor thread dies when the test's loop
    shuts its executor down. Blocking the loop is harmless here: the
    informer's watch is broken by the restart either way, and it notices as
    soon as the loop runs again.
    """
    control_plane.restart("kube-apiserver")


async def assert_admin_client_works(akube: AsyncClient) -> None:
    names = [ns.metadata.name async for ns in akube.list(Namespace) if ns.metadata]
    assert "default" in names


@pytest.mark.asyncio
async def test_informer_recovers_from_apiserver_restart_mid_watch(
    akube: AsyncClient, namespace: str, control_plane: ControlPlane
) -> None:
    """Restart during a live watch: the informer reconnects on its own, and an object deleted
    while it was disconnected comes out as DELETED, one created after as ADDED."""
    for name in ("keep", "doomed"):
        await akube.create(service(name, namespace))
    source = GatedSource(akube, namespace)
    informer = Informer(source, name="services", backoff=fast_backoff())
    log = EventLog()
    informer.add_handler(log)
    async with running(informer) as task:
        await asyncio.wait_for(informer.has_synced.wait(), WAIT)
        assert informer.cache.keys() == [f"{namespace}/doomed", f"{namespace}/keep"]

        source.gate.clear()  # the live watch goes on; only reconnects will wait
        restart_apiserver(control_plane)
        # The informer noticed the broken watch by itself and is trying to reconnect.
        await asyncio.wait_for(source.held.wait(), WAIT)
        await akube.delete(Service, "doomed", namespace=namespace)
        await akube.create(service("born", namespace))
        source.gate.set()

        await log.wait_for(EventType.DELETED, f"{namespace}/doomed")
        await log.wait_for(EventType.ADDED, f"{namespace}/born")
        assert informer.cache.keys() == [f"{namespace}/born", f"{namespace}/keep"]
        # And it keeps following the server afterwards.
        await akube.create(service("later", namespace))
        await log.wait_for(EventType.ADDED, f"{namespace}/later")
        assert not task.done()
    assert informer.errors + informer.expired >= 1, "the restart should have broken the watch"
    await assert_admin_client_works(akube)


@pytest.mark.asyncio
async def test_stale_rv_after_restart_gets_410_and_relist_finds_the_deletion(
    akube: AsyncClient, namespace: str, control_plane: ControlPlane
) -> None:
    """A real 410: resuming from an RV the restarted apiserver no longer has makes the
    informer relist, and the relist's diff reports the deletion it never saw as an event."""
    for name in ("keep", "doomed"):
        await akube.create(service(name, namespace))
    informer = Informer(
        LightkubeListWatch(akube, Service, namespace=namespace),
        name="services",
        backoff=fast_backoff(),
    )
    log = EventLog()
    informer.add_handler(log)
    await asyncio.wait_for(informer.relist(), WAIT)
    stale_rv = informer.resource_version

    # Not watching: nothing moves our RV. A write elsewhere moves etcd's past
    # it, so the restarted apiserver's watch cache starts after our RV.
    await akube.create(ConfigMap(metadata=ObjectMeta(name="bump", namespace=namespace)))
    restart_apiserver(control_plane)
    await akube.delete(Service, "doomed", namespace=namespace)
    await akube.create(service("born", namespace))
    log.seen.clear()

    async with running(informer):  # resumes with a watch from stale_rv, no list first
        await log.wait_for(EventType.DELETED, f"{namespace}/doomed")
        await log.wait_for(EventType.ADDED, f"{namespace}/born")
    assert informer.expired >= 1, "the resumed watch should have been answered with 410"
    assert informer.lists == 2, "exactly one relist, caused by the 410"
    assert int(informer.resource_version) > int(stale_rv)
    assert informer.cache.keys() == [f"{namespace}/born", f"{namespace}/keep"]
    await assert_admin_client_works(akube)
