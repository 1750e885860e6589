"""The runner: informers feed keys to a workqueue; N workers reconcile them.

The business logic is one ``async def reconcile(key) -> Result``. It reads the
informers' caches (never the event that triggered it) and reports how it went
with a small :class:`Result`. What happens next is the runner's policy, not
the reconciler's ("the retry logic should not be part of the business logic",
client-go's ``examples/workqueue``):

- ``OK``: done; the key's backoff is reset.
- ``RETRY``: try again after the key's exponential backoff.
- ``GIVE_UP``: log, reset the backoff, drop the key until something changes.
- ``REPROCESS_ALL``: the change affects everyone (new configuration): reset
  this key and queue every key the runner was given to reprocess.
- an exception: logged with the key and retried like ``RETRY``. If
  ``max_retries`` is set, a key that failed that often is given up instead.

Workers start only after every informer's cache has synced, so the first
reconcile already sees the whole cluster (MetalLB must know every Service that
holds an IP before it hands a new one out).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from metallb.k8s.informer import Informer
from metallb.k8s.source import EventType
from metallb.k8s.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)


class Result(enum.Enum):
    """How one reconcile went; MetalLB's ``SyncState``."""

    OK = "ok"
    RETRY = "retry"
    GIVE_UP = "give-up"
    REPROCESS_ALL = "reprocess-all"


Reconcile = Callable[[str], Awaitable[Result]]
# Maps an informer event to the keys to reconcile (an EndpointSlice key to
# its Service key, say). Must only read caches, like a reconcile.
KeyMapper = Callable[[EventType, str], Iterable[str]]


class Runner:
    """Runs ``reconcile`` over keys from a :class:`WorkQueue`, one worker per key at a time."""

    def __init__(
        self,
        reconcile: Reconcile,
        *,
        name: str = "",
        queue: WorkQueue[str] | None = None,
        workers: int = 1,
        max_retries: int | None = None,
        all_keys: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("need at least one worker")
        self.name = name
        self.reconcile = reconcile
        # Not `queue or ...`: an empty WorkQueue is falsy (it has __len__).
        self.queue: WorkQueue[str] = queue if queue is not None else WorkQueue(name=name)
        self.workers = workers
        self.max_retries = max_retries
        self._all_keys = all_keys
        self._informers: list[Informer[Any]] = []
        self._ids = itertools.count(1)
        # Outcome counters (a metrics adapter can publish them).
        self.outcomes: dict[str, int] = {}

    def watch(self, informer: Informer[Any], map_keys: KeyMapper | None = None) -> None:
        """Queue the key of every change ``informer`` sees (or the keys ``map_keys`` names)."""
        self._informers.append(informer)
        if map_keys is None:
            informer.add_handler(lambda _etype, key: self.queue.add(key))
            return

        def handler(etype: EventType, key: str) -> None:
            for mapped in map_keys(etype, key):
                self.queue.add(mapped)

        informer.add_handler(handler)

    async def wait_synced(self) -> None:
        """Return once every watched informer has listed at least once."""
        await asyncio.gather(*(inf.has_synced.wait() for inf in self._informers))

    async def run(self) -> None:
        """Wait for the caches, then work until the queue is shut down (or we are cancelled)."""
        await self.wait_synced()
        log.info("%s: caches synced; starting %d workers", self.name, self.workers)
        async with asyncio.TaskGroup() as tg:
            for _ in range(self.workers):
                tg.create_task(self._worker())

    async def _worker(self) -> None:
        while await self.process_one():
            pass

    async def process_one(self) -> bool:
        """Take one key, reconcile it, apply the retry policy; False once the queue is shut down."""
        try:
            key = await self.queue.get()
        except ShutDown:
            return False
        rid = next(self._ids)
        try:
            try:
                result = await self.reconcile(key)
            except Exception:
                log.exception("%s: reconcile #%d of %r failed; will retry", self.name, rid, key)
                self._count("error")
                self._retry(key, rid)
                return True
            self._count(result.value)
            self._handle(key, result, rid)
        finally:
            self.queue.done(key)
        return True

    def _handle(self, key: str, result: Result, rid: int) -> None:
        if result is Result.OK:
            self.queue.forget(key)
        elif result is Result.RETRY:
            self._retry(key, rid)
        elif result is Result.GIVE_UP:
            log.info("%s: reconcile #%d gave up on %r", self.name, rid, key)
            self.queue.forget(key)
        elif result is Result.REPROCESS_ALL:
            self.queue.forget(key)
            self.reprocess_all()

    def _retry(self, key: str, rid: int) -> None:
        if self.max_retries is not None and self.queue.num_requeues(key) >= self.max_retries:
            log.warning(
                "%s: giving up on %r after %d retries (reconcile #%d)",
                self.name,
                key,
                self.max_retries,
                rid,
            )
            self._count("dropped")
            self.queue.forget(key)
            return
        self.queue.add_rate_limited(key)

    def reprocess_all(self) -> None:
        """Queue every key from ``all_keys`` (by default, every key in the watched caches)."""
        for key in self._keys_to_reprocess():
            self.queue.add(key)

    def _keys_to_reprocess(self) -> Sequence[str]:
        if self._all_keys is not None:
            return list(self._all_keys())
        return [key for inf in self._informers for key in inf.cache]

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
