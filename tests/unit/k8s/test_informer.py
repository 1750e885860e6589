"""The informer's loop: resume after a clean close, relist and diff after 410, back off on errors.

A scripted :class:`ScriptedSource` plays the server's part (lists and watch
streams given by the test); the real-apiserver behaviour is covered in
``tests/integration/k8s``.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Service

from metallb.k8s.backoff import JitteredBackoff
from metallb.k8s.informer import Informer, diff_versions
from metallb.k8s.source import EventType, Expired, WatchError, WatchEvent, decode_watch_line

WAIT = 10.0


def svc(name: str, rv: str) -> Service:
    return Service(metadata=ObjectMeta(name=name, namespace="ns", resourceVersion=rv))


def ev(etype: EventType, name: str, rv: str) -> WatchEvent[Service]:
    return WatchEvent(etype, rv, svc(name, rv))


Step = WatchEvent[Service] | Exception


@dataclass
class ScriptedSource:
    """Lists and watch streams in the order the test gives them; then every call blocks."""

    lists: builtins.list[tuple[builtins.list[Service], str] | Exception] = field(
        default_factory=builtins.list
    )
    streams: builtins.list[builtins.list[Step]] = field(default_factory=builtins.list)
    watch_rvs: builtins.list[str] = field(default_factory=builtins.list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    async def list(self) -> tuple[builtins.list[Service], str]:
        if not self.lists:
            await self._block()
        item = self.lists.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    async def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> AsyncGenerator[WatchEvent[Service], None]:
        self.watch_rvs.append(resource_version)
        if not self.streams:
            await self._block()
        for step in self.streams.pop(0):
            if isinstance(step, Exception):
                raise step
            yield step

    async def _block(self) -> None:
        self.idle.set()
        await asyncio.Event().wait()


async def run_until_idle(informer: Informer[Service], source: ScriptedSource) -> None:
    """Run the informer until the script is used up, then stop it."""
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(source.idle.wait(), WAIT)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def fast_informer(
    source: ScriptedSource,
) -> tuple[Informer[Service], builtins.list[tuple[str, str]]]:
    # Tiny real delays: the loop's sleep is only exercised, never measured.
    informer = Informer(source, name="svc", backoff=JitteredBackoff(0.001, 0.001, jitter=0))
    seen: builtins.list[tuple[str, str]] = []
    informer.add_handler(lambda etype, key: seen.append((etype.value, key)))
    return informer, seen


def test_diff_versions_orders_deletions_first() -> None:
    """A relist diff: deleted keys, then added and modified ones, each sorted; unchanged skipped."""
    old = {"ns/a": "1", "ns/b": "2", "ns/z": "3"}
    new = {"ns/b": "5", "ns/c": "6", "ns/z": "3"}
    assert diff_versions(old, new) == [
        (EventType.DELETED, "ns/a"),
        (EventType.MODIFIED, "ns/b"),
        (EventType.ADDED, "ns/c"),
    ]


@pytest.mark.asyncio
async def test_first_list_fills_cache_emits_added_and_sets_synced() -> None:
    """has_synced is set once the first list is in the cache, and each object is ADDED."""
    source = ScriptedSource(lists=[([svc("a", "1"), svc("b", "2")], "10")])
    informer, seen = fast_informer(source)
    assert not informer.has_synced.is_set()
    await run_until_idle(informer, source)
    assert informer.has_synced.is_set()
    assert sorted(informer.cache.keys()) == ["ns/a", "ns/b"]
    assert seen == [("ADDED", "ns/a"), ("ADDED", "ns/b")]
    assert source.watch_rvs == ["10"], "the watch must start at the list's RV"


@pytest.mark.asyncio
async def test_clean_close_resumes_at_last_rv_without_relisting() -> None:
    """After the server ends a watch, the next one starts from the last event's RV."""
    source = ScriptedSource(
        lists=[([svc("a", "1")], "10")],
        streams=[
            [ev(EventType.MODIFIED, "a", "11"), ev(EventType.ADDED, "b", "12")],
            [ev(EventType.DELETED, "a", "13")],
        ],
    )
    informer, seen = fast_informer(source)
    await run_until_idle(informer, source)
    assert source.watch_rvs == ["10", "12", "13"]
    assert informer.lists == 1
    assert informer.cache.keys() == ["ns/b"]
    assert seen[1:] == [("MODIFIED", "ns/a"), ("ADDED", "ns/b"), ("DELETED", "ns/a")]


