"""Kubernetes Events, written as client-go's recorder writes them; one per process.

Upstream's controller and speaker record Events through controller-runtime's
``GetEventRecorderFor(processName)`` (internal/k8s/k8s.go), that is client-go's
``record`` broadcaster with ``EventSource{Component: "metallb-controller"}`` or
``"metallb-speaker"`` and no host: the Events say so in ``source.component`` and
``reportingComponent``. :class:`EventRecorder` is that broadcaster:

- :meth:`EventRecorder.record` never blocks: it queues the occurrence (at most
  :data:`BACKLOG`, beyond which it is dropped and counted, as the broadcaster's
  ``DropIfChannelFull`` queue of 1000), so an Event never delays a Service's status;
- :meth:`EventRecorder.run` takes them one at a time, asks the pure
  :class:`~metallb.record.EventCorrelator` what to write, and creates the Event or
  patches ``count``/``lastTimestamp``/``message`` of the existing one. A patch of an
  Event that is gone (expired by the apiserver's event TTL) creates it again under the
  same name; a refused write is dropped; a write that did not reach the apiserver is
  tried again, up to :data:`TRIES` times, :data:`RETRY` seconds apart (client-go: 12,
  10 s).

Beyond client-go, a recorder made with ``adopt=True`` (the controller's) first lists
the Events its component wrote before (``fieldSelector=source=<component>``) and
continues their counts, so a restart does not leave a second Event object per Service
and reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType

from metallb.record import EventCorrelator, ObjectRef, Occurrence, Source, Write
from metallb.record.correlator import LRU_SIZE, logged_key

log = logging.getLogger(__name__)

BACKLOG = 1000
TRIES = 12
RETRY = 10.0  # seconds between tries of a write the apiserver did not answer


@dataclass
class RecorderStats:
    """What the recorder did: API writes made, and occurrences not written (and why)."""

    created: int = 0
    patched: int = 0
    filtered: int = 0  # by the spam filter
    dropped: int = 0  # the backlog was full
    failed: int = 0  # refused by the apiserver, or tries exhausted


def object_ref(obj: Mapping[str, Any]) -> ObjectRef:
    """The ``involvedObject`` for an object given as a dict (client-go's GetReference)."""
    meta = obj.get("metadata") or {}
    return ObjectRef(
        kind=str(obj.get("kind") or ""),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        api_version=str(obj.get("apiVersion") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def _time(seconds: float) -> dt.datetime:
    # metav1.Time has whole seconds on the wire.
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def _stamp(seconds: float) -> str:
    return _time(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_object(w: Write) -> Event:
    """The core/v1 Event a :class:`Write` creates."""
    r = w.ref
    return Event(
        metadata=ObjectMeta(name=w.name, namespace=w.namespace),
        involvedObject=ObjectReference(
            apiVersion=r.api_version,
            kind=r.kind,
            name=r.name,
            namespace=r.namespace or None,
            uid=r.uid or None,
            resourceVersion=r.resource_version or None,
            fieldPath=r.field_path or None,
        ),
        reason=w.reason,
        message=w.message,
        type=w.type,
        source=EventSource(component=w.source.component, host=w.source.host or None),
        reportingComponent=w.source.component,
        reportingInstance=w.source.host,
        firstTimestamp=_time(w.first),
        lastTimestamp=_time(w.last),
        count=w.count,
    )


def occurrence_of(ev: Event) -> Occurrence:
    """An Event read from the apiserver, as the correlator keys it."""
    io, src = ev.involvedObject, ev.source or EventSource()
    last = ev.lastTimestamp or ev.firstTimestamp
    return Occurrence(
        ref=ObjectRef(
            kind=io.kind or "",
            namespace=io.namespace or "",
            name=io.name or "",
            uid=io.uid or "",
            api_version=io.apiVersion or "",
            field_path=io.fieldPath or "",
        ),
        source=Source(src.component or "", src.host or ""),
        type=ev.type or "",
        reason=ev.reason or "",
        message=ev.message or "",
        at=last.timestamp() if last else 0.0,
    )


class EventRecorder:
    """Records Events for one component (see the module docstring)."""

    def __init__(
        self,
        client: AsyncClient,
        source: Source,
        *,
        correlator: EventCorrelator | None = None,
        clock: Callable[[], float] = time.time,
        adopt: bool = False,
        backlog: int = BACKLOG,
        tries: int = TRIES,
        retry: float = RETRY,
    ) -> None:
        self.client, self.source = client, source
        self.correlator = correlator or EventCorrelator()
        self.clock, self.adopt = clock, adopt
        self.tries, self.retry = tries, retry
        self.stats = RecorderStats()
        self._queue: asyncio.Queue[Occurrence] = asyncio.Queue(maxsize=backlog)

    def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Queue an Event about ``obj`` (a dict with apiVersion, kind and metadata)."""
        occ = Occurrence(object_ref(obj), self.source, type_, reason, message, self.clock())
        try:
            self._queue.put_nowait(occ)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            if self.stats.dropped % BACKLOG == 1:
                log.warning(
                    "%s: event backlog full; %d dropped", self.source.component, self.stats.dropped
                )

    async def run(self) -> None:
        """Send queued Events until cancelled (after adopting existing ones, if asked)."""
        if self.adopt:
            await self.adopt_existing()
        while True:
            occ = await self._queue.get()
            try:
                await self.send(occ)
            except Exception:  # an Event is best effort: never let one stop the rest
                log.exception("%s: event %s not recorded", self.source.component, occ.reason)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued Event was sent (or given up); for tests and shutdown."""
        await self._queue.join()

    async def send(self, occ: Occurrence) -> None:
        """Correlate one occurrence now and make the write it calls for."""
        write = self.correlator.correlate(occ, self.clock())
        if write is None:
            self.stats.filtered += 1
            return
        for attempt in range(self.tries):
            try:
                ev = await self._write(write)
            except ApiError as err:
                self.stats.failed += 1
                log.warning(
                    "%s: event %s on %s/%s refused: %s",
                    self.source.component,
                    write.reason,
                    write.namespace,
                    write.ref.name,
                    err.status.message,
                )
                return
            except (httpx2.TransportError, OSError) as err:
                if attempt + 1 == self.tries:
                    break
                # The first pause is random, so processes that lost the apiserver
                # together do not all come back at once (as client-go).
                pause = self.retry * (random.random() if attempt == 0 else 1.0)
                log.info(
                    "%s: event not sent (%s); again in %.1f s", self.source.component, err, pause
                )
                await asyncio.sleep(pause)
                continue
            assert ev.metadata is not None
            first = ev.firstTimestamp.timestamp() if ev.firstTimestamp else write.first
            self.correlator.observed(
                write.key, name=str(ev.metadata.name), count=ev.count or write.count, first=first
            )
            return
        self.stats.failed += 1
        log.warning("%s: event %s not sent: retry limit", self.source.component, write.reason)

    async def _write(self, w: Write) -> Event:
        if w.update:
            patch = {"count": w.count, "lastTimestamp": _stamp(w.last), "message": w.message}
            try:
                ev = await self.client.patch(
                    Event, w.name, patch, namespace=w.namespace, patch_type=PatchType.MERGE
                )
                self.stats.patched += 1
                return ev
            except ApiError as err:
                if err.status.code != 404:
                    raise
        ev = await self.client.create(event_object(w))
        self.stats.created += 1
        return ev

    async def adopt_existing(self) -> int:
        """Continue the counts of the Events this component wrote before (the newest
        :data:`LRU_SIZE`); returns how many were adopted. A failure only logs."""
        newest: dict[tuple[str, ...], Event] = {}
        try:
            async for ev in self.client.list(
                Event, namespace=ALL_NS, fields={"source": self.source.component}, chunk_size=500
            ):
                occ = occurrence_of(ev)
                if occ.source != self.source:
                    continue
                key = logged_key(occ)
                old = newest.get(key)
                if old is None or occurrence_of(old).at <= occ.at:
                    newest[key] = ev
        except ApiError as err:
            log.warning("%s: existing Events not read: %s", self.source.component, err)
            return 0
        events = sorted(newest.values(), key=lambda e: occurrence_of(e).at)[-LRU_SIZE:]
        for ev in events:
            assert ev.metadata is not None
            first = ev.firstTimestamp or ev.lastTimestamp
            self.correlator.observed(
                logged_key(occurrence_of(ev)),
                name=str(ev.metadata.name),
                count=ev.count or 1,
                first=first.timestamp() if first else 0.0,
            )
        log.info("%s: continuing %d existing Events", self.source.component, len(events))
        return len(events)
