"""The queue of membership messages waiting to be gossiped. Pure.

memberlist disseminates alive, suspect and dead messages by piggybacking them on every
packet it sends and by a gossip timer (``broadcast.go``, ``queue.go``). Each message is
sent ``retransmit_mult * ceil(log10(n + 1))`` times (:meth:`MembershipConfig.retransmit_limit`):
with each member forwarding what it learns, that reaches every member with high
probability (infection-style dissemination), and the queue stays bounded. Messages sent
fewer times go first, so news is not starved by old ones, and a newer message about a
member replaces the queued one (memberlist invalidates broadcasts by node name too).
"""

from __future__ import annotations

from dataclasses import dataclass

COMPOUND_OVERHEAD = 2  # the u16 length of each part of a compound message


@dataclass(slots=True)
class _Pending:
    message: bytes  # one encoded message
    sent: int = 0


class GossipQueue:
    """Encoded messages to piggyback, one per member, each until sent ``limit`` times."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, name: str, message: bytes) -> None:
        """Queue ``message`` about member ``name``, replacing anything queued about it."""
        self._pending[name] = _Pending(message)

    def take(self, budget: int, limit: int, most: int) -> list[bytes]:
        """Up to ``most`` messages fitting in ``budget`` bytes (with compound overhead),
        least-sent first; each counts as one send."""
        chosen: list[bytes] = []
        for name, item in sorted(self._pending.items(), key=lambda kv: kv[1].sent):
            size = len(item.message) + COMPOUND_OVERHEAD
            if len(chosen) >= most:
                break
            if size > budget:
                continue
            budget -= size
            chosen.append(item.message)
            item.sent += 1
            if item.sent >= limit:
                del self._pending[name]
        return chosen
