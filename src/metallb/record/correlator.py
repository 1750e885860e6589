"""The Event correlator: client-go's ``EventCorrelator`` (tools/record/events_cache.go). Pure.

Upstream MetalLB records Events through controller-runtime's ``GetEventRecorderFor``,
which is client-go's ``record`` broadcaster with ``EventSource{Component: name}``; the
broadcaster passes every Event through an ``EventCorrelator`` before it writes. This
module makes the same three decisions, in the same order, for an :class:`Occurrence`
at time ``now``:

1. **Aggregation** of similar Events: those that differ only by message (same source,
   object, type and reason). Within ``max_interval`` seconds of the previous similar
   Event, once ``max_events`` different messages were seen, the Event is replaced by
   one whose message is ``"(combined from similar events): " + message``, all such
   Events updating one object.
2. **Counting** identical Events (the "logger"): the second and later occurrences of an
   Event become a patch of the first one's object (``count + 1``, ``lastTimestamp``,
   ``message``) instead of a new object.
3. **Spam filter**: a token bucket per source and object (and type), ``burst`` Events
   at once, refilled at ``qps`` (25, one per 5 minutes). A filtered Event is not
   written, but step 2 has counted it, so the next write's ``count`` includes it.

Each cache is an LRU of ``cache_size`` (4096) entries. Time comes in as arguments, so
tests drive it without a clock. Differences from client-go, on purpose:

- when aggregation drops one remembered message to stay under ``max_events``, it drops
  the oldest (Go drops a random one);
- a combined Event keeps ``reportingComponent``/``reportingInstance`` (Go's copy loses
  them, so ``kubectl describe`` would show no reporter for it);
- keys are tuples, not concatenated strings (which can collide in Go).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

LRU_SIZE = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0  # seconds
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0  # one Event every 5 minutes per source and object
COMBINED_PREFIX = "(combined from similar events): "

# metav1 DNS-1123 subdomain: what an Event's name must be.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

Key = tuple[str, ...]
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class ObjectRef:
    """The Event's ``involvedObject``."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = "v1"
    resource_version: str = ""
    field_path: str = ""


@dataclass(frozen=True)
class Source:
    """Who reports: ``source.component``/``source.host``, also written as
    ``reportingComponent``/``reportingInstance`` (as client-go's recorder does)."""

    component: str
    host: str = ""


@dataclass(frozen=True)
class Occurrence:
    """One Event a process wants recorded; ``at`` is its wall-clock time in seconds."""

    ref: ObjectRef
    source: Source
    type: str
    reason: str
    message: str
    at: float


@dataclass(frozen=True)
class Write:
    """What to send: a new Event object (``count == 1``) or a patch of ``name``.

    A patch carries ``count``, ``lastTimestamp`` and ``message``; the other fields are
    there to create the object again should it be gone (deleted, or expired by the
    apiserver's event TTL), as client-go does on a 404.
    """

    key: Key
    name: str
    namespace: str
    ref: ObjectRef
    source: Source
    type: str
    reason: str
    message: str
    count: int
    first: float
    last: float

    @property
    def update(self) -> bool:
        return self.count > 1


class _LRU(Generic[K, V]):
    """A mapping that forgets its least recently used entry beyond ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _TokenBucket:
    """golang.org/x/time/rate's Limiter as ``AllowN(now, 1)`` uses it; starts full."""

    tokens: float
    last: float

    def try_accept(self, now: float, qps: float, burst: int) -> bool:
        elapsed = max(now - self.last, 0.0)  # a clock that steps back refills nothing
        tokens = min(float(burst), self.tokens + elapsed * qps)
        # The tolerance absorbs float drift: 300 s at 1/300 per second must make a whole
        # token (Go's float32 qps rounds up, to the same effect).
        if tokens < 1.0 - 1e-9:
            return False  # nothing consumed, and ``last`` stays (as in Go)
        self.tokens, self.last = max(tokens - 1.0, 0.0), now
        return True


@dataclass
class _Similar:
    """Aggregation state: the messages seen (insertion order) and the last time."""

    messages: dict[str, None] = field(default_factory=dict)
    last: float = 0.0


@dataclass(frozen=True)
class _Logged:
    """What the last write of a key created or patched."""

    name: str
    count: int
    first: float


def spam_key(occ: Occurrence) -> Key:
    """client-go ``getSpamKey``: one token bucket per source, object and type."""
    r = occ.ref
    return (
        occ.source.component,
        occ.source.host,
        r.kind,
        r.namespace,
        r.name,
        r.uid,
        r.api_version,
        occ.type,
    )


def aggregate_key(occ: Occurrence) -> Key:
    """client-go ``EventAggregatorByReasonFunc``: similar Events share it (no message)."""
    return ("similar", *spam_key(occ), occ.reason)


