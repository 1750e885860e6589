"""The queue of membership updates waiting to be gossiped. Pure.

SWIM disseminates updates by piggybacking them on the probe traffic (and, here, on a
short gossip timer while anything is pending). Each update is sent a limited number of
times, ``lambda * log(n)`` (:meth:`MembershipConfig.retransmit_limit`): with each member
forwarding what it learns, that many sends reach every member with high probability
(infection-style dissemination), and the queue stays bounded. Updates sent fewer times go
first, so a new update is not starved by old ones, and a newer record for a member
replaces the queued one (there is no point spreading stale news).
"""

from __future__ import annotations

from dataclasses import dataclass

from metallb.speaker.membership.records import Record
from metallb.speaker.membership.wire import encode_message


@dataclass(slots=True)
class _Pending:
    record: Record
    size: int
    sent: int = 0


class GossipQueue:
    """Records to piggyback, each until it has been sent ``limit`` times."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, record: Record) -> None:
        """Queue ``record``, replacing anything queued for the same member."""
        self._pending[record.name] = _Pending(record, len(encode_message(record)))

    def take(self, budget: int, limit: int) -> list[Record]:
        """Records fitting in ``budget`` bytes, least-sent first; each counts as one send."""
        chosen: list[Record] = []
        for name, item in sorted(self._pending.items(), key=lambda kv: kv[1].sent):
            if item.size > budget:
                continue
            budget -= item.size
            chosen.append(item.record)
            item.sent += 1
            if item.sent >= limit:
                del self._pending[name]
        return chosen
