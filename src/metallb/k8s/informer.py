"""The informer: list, then watch, into a local cache; tell handlers which keys changed.

The loop (:meth:`Informer.run`) is client-go's reflector in a few lines:

1. **List** the resource, replace the cache with the result, remember the
   list's resourceVersion (RV), and set :attr:`Informer.has_synced`.
2. **Watch** from that RV with bookmarks. Each event updates the cache and the
   RV; a BOOKMARK only moves the RV forward. When the server closes the stream
   cleanly (it does so every ``timeoutSeconds``), watch again from the last
   RV: nothing is lost and nothing is listed again.
3. **410 Gone** (an ERROR event or an HTTP 410) means the server no longer has
   the history after our RV. Go back to 1; a relist is *diffed* against the
   cache, so an object deleted while we could not see it comes out as a
   DELETED event, an object created meanwhile as ADDED. This is the step
   lightkube's own watch skips.
4. **Any other error** (connection refused while the apiserver restarts, a
   5xx, a reset stream): wait a jittered, growing delay and watch again from
   the last RV (or list again if there never was a list).

Handlers get ``(event type, key)`` only. They must not act on the object in
the event: the worker that eventually handles the key reads the cache, which
by then may hold a newer state, or nothing. That is what makes coalescing and
retries safe (level-triggered, as controller-runtime puts it).

Everything runs on the event loop and handlers are plain functions, so a cache
update and its notifications happen with no ``await`` in between: a handler
always sees the cache already updated.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from contextlib import aclosing
from typing import Generic, TypeVar

from metallb.k8s.backoff import JitteredBackoff
from metallb.k8s.cache import Cache, IndexFunc, KubeObject, object_key, resource_version
from metallb.k8s.source import EventType, Expired, ListWatch, WatchError, WatchEvent

log = logging.getLogger(__name__)

T = TypeVar("T", bound=KubeObject)
Handler = Callable[[EventType, str], None]

# The server ends each watch after a random time in [MIN, 2*MIN), like
# client-go, so that many informers started together do not reconnect together.
MIN_WATCH_TIMEOUT = 300
# A watch that the server closes at once without a single event is not a
# normal end (that happens after timeoutSeconds); treat it as an error so a
# misbehaving server cannot make us spin.
SHORT_WATCH = 1.0


def diff_versions(old: Mapping[str, str], new: Mapping[str, str]) -> list[tuple[EventType, str]]:
    """Events that turn a cache holding ``old`` (key -> RV) into one holding ``new``.

    Deletions come first, then additions and modifications, each in key order:
    deterministic, and for MetalLB a deleted Service frees its IP before a
    new one asks for an address.
    """
    events = [(EventType.DELETED, k) for k in sorted(old.keys() - new.keys())]
    for key in sorted(new):
        if key not in old:
            events.append((EventType.ADDED, key))
        elif old[key] != new[key]:
            events.append((EventType.MODIFIED, key))
    return events


class Informer(Generic[T]):
    """Keeps :attr:`cache` in step with the server for one resource (see the module doc)."""

    def __init__(
        self,
        source: ListWatch[T],
        *,
        name: str = "",
        indexers: Mapping[str, IndexFunc[T]] | None = None,
        backoff: JitteredBackoff | None = None,
        min_watch_timeout: int = MIN_WATCH_TIMEOUT,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name or type(source).__name__
        self.source = source
        self.cache: Cache[T] = Cache(indexers)
        self.has_synced = asyncio.Event()
        self.resource_version = ""
        self.backoff = backoff or JitteredBackoff(rng=rng)
        self.min_watch_timeout = min_watch_timeout
        self._rng = rng or random.Random()
        self._handlers: list[Handler] = []
        self._need_list = True
        # Counters for logs and tests: how often each path ran.
        self.lists = 0
        self.expired = 0
        self.errors = 0

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler(event_type, key)`` after each change is in the cache.

        Added after the first list, a handler does not hear about objects
        already cached; add handlers before :meth:`run`.
        """
        self._handlers.append(handler)

    # -- the three steps ----------------------------------------------------------
    async def relist(self) -> None:
        """List, replace the cache, emit the difference, and mark the cache synced."""
        items, rv = await self.source.list()
        fresh = {object_key(obj): obj for obj in items}
        events = diff_versions(
            self.cache.resource_versions(), {k: resource_version(o) for k, o in fresh.items()}
        )
        self.cache.replace(fresh)
        self.resource_version = rv
        self._need_list = False
        self.lists += 1
        log.debug("%s: listed %d objects at RV %s", self.name, len(fresh), rv)
        self.has_synced.set()
        for etype, key in events:
            self._emit(etype, key)

    async def watch_once(self) -> int:
        """Watch from :attr:`resource_version` until the server closes; return the event count.

        Raises :class:`Expired` on 410 and whatever the transport raises on
        other failures; the cache and RV keep every event applied before that.
        """
        timeout = self.min_watch_timeout + self._rng.randrange(self.min_watch_timeout or 1)
        seen = 0
        # aclosing: on cancellation the HTTP stream is closed now, not when the
        # generator happens to be garbage-collected.
        async with aclosing(self.source.watch(self.resource_version, timeout)) as stream:
            async for event in stream:
                if seen == 0:
                    # The connection works: a later failure starts its backoff afresh.
                    self.backoff.reset()
                seen += 1
                self.apply(event)
        return seen

    def apply(self, event: WatchEvent[T]) -> None:
        """Apply one watch event to the cache and the RV, then notify handlers."""
        if event.resource_version:
            self.resource_version = event.resource_version
        if event.type is EventType.BOOKMARK or event.object is None:
            return
        key = object_key(event.object)
        if event.type is EventType.DELETED:
            self.cache.delete(key)
            self._emit(EventType.DELETED, key)
            return
        # The cache, not the server's label, decides ADDED vs MODIFIED: after a
        # relist the server may replay an ADDED for an object we already hold.
        old = self.cache.upsert(key, event.object)
        self._emit(EventType.ADDED if old is None else EventType.MODIFIED, key)

    def _emit(self, etype: EventType, key: str) -> None:
        for handler in self._handlers:
            try:
                handler(etype, key)
            except Exception:
                # A broken handler must not stop the cache from following the server.
                log.exception("%s: handler failed for %s %s", self.name, etype, key)

    # -- the loop -------------------------------------------------------------------
    async def run(self) -> None:
        """List and watch until cancelled, recovering from every error on its own.

        If the cache was already filled (by :meth:`relist`), the loop starts by
        watching from the current RV instead of listing.
        """
        loop = asyncio.get_running_loop()
        expired_in_row = 0
        while True:
            try:
                if self._need_list:
                    await self.relist()
                started = loop.time()
                seen = await self.watch_once()
                expired_in_row = 0
                if seen == 0 and loop.time() - started < SHORT_WATCH:
                    raise WatchError(None, "watch closed at once without events")
                log.debug("%s: watch closed after %d events; resuming", self.name, seen)
                continue
            except Expired as err:
                self.expired += 1
                self._need_list = True
                expired_in_row += 1
                log.info("%s: RV %s expired (%s); relisting", self.name, self.resource_version, err)
                if expired_in_row == 1:
                    # The normal case: relist at once. Only a server that keeps
                    # answering 410 right after a list gets the backoff below.
                    continue
                delay = self.backoff.next()
            except Exception as err:
                self.errors += 1
                delay = self.backoff.next()
                log.warning(
                    "%s: list/watch failed (%s: %s); retrying in %.2fs",
                    self.name,
                    type(err).__name__,
                    err,
                    delay,
                )
            await asyncio.sleep(delay)
