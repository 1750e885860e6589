"""Membership records: one member's state as this member knows it. Pure values.

A :class:`Record` is what memberlist calls a node state (``state.go``): name (the node
name), address, incarnation, state, and the metadata and protocol versions the member
announced. Which message may change a record follows memberlist's rules, applied in
:mod:`.core`:

* ``alive(i)`` replaces a record only if ``i`` is greater (only the member itself raises
  its incarnation, so only it can refute a suspicion or death), or if the record is
  *left* and the address changed (a new machine took the name); an address change of a
  member that did not leave is a conflict and is ignored;
* ``suspect(i)`` applies only to an *alive* record with incarnation ``<= i``;
* ``dead(i)`` applies to an alive or suspect record with incarnation ``<= i``; it means
  *left* when the member announced it itself (``From`` equals ``Node``);
* suspect and dead messages about a member never heard of are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from metallb.codec.memberlist import VSN, Alive, Dead, Suspect

# (host, port): an IPv4 or IPv6 address in text form and a UDP/TCP port.
Address = tuple[str, int]


class State(IntEnum):
    """A member's state; the values are memberlist's ``NodeStateType``."""

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
    meta: bytes = b""  # upstream's speaker sets no delegate: always empty
    vsn: bytes = VSN  # PMin, PMax, PCur, DMin, DMax, DCur

    @property
    def protocol_max(self) -> int:
        """The newest memberlist protocol the member speaks (``PMax``)."""
        return self.vsn[1]


def after_alive(a: Alive, cur: Record | None) -> Record | None:
    """The record an alive message about another member makes, or None if it is ignored."""
    if cur is not None:
        if cur.address != a.address:
            if cur.state is not State.LEFT:
                return None  # a conflict: memberlist keeps the member it knows
        elif a.incarnation <= cur.incarnation:
            return None
    return Record(a.node, a.address, a.incarnation, State.ALIVE, a.meta, a.vsn)


def after_suspect(s: Suspect, cur: Record | None) -> Record | None:
    if cur is None or s.incarnation < cur.incarnation or cur.state is not State.ALIVE:
        return None
    return replace(cur, incarnation=s.incarnation, state=State.SUSPECT)


def after_dead(d: Dead, cur: Record | None) -> Record | None:
    if cur is None or d.incarnation < cur.incarnation or not cur.state.is_live:
        return None
    state = State.LEFT if d.sender == d.node else State.DEAD
    return replace(cur, incarnation=d.incarnation, state=state)