def event_key(occ: Occurrence) -> Key:
    """client-go ``getEventKey``: identical Events share it (message included)."""
    return ("event", *spam_key(occ), occ.ref.field_path, occ.reason, occ.message)


def logged_key(occ: Occurrence) -> Key:
    """The key under which an existing Event object is counted: the aggregate key for a
    combined Event, else the Event's own key (to adopt objects written before a restart)."""
    if occ.message.startswith(COMBINED_PREFIX):
        return aggregate_key(occ)
    return event_key(occ)


def event_name(object_name: str, nanos: int) -> str:
    """``<object>.<unix nanoseconds in hex>``, as client-go's ``GenerateEventName``; a
    name that would not be valid is replaced by a hash of it (Go uses a random UUID)."""
    name = f"{object_name}.{nanos:x}"
    if len(name) <= 253 and _SUBDOMAIN.fullmatch(name):
        return name
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class EventCorrelator:
    """Filters, aggregates and counts Events (see the module docstring)."""

    def __init__(
        self,
        *,
        cache_size: int = LRU_SIZE,
        max_events: int = AGGREGATE_MAX_EVENTS,
        max_interval: float = AGGREGATE_INTERVAL,
        burst: int = SPAM_BURST,
        qps: float = SPAM_QPS,
    ) -> None:
        if cache_size < 1 or max_events < 1 or burst < 1 or qps <= 0:
            raise ValueError("cache_size, max_events, burst and qps must be positive")
        self.max_events, self.max_interval = max_events, max_interval
        self.burst, self.qps = burst, qps
        self._similar: _LRU[Key, _Similar] = _LRU(cache_size)
        self._logged: _LRU[Key, _Logged] = _LRU(cache_size)
        self._buckets: _LRU[Key, _TokenBucket] = _LRU(cache_size)
        self._nanos = 0  # the last name's timestamp

    def _new_name(self, object_name: str, at: float) -> str:
        # Strictly increasing nanoseconds: two Events about one object in the same
        # instant (a float time cannot tell them apart) must not share a name, or the
        # second create would be refused as AlreadyExists and the Event lost.
        self._nanos = max(int(at * 1_000_000_000), self._nanos + 1)
        return event_name(object_name, self._nanos)

    def correlate(self, occ: Occurrence, now: float) -> Write | None:
        """What to write for ``occ`` at time ``now``; None when the spam filter drops it."""
        key, occ = self._aggregate(occ, now)
        seen = self._logged.get(key)
        if seen is not None and seen.count > 0:
            name, count, first = seen.name, seen.count + 1, seen.first
        else:
            name, count, first = self._new_name(occ.ref.name, occ.at), 1, occ.at
        # Counted before the spam filter, as client-go: a dropped occurrence still
        # raises the count the next write carries.
        self._logged.put(key, _Logged(name, count, first))
        bucket_key = spam_key(occ)
        bucket = self._buckets.get(bucket_key) or _TokenBucket(float(self.burst), now)
        accepted = bucket.try_accept(now, self.qps, self.burst)
        self._buckets.put(bucket_key, bucket)
        if not accepted:
            return None
        return Write(
            key=key,
            name=name,
            namespace=occ.ref.namespace or "default",
            ref=occ.ref,
            source=occ.source,
            type=occ.type,
            reason=occ.reason,
            message=occ.message,
            count=count,
            first=first,
            last=occ.at,
        )

    def observed(self, key: Key, *, name: str, count: int, first: float) -> None:
        """The apiserver holds Event ``name`` with ``count`` under ``key`` (after a
        write, or found at start-up): later identical Events patch it."""
        self._logged.put(key, _Logged(name, count, first))

    def _aggregate(self, occ: Occurrence, now: float) -> tuple[Key, Occurrence]:
        """The logger key and the Occurrence to count: ``occ`` itself, or the combined
        Event once ``max_events`` different messages came within ``max_interval``."""
        akey = aggregate_key(occ)
        similar = self._similar.get(akey)
        if similar is None or now - similar.last > self.max_interval:
            similar = _Similar()
        similar.messages[occ.message] = None
        similar.last = now
        self._similar.put(akey, similar)
        if len(similar.messages) < self.max_events:
            return event_key(occ), occ
        # Remember at most max_events - 1 messages: every new message from now on, and
        # any forgotten one, is combined until the interval passes without one.
        del similar.messages[next(iter(similar.messages))]
        combined = Occurrence(
            ref=occ.ref,
            source=occ.source,
            type=occ.type,
            reason=occ.reason,
            message=COMBINED_PREFIX + occ.message,
            at=now,
        )
        return akey, combined
