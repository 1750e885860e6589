"""Indirect pings we run for other members: whom to forward the ack to, when to nack. Pure.

A member that got no ack from its target asks others to ping it (``indirectPingReq`` in
memberlist's ``net.go``). We ping the target with a sequence number of our own; its ack
is forwarded to the requester under the requester's number; if the requester asked for a
nack (protocol 4+) and no ack came within our probe timeout, we send one, so the
requester can tell its own network trouble from the target's.
"""

from __future__ import annotations

from dataclasses import dataclass

from metallb.membership.records import Address


@dataclass(slots=True)
class _Relay:
    requester: Address
    seq: int  # the requester's sequence number
    expires: float
    nack_at: float | None


class Relays:
    """Pending relays by our own sequence number."""

    def __init__(self) -> None:
        self._pending: dict[int, _Relay] = {}

    def add(
        self, ours: int, requester: Address, theirs: int, expires: float, nack_at: float | None
    ) -> None:
        self._pending[ours] = _Relay(requester, theirs, expires, nack_at)

    def acked(self, ours: int) -> tuple[Address, int] | None:
        """Where to forward the ack numbered ``ours`` (and under which number), if relayed."""
        relay = self._pending.pop(ours, None)
        return None if relay is None else (relay.requester, relay.seq)

    def due(self, now: float) -> list[tuple[Address, int]]:
        """Nacks to send at ``now``; forgets expired relays."""
        nacks = []
        for ours, relay in list(self._pending.items()):
            if relay.nack_at is not None and now >= relay.nack_at:
                relay.nack_at = None
                nacks.append((relay.requester, relay.seq))
            if relay.expires <= now:
                del self._pending[ours]
        return nacks

    def deadlines(self) -> list[float]:
        return [r.expires if r.nack_at is None else r.nack_at for r in self._pending.values()]
