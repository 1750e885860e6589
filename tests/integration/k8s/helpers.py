"""Helpers for the Kubernetes adapter tests: event logs, running informers, bounded waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from metallb.k8s.informer import Informer
from metallb.k8s.source import EventType

# Every wait on the apiserver is bounded; generous because a loaded 2-core
# machine can be slow, and a bound is a guard against hangs, not a measurement.
WAIT = 60.0


class EventLog:
    """Collects an informer's (event type, key) notifications; waits for specific ones."""

    def __init__(self) -> None:
        self.seen: list[tuple[EventType, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, etype: EventType, key: str) -> None:
        self.seen.append((etype, key))
        self._changed.set()

    async def wait_for(self, etype: EventType, key: str, within: float = WAIT) -> None:
        """Return once ``(etype, key)`` has been seen; fail after ``within`` seconds."""

        async def until() -> None:
            while (etype, key) not in self.seen:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), within)
        except TimeoutError:
            msg = f"no {etype.value} {key} within {within}s; saw {self.seen}"
            raise AssertionError(msg) from None


@asynccontextmanager
async def running(informer: Informer[Any]) -> AsyncIterator[asyncio.Task[None]]:
    """Run the informer's loop for the duration of the block, then cancel it."""
    task = asyncio.create_task(informer.run(), name=f"informer-{informer.name}")
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
