"""The runner maps reconcile results and exceptions to the queue's retry policy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Service

from metallb.k8s.clock import FakeClock
from metallb.k8s.informer import Informer
from metallb.k8s.runner import Result, Runner
from metallb.k8s.source import WatchEvent
from metallb.k8s.workqueue import WorkQueue

WAIT = 10.0


class Script:
    """A reconcile that returns (or raises) what the test lined up per key, and records calls."""

    def __init__(self, outcomes: dict[str, list[Result | Exception]]) -> None:
        self.outcomes = outcomes
        self.calls: list[str] = []

    async def __call__(self, key: str) -> Result:
        self.calls.append(key)
        queued = self.outcomes.get(key) or [Result.OK]
        outcome = queued.pop(0) if len(queued) > 1 else queued[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def make(script: Script, **kw: object) -> tuple[Runner, FakeClock]:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock, name="t")
    return Runner(script, name="t", queue=queue, **kw), clock  # type: ignore[arg-type]


async def step(runner: Runner) -> None:
    assert await asyncio.wait_for(runner.process_one(), WAIT)


@pytest.mark.asyncio
async def test_ok_forgets_the_backoff() -> None:
    """A success after failures resets the key's backoff to the base delay."""
    script = Script({"k": [Result.RETRY, Result.RETRY, Result.OK]})
    runner, clock = make(script)
    runner.queue.add("k")
    await step(runner)
    clock.step(0.005)
    await step(runner)
    assert runner.queue.num_requeues("k") == 2
    clock.step(0.01)
    await step(runner)
    assert runner.queue.num_requeues("k") == 0
    assert script.calls == ["k", "k", "k"]
    assert runner.queue.delayed == 0


@pytest.mark.asyncio
async def test_retry_waits_for_the_growing_backoff() -> None:
    """RETRY requeues after 5 ms, then 10 ms: not before."""
    script = Script({"k": [Result.RETRY]})
    runner, clock = make(script)
    runner.queue.add("k")
    await step(runner)
    assert len(runner.queue) == 0
    clock.step(0.005)
    assert len(runner.queue) == 1
    await step(runner)
    clock.step(0.009)
    assert len(runner.queue) == 0, "the second retry must wait 10 ms"
    clock.step(0.002)
    assert len(runner.queue) == 1


@pytest.mark.asyncio
async def test_exception_is_logged_with_the_key_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A raising reconcile does not kill the worker; the key comes back after its backoff."""
    script = Script({"ns/web": [RuntimeError("boom"), Result.OK]})
    runner, clock = make(script)
    runner.queue.add("ns/web")
    with caplog.at_level(logging.ERROR, logger="metallb.k8s.runner"):
        await step(runner)
    assert "'ns/web'" in caplog.text
    assert "boom" in caplog.text
    assert runner.outcomes == {"error": 1}
    clock.step(0.005)
    await step(runner)
    assert runner.outcomes == {"error": 1, "ok": 1}
    assert runner.queue.num_requeues("ns/web") == 0


@pytest.mark.asyncio
async def test_give_up_drops_the_key_and_its_backoff() -> None:
    """GIVE_UP: no requeue, and the next failure starts from the base delay again."""
    script = Script({"k": [Result.RETRY, Result.GIVE_UP]})
    runner, clock = make(script)
    runner.queue.add("k")
    await step(runner)
    clock.step(0.005)
    await step(runner)
    clock.step(10_000)
    assert len(runner.queue) == 0
    assert runner.queue.num_requeues("k") == 0


@pytest.mark.asyncio
async def test_max_retries_gives_up_after_that_many() -> None:
    """With max_retries=2 a key that keeps failing is reconciled three times, then dropped."""
    script = Script({"k": [ValueError("always")]})
    runner, clock = make(script, max_retries=2)
    runner.queue.add("k")
    for _ in range(3):
        await step(runner)
        clock.step(10.0)
    assert script.calls == ["k"] * 3
    assert len(runner.queue) == 0
    assert runner.outcomes["dropped"] == 1


@pytest.mark.asyncio
async def test_reprocess_all_queues_every_key() -> None:
    """REPROCESS_ALL queues all keys from all_keys (deduplicated with those already queued)."""
    script = Script({"cfg": [Result.REPROCESS_ALL]})
    runner, _ = make(script, all_keys=lambda: ["a/1", "a/2", "cfg"])
    runner.queue.add("cfg")
    runner.queue.add("a/2")
    await step(runner)
    order = []
    while len(runner.queue):
        key = await runner.queue.get()
        runner.queue.done(key)
        order.append(key)
    assert order == ["a/2", "a/1", "cfg"]


class OneList:
    """A source with one fixed list and a watch that never yields."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.release = asyncio.Event()

    async def list(self) -> tuple[list[Service], str]:
        await self.release.wait()
        return [Service(metadata=ObjectMeta(name=n, namespace="ns")) for n in self.names], "1"

    async def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> AsyncGenerator[WatchEvent[Service], None]:
        await asyncio.Event().wait()
        yield WatchEvent.__new__(WatchEvent)  # pragma: no cover - never reached


@pytest.mark.asyncio
async def test_workers_start_only_after_caches_sync_and_see_every_key() -> None:
    """No reconcile runs before has_synced; then each listed object is reconciled once."""
    source = OneList(["a", "b"])
    informer: Informer[Service] = Informer(source, name="svc")
    seen_cache_sizes: list[int] = []

    async def reconcile(key: str) -> Result:
        seen_cache_sizes.append(len(informer.cache))
        return Result.OK

    runner = Runner(reconcile, name="t", workers=3)
    runner.watch(informer)
    inf_task = asyncio.create_task(informer.run())
    run_task = asyncio.create_task(runner.run())
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen_cache_sizes == [], "a worker ran before the cache synced"
    source.release.set()
    await asyncio.wait_for(informer.has_synced.wait(), WAIT)
    while len(seen_cache_sizes) < 2:
        await asyncio.wait_for(asyncio.sleep(0), WAIT)
    runner.queue.shutdown()
    await asyncio.wait_for(run_task, WAIT)
    inf_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await inf_task
    assert seen_cache_sizes == [2, 2]


@pytest.mark.asyncio
async def test_map_keys_routes_events_to_other_keys() -> None:
    """An event can be mapped to the key that should be reconciled (e.g. slice -> service)."""
    source = OneList(["web-abc12"])
    source.release.set()
    informer: Informer[Service] = Informer(source, name="slices")
    runner = Runner(Script({}), name="t")
    runner.watch(informer, map_keys=lambda _e, key: [key.rsplit("-", 1)[0]])
    await asyncio.wait_for(informer.relist(), WAIT)
    assert await asyncio.wait_for(runner.queue.get(), WAIT) == "ns/web"
