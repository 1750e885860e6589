"""A work queue of keys with client-go's guarantees, for asyncio.

The queue holds keys (``"namespace/name"``), never events: a reconcile reads
the current state from an informer's cache, so ten changes to one Service
while it waits are one unit of work. The guarantees, as in client-go's
``util/workqueue``:

- **stingy**: a key waiting in the queue is there once, however often it is
  added (the *dirty* set);
- **one worker per key**: a key handed out by :meth:`WorkQueue.get` is in the
  *processing* set until :meth:`WorkQueue.done`; adding it meanwhile only marks
  it dirty, and ``done`` puts it back at the end of the queue, so the second
  reconcile sees the newer state and never runs concurrently with the first;
- **fair**: first in, first out among waiting keys;
- **delays**: :meth:`WorkQueue.add_after` adds a key once a delay has passed
  (the earliest pending deadline of a key wins), and
  :meth:`WorkQueue.add_rate_limited` uses a per-key exponential backoff that
  :meth:`WorkQueue.forget` resets;
- **shutdown**: after :meth:`WorkQueue.shutdown` new adds are ignored and
  delayed keys dropped; keys already waiting are still handed out, then
  :meth:`WorkQueue.get` raises :class:`ShutDown`.

Time comes from an injected :class:`~metallb.timing.Clock`; delayed keys
are clock timers, so there is no background task to start or stop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from metallb.k8s.backoff import ItemBackoff
from metallb.net.clock import LoopClock
from metallb.timing import Clock, TimerHandle

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):  # noqa: N818 - named after the state, as client-go's shutdown flag
    """The queue is shut down and has nothing left to hand out."""


class WorkQueue(Generic[K]):
    """FIFO of unique keys, each processed by at most one worker at a time."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        backoff: ItemBackoff[K] | None = None,
        name: str = "",
    ) -> None:
        self.name = name
        self._clock: Clock = clock or LoopClock()
        self._backoff: ItemBackoff[K] = backoff or ItemBackoff()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        # key -> (deadline, timer) for keys added with a delay that has not passed yet.
        self._waiting: dict[K, tuple[float, TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

    # -- adding ------------------------------------------------------------------
    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; if it is being processed, after ``done``."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            # done() re-queues it; queuing it now would let a second worker take it.
            return
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed (at once if ``delay <= 0``).

        A key can have one pending deadline; a later deadline for a key that
        already has an earlier one is ignored, an earlier one replaces it.
        """
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        deadline = self._clock.now() + delay
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= deadline:
                return
            pending[1].cancel()
        timer = self._clock.call_later(delay, lambda: self._fire(key))
        self._waiting[key] = (deadline, timer)

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after its backoff delay, which doubles with each call until forgotten."""
        self.add_after(key, self._backoff.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (call on success, or when giving up on it)."""
        self._backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited adds ``key`` had since it was last forgotten."""
        return self._backoff.failures(key)

    def _fire(self, key: K) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    # -- working -----------------------------------------------------------------
    async def get(self) -> K:
        """Wait for a key and mark it as processing; the caller must call :meth:`done`.

        Raises :class:`ShutDown` once the queue is shut down and empty.
        """
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # A cancelled getter may have been the one woken for a new key:
                # pass the wake-up on so the key is not left unclaimed.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
            finally:
                if waiter in self._getters:
                    self._getters.remove(waiter)
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """Finish processing ``key``; if it was added meanwhile, queue it again now."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        """Stop accepting keys, drop delayed ones, and let idle getters raise :class:`ShutDown`."""
        self._shutting_down = True
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- introspection -----------------------------------------------------------
    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys waiting to be handed out (not those processing or delayed)."""
        return len(self._queue)

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def delayed(self) -> int:
        """Keys waiting for their delay to pass."""
        return len(self._waiting)
