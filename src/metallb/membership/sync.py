"""Anti-entropy: whom a full state exchange (push-pull) goes to, and how a peer's state is
read. Pure.

memberlist's push-pull (``state.go``: ``pushPull``, ``mergeState``) sends the whole member
table over TCP to one random live member every interval, and merges the table it gets
back as alive, suspect and dead messages; a peer's *dead* is only a suspicion to us (we
give the member a chance to refute). Ours differs in whom it picks, never in what it
sends, so memberlist peers answer it as their own:

* the periodic round also picks dead (not left) members, and the seeds while we know no
  one (:func:`push_pull_target`);
* a faster *reconnect* round picks only dead members (:func:`reconnect_target`): after a
  partition heals, each side holds the other dead and probes only the live, so without
  it they meet only at the next periodic round (up to ``push_pull_interval``) or when
  the speaker re-joins its seeds (every minute, ``k8s/speaker_seeds.py``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from metallb.codec.memberlist import Alive, Dead, NodeState, PushNode, Suspect
from metallb.membership.records import Address, Record, State


def push_pull_target(
    others: Sequence[Record], seeds: Sequence[Address], rng: random.Random
) -> Address | None:
    """A random member we have not seen leave, else a random seed; None if neither."""
    peers = [r.address for r in others if r.state is not State.LEFT]
    candidates = peers or seeds
    return rng.choice(candidates) if candidates else None


def reconnect_target(others: Sequence[Record], rng: random.Random) -> Address | None:
    """A random member we declared dead (a left one said goodbye: it is not retried)."""
    dead = [r.address for r in others if r.state is State.DEAD]
    return rng.choice(dead) if dead else None


def state_messages(nodes: Sequence[PushNode], observer: str) -> list[Alive | Suspect | Dead]:
    """A peer's member table as the messages ``observer`` applies, as ``mergeState``:
    alive as alive, left as its own goodbye, dead as a suspicion raised by us."""
    out: list[Alive | Suspect | Dead] = []
    for n in nodes:
        if n.state is NodeState.ALIVE:
            out.append(Alive(n.incarnation, n.name, n.address, n.meta, n.vsn))
        elif n.state is NodeState.LEFT:
            out.append(Dead(n.incarnation, n.name, n.name))
        else:
            out.append(Suspect(n.incarnation, n.name, observer))
    return out
