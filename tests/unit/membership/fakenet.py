"""An in-memory network of membership cores with explicit time, for the unit tests.

A discrete-event simulation: the next thing to happen is either a packet arriving or a
core's timer (:meth:`Membership.next_deadline`); time jumps straight to it. Faults are
explicit: a crashed member neither ticks nor receives; a partition drops packets between
groups; a per-sender delay slows one member's packets; a stall freezes a member (like a
GC pause or a starved process: its packets wait in the "socket buffer" and are handled,
with its timers, when the stall ends). Every run is bounded in simulated time and steps.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from metallb.membership import (
    Address,
    MemberEvent,
    Membership,
    MembershipConfig,
    State,
    Step,
    derive_key,
)

KEY = derive_key(b"c2VjcmV0LWtleS0xMjM0NQ")
LATENCY = 0.0005  # a LAN round trip is about 1 ms


@dataclass(order=True)
class _Delivery:
    at: float
    seq: int
    src: str = field(compare=False)
    dst: Address = field(compare=False)
    payload: bytes = field(compare=False)
    stream: bool = field(compare=False, default=False)
    # For a stream push, the reply goes back to the sender; for a reply, nothing more.
    reply: bool = field(compare=False, default=False)


@dataclass
class Observed:
    at: float
    observer: str
    event: MemberEvent


class FakeNet:
    """Several cores joined by a simulated LAN."""

    def __init__(self, config: MembershipConfig | None = None, seed: int = 0) -> None:
        self.config = config or MembershipConfig()
        self.rng = random.Random(seed)
        self.now = 0.0
        self.nodes: dict[str, Membership] = {}
        self.by_addr: dict[Address, str] = {}
        self.crashed: set[str] = set()
        self.stalled_until: dict[str, float] = {}
        self.blocked: set[frozenset[str]] = set()
        self.delay: dict[str, float] = {}
        self.loss: Callable[[str, str], bool] = lambda _src, _dst: False
        self.events: list[Observed] = []
        self.sent = 0
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()

    # -- building ------------------------------------------------------------------------

    @classmethod
    def started(
        cls, *names: str, config: MembershipConfig | None = None, seed: int = 0, run: float = 1.0
    ) -> FakeNet:
        """A network of members ``names`` (each joining through the first), run ``run`` s."""
        net = cls(config, seed=seed)
        for name in names:
            net.add(name)
        net.run(run)
        return net

    def add(self, name: str, *, key: bytes = KEY, join: bool = True) -> Membership:
        """A new member; it joins through the first member added unless ``join`` is false."""
        address = (f"192.0.2.{len(self.nodes) + 1}", 7946)
        core = Membership(
            name,
            address,
            key,
            now=self.now,
            config=self.config,
            rng=random.Random(self.rng.random()),
        )
        seeds = [m.address for m in self.nodes.values()][:1]
        self.nodes[name] = core
        self.by_addr[address] = name
        if join and seeds:
            self.apply(name, core.join(seeds, self.now))
        return core

    # -- faults --------------------------------------------------------------------------

    def crash(self, name: str) -> None:
        self.crashed.add(name)

    def partition(self, *groups: set[str]) -> None:
        """Cut every pair of members that are in different groups."""
        for a, b in itertools.combinations(groups, 2):
            self.blocked.update(frozenset((x, y)) for x in a for y in b)

    def heal(self) -> None:
        self.blocked.clear()

    def stall(self, name: str, seconds: float) -> None:
        self.stalled_until[name] = self.now + seconds

    def _cut(self, src: str, dst: str) -> bool:
        return dst in self.crashed or frozenset((src, dst)) in self.blocked or self.loss(src, dst)

    # -- running -------------------------------------------------------------------------

    def apply(self, name: str, step: Step, *, reply_to: Address | None = None) -> None:
        for ev in step.events:
            self.events.append(Observed(self.now, name, ev))
        at = self.now + LATENCY + self.delay.get(name, 0.0)
        for s in step.sends:
            self.sent += 1
            d = _Delivery(at, next(self._seq), name, s.to, s.payload, s.stream)
            heapq.heappush(self._queue, d)
        if step.reply is not None and reply_to is not None:
            d = _Delivery(at, next(self._seq), name, reply_to, step.reply, True, reply=True)
            heapq.heappush(self._queue, d)

    def _deliver(self, d: _Delivery) -> None:
        dst = self.by_addr.get(d.dst)
        if dst is None or d.src in self.crashed or self._cut(d.src, dst):
            return
        until = self.stalled_until.get(dst, 0.0)
        if until > self.now:  # the packet waits in the socket buffer
            d.at = until
            heapq.heappush(self._queue, d)
            return
        core, src_addr = self.nodes[dst], self.nodes[d.src].address
        if not d.stream:
            self.apply(dst, core.receive(d.payload, src_addr, self.now))
        else:
            step = core.receive_stream(d.payload, src_addr, self.now, reply=d.reply)
            self.apply(dst, step, reply_to=None if d.reply else src_addr)

    def run(self, seconds: float, max_steps: int = 2_000_000) -> None:
        """Advance simulated time by ``seconds``."""
        end = self.now + seconds
        for _ in range(max_steps):
            live = [n for n in self.nodes if n not in self.crashed]
            timers = [
                (max(self.nodes[n].next_deadline(), self.stalled_until.get(n, 0.0)), n)
                for n in live
            ]
            t_timer, who = min(timers) if timers else (float("inf"), "")
            t_packet = self._queue[0].at if self._queue else float("inf")
            t = min(t_timer, t_packet)
            if t > end:
                self.now = end
                return
            self.now = max(self.now, t)
            if t_packet <= t_timer:
                self._deliver(heapq.heappop(self._queue))
            else:
                self.apply(who, self.nodes[who].tick(self.now))
        raise AssertionError("simulation did not finish within max_steps")

    # -- observing -----------------------------------------------------------------------

    def view(self, name: str) -> dict[str, State]:
        """Who ``name`` considers live, with their state."""
        return {r.name: r.state for r in self.nodes[name].members()}

    def live_names(self) -> set[str]:
        return set(self.nodes) - self.crashed

    def converged(self) -> bool:
        """Every running member sees exactly the running members, all alive."""
        want = {n: State.ALIVE for n in self.live_names()}
        return all(self.view(n) == want for n in self.live_names())

    def down_at(self, observer: str, name: str) -> float | None:
        for o in self.events:
            if o.observer == observer and o.event.name == name and o.event.kind == "down":
                return o.at
        return None
