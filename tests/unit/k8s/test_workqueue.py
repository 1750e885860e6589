"""The workqueue keeps client-go's promises, checked with a fake clock (no sleeping)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from metallb.k8s.backoff import ItemBackoff
from metallb.k8s.clock import FakeClock
from metallb.k8s.workqueue import ShutDown, WorkQueue


def make_queue(clock: FakeClock | None = None, **kw: float) -> WorkQueue[str]:
    return WorkQueue(clock=clock or FakeClock(), backoff=ItemBackoff(**kw), name="test")


async def drain(q: WorkQueue[str]) -> list[str]:
    """Take every key that is ready now, marking each done."""
    out = []
    while len(q):
        key = await q.get()
        q.done(key)
        out.append(key)
    return out


async def settle() -> None:
    """Let every ready task run until it blocks (no I/O here, so a few passes suffice)."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_key_added_twice_while_waiting_is_queued_once() -> None:
    """Stingy: a key waiting in the queue is handed out once, in first-added order."""
    q = make_queue()
    for key in ("a", "b", "a", "c", "b", "a"):
        q.add(key)
    assert len(q) == 3
    assert await drain(q) == ["a", "b", "c"]


@pytest.mark.asyncio
async def test_key_readded_while_processing_waits_for_done() -> None:
    """One worker per key: a re-added key is not handed to a second worker until done()."""
    q = make_queue()
    q.add("a")
    first = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0
    second = asyncio.create_task(q.get())
    await settle()
    assert not second.done(), "a second worker got a key that is still being processed"
    q.done(first)
    assert await asyncio.wait_for(second, 5) == "a"
    q.done("a")
    assert len(q) == 0, "the two adds during processing must collapse into one re-queue"


@pytest.mark.asyncio
async def test_other_keys_are_not_blocked_by_a_processing_key() -> None:
    """Processing one key does not hold back others."""
    q = make_queue()
    q.add("a")
    a = await q.get()
    q.add("a")
    q.add("b")
    assert await asyncio.wait_for(q.get(), 5) == "b"
    q.done("b")
    q.done(a)
    assert await drain(q) == ["a"]


@pytest.mark.asyncio
async def test_done_without_readd_does_not_requeue() -> None:
    """A finished key that nobody added again is gone."""
    q = make_queue()
    q.add("a")
    q.done(await q.get())
    assert len(q) == 0
    assert q.processing == frozenset()


@pytest.mark.asyncio
async def test_waiting_getter_wakes_on_add() -> None:
    """A worker blocked in get() gets the key added later."""
    q = make_queue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 5) == "x"


@pytest.mark.asyncio
async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    """If the woken worker is cancelled before it runs, another waiting worker gets the key."""
    q = make_queue()
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await settle()
    q.add("x")  # wakes g1 ...
    g1.cancel()  # ... which is cancelled before it could take the key
    await settle()
    assert g1.cancelled()
    assert await asyncio.wait_for(g2, 5) == "x"


@pytest.mark.asyncio
async def test_rate_limited_delay_doubles_per_failure_and_forget_resets() -> None:
    """Per-key backoff: 5 ms, 10 ms, 20 ms ... and back to 5 ms after forget()."""
    clock = FakeClock()
    q = make_queue(clock)
    expected = [0.005, 0.01, 0.02, 0.04]
    for n, delay in enumerate(expected):
        q.add_rate_limited("k")
        assert q.num_requeues("k") == n + 1
        clock.step(delay * 0.99)
        assert len(q) == 0, f"retry {n} came before its {delay}s backoff"
        clock.step(delay * 0.02)  # a margin for float rounding of the running sum
        assert await drain(q) == ["k"], f"retry {n} did not come at {delay}s"
    q.forget("k")
    assert q.num_requeues("k") == 0
    q.add_rate_limited("k")
    clock.step(0.005)
    assert await drain(q) == ["k"]


def test_item_backoff_is_capped_and_per_key() -> None:
    """Delays stop growing at the cap; one key's failures do not slow another key."""
    b: ItemBackoff[str] = ItemBackoff(base=0.005, cap=1000.0)
    delays = [b.when("a") for _ in range(40)]
    assert delays[:3] == [0.005, 0.01, 0.02]
    assert max(delays) == 1000.0
    assert delays[-1] == 1000.0
    assert all(x <= y for x, y in itertools.pairwise(delays))
    assert b.when("b") == 0.005
    for _ in range(200):
        b.when("a")
    assert b.when("a") == 1000.0


@pytest.mark.asyncio
async def test_add_after_releases_keys_in_deadline_order() -> None:
    """Delayed keys come out when due, earliest deadline first, whatever the add order."""
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("late", 3.0)
    q.add_after("early", 1.0)
    q.add_after("middle", 2.0)
    assert q.delayed == 3
    clock.step(0.5)
    assert len(q) == 0
    clock.step(1.0)
    assert await drain(q) == ["early"]
    clock.step(10.0)
    assert await drain(q) == ["middle", "late"]
    assert q.delayed == 0


@pytest.mark.asyncio
async def test_add_after_keeps_the_earliest_deadline_of_a_key() -> None:
    """A key has one pending deadline: an earlier one replaces a later one, not the reverse."""
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("a", 10.0)
    q.add_after("a", 1.0)
    q.add_after("a", 5.0)
    clock.step(1.0)
    assert await drain(q) == ["a"]
    clock.step(20.0)
    assert len(q) == 0, "the superseded deadlines must not add the key again"
    assert clock.pending == 0


@pytest.mark.asyncio
async def test_add_after_zero_adds_now_and_dedupes_with_delayed() -> None:
    """A non-positive delay is a plain add; a delayed copy that falls due while queued collapses."""
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("a", 1.0)
    q.add_after("a", 0)
    assert len(q) == 1
    clock.step(1.0)
    assert await drain(q) == ["a"]


@pytest.mark.asyncio
async def test_shutdown_wakes_idle_workers_with_shutdown() -> None:
    """Workers blocked in get() end with ShutDown."""
    q = make_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.shutdown()
    for g in getters:
        with pytest.raises(ShutDown):
            await asyncio.wait_for(g, 5)


@pytest.mark.asyncio
async def test_shutdown_drains_queued_keys_then_refuses() -> None:
    """Queued keys are still handed out; new and delayed adds are dropped; then ShutDown."""
    clock = FakeClock()
    q = make_queue(clock)
    q.add("a")
    q.add_after("later", 1.0)
    q.shutdown()
    q.add("b")
    q.add_after("c", 1.0)
    q.add_rate_limited("d")
    assert clock.pending == 0
    assert await q.get() == "a"
    q.done("a")
    clock.step(5.0)
    with pytest.raises(ShutDown):
        await q.get()
    assert q.shutting_down


def test_fake_clock_fires_timers_in_order_at_their_time() -> None:
    """The fake clock runs due callbacks earliest first, reading their own deadline."""
    clock = FakeClock(start=100.0)
    seen: list[tuple[str, float]] = []
    clock.call_later(2.0, lambda: seen.append(("b", clock.now())))
    clock.call_later(1.0, lambda: seen.append(("a", clock.now())))
    cancelled = clock.call_later(1.5, lambda: seen.append(("x", clock.now())))
    cancelled.cancel()
    clock.step(1.9)
    assert seen == [("a", 101.0)]
    clock.step(0.1)
    assert seen == [("a", 101.0), ("b", 102.0)]
    assert clock.now() == 102.0
    with pytest.raises(ValueError, match="backwards"):
        clock.step(-1)