@pytest.mark.asyncio
async def test_bookmark_moves_the_rv_and_touches_nothing_else() -> None:
    """A recorded BOOKMARK line updates the RV; the cache and handlers see nothing."""
    bookmark = decode_watch_line(
        b'{"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1",'
        b'"metadata":{"resourceVersion":"777"}}}',
        Service,
    )
    source = ScriptedSource(lists=[([svc("a", "1")], "10")], streams=[[bookmark]])
    informer, seen = fast_informer(source)
    await run_until_idle(informer, source)
    assert source.watch_rvs == ["10", "777"]
    assert informer.resource_version == "777"
    assert seen == [("ADDED", "ns/a")]


@pytest.mark.asyncio
async def test_expired_relists_and_reports_missed_deletions() -> None:
    """410 Gone: relist, and an object deleted during the gap comes out as DELETED."""
    source = ScriptedSource(
        lists=[
            ([svc("a", "1"), svc("b", "2"), svc("c", "3")], "10"),
            ([svc("b", "2"), svc("c", "30"), svc("d", "31")], "40"),
        ],
        streams=[[ev(EventType.MODIFIED, "b", "2"), Expired("too old resource version")]],
    )
    informer, seen = fast_informer(source)
    await run_until_idle(informer, source)
    assert informer.expired == 1
    assert informer.lists == 2
    assert seen[3:] == [
        ("MODIFIED", "ns/b"),
        ("DELETED", "ns/a"),
        ("MODIFIED", "ns/c"),
        ("ADDED", "ns/d"),
    ]
    assert informer.cache.keys() == ["ns/b", "ns/c", "ns/d"]
    assert source.watch_rvs == ["10", "40"]


@pytest.mark.asyncio
async def test_errors_back_off_and_resume_from_the_same_rv() -> None:
    """A transport error or a 5xx: wait, then watch again from the last RV (no relist)."""
    source = ScriptedSource(
        lists=[OSError("connection refused"), ([svc("a", "1")], "10")],
        streams=[
            [ev(EventType.ADDED, "b", "11"), ConnectionResetError("reset")],
            [WatchError(500, "etcd leader changed")],
            [ev(EventType.ADDED, "c", "12")],
        ],
    )
    informer, _ = fast_informer(source)
    await run_until_idle(informer, source)
    assert informer.errors == 3
    assert informer.lists == 1
    assert source.watch_rvs == ["10", "11", "11", "12"]
    assert informer.has_synced.is_set()


@pytest.mark.asyncio
async def test_repeated_expiry_after_relist_backs_off() -> None:
    """A server answering 410 right after each list is retried with backoff, not in a hot loop."""
    listing = ([svc("a", "1")], "10")
    source = ScriptedSource(
        lists=[listing, listing, listing],
        streams=[[Expired("gone")], [Expired("gone")]],
    )
    informer, _ = fast_informer(source)
    await run_until_idle(informer, source)
    assert informer.expired == 2
    assert informer.backoff.attempts == 1, "the second 410 in a row must go through the backoff"


@pytest.mark.asyncio
async def test_handler_failure_does_not_stop_the_informer() -> None:
    """A handler that raises is logged; the cache and other handlers carry on."""
    source = ScriptedSource(
        lists=[([svc("a", "1")], "10")], streams=[[ev(EventType.ADDED, "b", "11")]]
    )
    informer, seen = fast_informer(source)

    def broken(_etype: EventType, _key: str) -> None:
        raise RuntimeError("bug in a handler")

    informer.add_handler(broken)
    await run_until_idle(informer, source)
    assert informer.cache.keys() == ["ns/a", "ns/b"]
    assert seen == [("ADDED", "ns/a"), ("ADDED", "ns/b")]


@pytest.mark.asyncio
async def test_run_after_manual_relist_watches_without_listing_again() -> None:
    """A cache filled by relist() is resumed from its RV: run() does not list a second time."""
    source = ScriptedSource(
        lists=[([svc("a", "1")], "10")], streams=[[ev(EventType.ADDED, "b", "11")]]
    )
    informer, _ = fast_informer(source)
    await asyncio.wait_for(informer.relist(), WAIT)
    await run_until_idle(informer, source)
    assert informer.lists == 1
    assert source.watch_rvs == ["10", "11"]
