"""What a membership core call produces: sends, member events, and counters. Pure values.

The adapter applies a :class:`Step` (sends the payloads, publishes the events) and
exports :class:`Counters` as metrics; tests assert on them directly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from metallb.codec.memberlist import DropReason
from metallb.membership.records import Address, State


@dataclass(frozen=True, slots=True)
class Send:
    """An encrypted payload for ``to``: a datagram, or (``stream``) a push-pull over TCP
    (the adapter reads one stream message back and hands it to ``receive_stream``)."""

    to: Address
    payload: bytes
    stream: bool = False


class EventKind(StrEnum):
    UP = "up"  # a member became live (alive or suspect)
    DOWN = "down"  # a live member became dead or left
    UPDATE = "update"  # a live member changed address


@dataclass(frozen=True, slots=True)
class MemberEvent:
    kind: EventKind
    name: str
    address: Address
    state: State


@dataclass(slots=True)
class Step:
    """What one call produced; ``reply`` answers a push-pull on the same TCP connection."""

    sends: list[Send] = field(default_factory=list)
    events: list[MemberEvent] = field(default_factory=list)
    reply: bytes | None = None


@dataclass(slots=True)
class Counters:
    """Monotonic counts since start; the adapter publishes them as metrics."""

    probes_sent: int = 0
    acks_received: int = 0
    indirect_probes_sent: int = 0
    probe_failures: int = 0  # our own probes that ended with no ack (we raised a suspicion)
    suspicions: int = 0  # members marked suspect here (raised by us or heard)
    refutations: int = 0  # suspicions or deaths of ourselves we refuted
    deaths: int = 0  # members marked dead here
    leaves: int = 0  # members that left gracefully
    push_pulls: int = 0  # state exchanges completed (either side)
    dropped: Counter[DropReason] = field(default_factory=Counter)
