"""Membership records and the precedence rule that merges them.

A :class:`Record` is one member's state as gossiped and synced: name (the node name),
address, incarnation number and state. Every member merges the records it hears with
:func:`supersedes`, which is SWIM's precedence written as an order: a record wins if
``(incarnation, state rank)`` is greater, with ranks alive < suspect < dead < left. So

* alive(i) overrides suspect(j) and dead(j) only if i > j (only the member itself raises
  its incarnation, so only it can refute a suspicion or death);
* suspect(i) overrides alive(j) if i >= j;
* dead(i) overrides alive(j) and suspect(j) if i >= j.

Because merging keeps the maximum of a total order, the result does not depend on the
order or repetition of messages: members that have heard the same records agree, which
the convergence tests rely on. For that, a dead or left record of a member we have never
heard of is kept too (a tombstone: no event, forgotten after ``dead_retention``);
otherwise an older "alive" arriving after it would revive the member here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# (host, port): an IPv4 or IPv6 address in text form and a UDP/TCP port.
Address = tuple[str, int]


class State(IntEnum):
    """A member's state; the value is its rank in the precedence order."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3  # dead by its own announcement (graceful leave)

    @property
    def is_live(self) -> bool:
        """Alive or suspect: still a candidate for the Layer 2 election (as upstream)."""
        return self in (State.ALIVE, State.SUSPECT)


@dataclass(frozen=True, slots=True)
class Record:
    """One member as the cluster knows it."""

    name: str
    address: Address
    incarnation: int
    state: State

    @property
    def order(self) -> tuple[int, int]:
        return (self.incarnation, int(self.state))


def supersedes(new: Record, old: Record | None) -> bool:
    """Whether ``new`` replaces ``old`` (``None``: the member is unknown)."""
    return old is None or new.order > old.order
