"""memberlist's failure detector as a state machine: time and packets in, packets and events out.

:class:`Membership` never reads a clock, sleeps or touches a socket. The adapter
(:mod:`metallb.net.membership`) calls :meth:`~Membership.receive` for each datagram,
:meth:`~Membership.receive_stream` for each TCP stream message, and
:meth:`~Membership.tick` at :meth:`~Membership.next_deadline`; each returns a
:class:`Step` of encrypted payloads to send and :class:`MemberEvent` values (member up /
down) for the Layer 2 election. Tests drive several cores over a fake network with
explicit time.

Protocol: hashicorp/memberlist v0.5.1 (``state.go``, ``net.go``), so upstream speakers
are members like ours. Each ``probe_interval`` ping the next member of a shuffled
round-robin list; no ack within ``probe_timeout`` -> ask ``indirect_checks`` alive
members to ping it (indirect ping, with a nack requested from members speaking protocol
4+); still no ack at the end of the interval -> broadcast *suspect*; a suspect that does
not refute (raise its incarnation above the suspected one) within the suspicion timeout
is declared *dead* by a broadcast any member accepts. Joining and periodic anti-entropy
use a full state exchange over TCP (push-pull, with the join flag), also sent to dead
members every ``reconnect_interval`` to heal a partition (:mod:`.sync`). Timing is ours
(:mod:`.config`), much faster than ``DefaultLANConfig``'s: a Go peer accepts our dead
broadcast whatever its own timers, so our detection drives theirs. Rules for applying
alive, suspect and dead are in :mod:`.records`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from metallb.codec.memberlist import (
    VSN,
    Ack,
    Alive,
    Dead,
    IndirectPing,
    Message,
    Nack,
    NodeState,
    Ping,
    PushNode,
    PushPull,
    Suspect,
    User,
    encode,
)
from metallb.membership.config import MembershipConfig
from metallb.membership.effects import Counters, EventKind, MemberEvent, Send, Step
from metallb.membership.gossip import COMPOUND_OVERHEAD, GossipQueue
from metallb.membership.records import (
    Address,
    Record,
    State,
    after_alive,
    after_dead,
    after_suspect,
)
from metallb.membership.relay import Relays
from metallb.membership.sync import push_pull_target, reconnect_target, state_messages
from metallb.membership.wire import DropReason, Wire, WireError

_T = TypeVar("_T")
_CRC_PROTOCOL = 5  # memberlist adds a CRC for members speaking protocol 5+
_NACK_PROTOCOL = 4  # and asks members speaking 4+ for a nack
_FRAMING = 2 + 5  # compound header and CRC header, kept out of the gossip budget


@dataclass(slots=True)
class _Member:
    record: Record
    changed_at: float
    suspect_deadline: float | None = None


@dataclass(slots=True)
class _Probe:
    seq: int
    target: str
    ack_deadline: float
    end: float
    indirect_sent: bool = False


def _gossip_target(m: _Member, horizon: float) -> bool:
    """Live members, and those declared dead after ``horizon`` (so they can learn it)."""
    return m.record.state.is_live or (m.record.state is State.DEAD and m.changed_at > horizon)


class Membership:
    """One member's view of the cluster. Every method takes ``now`` (seconds, monotonic).

    ``key`` is the AES key (:func:`~metallb.membership.crypto.derive_key`).
    """

    def __init__(
        self,
        name: str,
        address: Address,
        key: bytes,
        *,
        now: float,
        config: MembershipConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.config = config or MembershipConfig()
        self.counters = Counters()
        self._rng = rng or random.Random()
        self._wire = Wire(key)
        self._incarnation = 1  # memberlist's first alive is incarnation 1
        self._left = False
        self._members: dict[str, _Member] = {name: _Member(self._own(State.ALIVE), now)}
        self._gossip = GossipQueue()
        self._seeds: list[Address] = []
        self._seq = self._rng.randrange(2**32)
        self._probe: _Probe | None = None
        self._probe_list: list[str] = []
        self._probe_index = 0
        self._relays = Relays()
        # A random phase, so members started together do not probe in lockstep.
        self._next_probe = now + self._rng.uniform(0, self.config.probe_interval)
        self._next_gossip = now
        self._next_push_pull = now + self.config.rejoin_interval
        self._next_reconnect = now + self.config.reconnect_interval

    # -- queries -------------------------------------------------------------------------

    def members(self) -> list[Record]:
        """Live members (alive or suspect), ourselves included, sorted by name."""
        return sorted(
            (m.record for m in self._members.values() if m.record.state.is_live),
            key=lambda r: r.name,
        )

    def record(self, name: str) -> Record | None:
        m = self._members.get(name)
        return m.record if m else None

    @property
    def incarnation(self) -> int:
        return self._incarnation

    @property
    def left(self) -> bool:
        return self._left

    def next_deadline(self) -> float:
        """When :meth:`tick` next has work (it may be in the past: call it now)."""
        if self._left:
            return float("inf")
        times = [self._next_probe, self._next_push_pull]
        if self.config.reconnect_interval:
            times.append(self._next_reconnect)
        if self._gossip:
            times.append(self._next_gossip)
        if self._probe:
            times.append(self._probe.end)
            if not self._probe.indirect_sent:
                times.append(self._probe.ack_deadline)
        times.extend(m.suspect_deadline for m in self._members.values() if m.suspect_deadline)
        times.extend(self._relays.deadlines())
        return min(times)

    # -- commands ------------------------------------------------------------------------

    def join(self, seeds: Iterable[Address], now: float) -> Step:
        """Push our state to every seed over TCP (join flag set); their replies (to
        :meth:`receive_stream`) tell us the cluster. The seeds are kept to rejoin through
        while we know no one."""
        step = Step()
        self._seeds = [s for s in dict.fromkeys(seeds) if s != self.address]
        self._gossip.add(self.name, encode(self._alive_message()))
        for seed in self._seeds:
            step.sends.append(Send(seed, self._push(join=True), stream=True))
        return step

    def leave(self, now: float) -> Step:
        """Announce a graceful leave (dead, From = ourselves) to every live member at once."""
        step = Step()
        if self._left:
            return step
        self._left = True
        self._members[self.name] = _Member(self._own(State.LEFT), now)
        bye = encode(Dead(self._incarnation, self.name, self.name))
        for r in self._others(live_only=True):
            step.sends.append(Send(r.address, self._wire.seal_packet([bye], crc=_crc(r))))
        return step

    def receive(self, data: bytes, source: Address, now: float) -> Step:
        """Handle one datagram from ``source``."""
        step = Step()
        messages = self._open(self._wire.open_packet, data)
        if messages is None:
            return step
        # State first: a ping that carries our suspicion gets an ack carrying our refutation.
        for m in messages:
            self._apply(m, now, step)
        for m in messages:
            match m:
                case Ping(seq, target, reply_to, _):
                    if target and target != self.name:
                        self.counters.dropped[DropReason.WRONG_TARGET] += 1
                        continue
                    self._send(step, reply_to or source, [Ack(seq)])
                case Ack(seq):
                    self._on_ack(seq, step)
                case IndirectPing():
                    self._relay(m, source, now, step)
                case User():
                    self.counters.dropped[DropReason.USER] += 1
        return step

    def receive_stream(
        self, data: bytes, source: Address, now: float, *, reply: bool = False
    ) -> Step:
        """Handle one TCP stream message: a push-pull or a ping from a peer (we set
        ``Step.reply``), or (``reply``) the answer to a push-pull we sent."""
        step = Step()
        message = self._open(self._wire.open_stream, data)
        if message is None:
            return step
        match message:
            case PushPull(join, nodes, _):
                refutations = self.counters.refutations
                self._merge_state(nodes, now, step)
                self.counters.push_pulls += 1
                if not reply:
                    step.reply = self._push(join=join)
                elif self.counters.refutations != refutations:
                    # The peer thought we were suspect or dead and has not seen our
                    # refutation: push once more so it does.
                    step.sends.append(Send(source, self._push(), stream=True))
            case Ping(seq, target, _, _) if not reply:
                # A Go peer's TCP fallback probe: the ack goes back on the stream.
                if target and target != self.name:
                    self.counters.dropped[DropReason.WRONG_TARGET] += 1
                else:
                    step.reply = self._wire.seal_stream(Ack(seq))
            case User():
                self.counters.dropped[DropReason.USER] += 1
            case _:
                self.counters.dropped[DropReason.UNEXPECTED] += 1
        return step

    def _open(self, opener: Callable[[bytes], _T], data: bytes) -> _T | None:
        """Open and decode with ``opener``; count what is dropped, and everything once left."""
        try:
            out = opener(data)
        except WireError as exc:
            self.counters.dropped[exc.reason] += 1
            return None
        if self._left:
            self.counters.dropped[DropReason.LEFT] += 1
            return None
        return out

    def tick(self, now: float) -> Step:
        """Run every timer that is due at ``now``."""
        step = Step()
        if self._left:
            return step
        self._expire_suspicions(now, step)
        for requester, seq in self._relays.due(now):
            self._send(step, requester, [Nack(seq)])
        self._advance_probe(now, step)
        if self._gossip and now >= self._next_gossip:
            self._next_gossip = now + self.config.gossip_interval
            self._gossip_round(now, step)
        if now >= self._next_push_pull:
            self._push_pull_round(now, step)
        if self.config.reconnect_interval and now >= self._next_reconnect:
            self._reconnect(now, step)
        self._reap(now)
        return step

    # -- probing -------------------------------------------------------------------------

    def _advance_probe(self, now: float, step: Step) -> None:
        cfg, probe = self.config, self._probe
        if probe and not probe.indirect_sent and now >= probe.ack_deadline:
            probe.indirect_sent = True
            target = self._members.get(probe.target)
            if target and target.record.state.is_live:
                others = [
                    r
                    for r in self._others(live_only=True)
                    if r.name != probe.target and r.state is State.ALIVE
                ]
                helpers = self._rng.sample(others, min(cfg.indirect_checks, len(others)))
                for h in helpers:
                    req = IndirectPing(
                        probe.seq,
                        target.record.address,
                        probe.target,
                        h.protocol_max >= _NACK_PROTOCOL,
                        self.address,
                        self.name,
                    )
                    self._send(step, h.address, [req])
                self.counters.indirect_probes_sent += len(helpers)
        if probe and now >= probe.end:
            self._probe = None
            self.counters.probe_failures += 1
            target = self._members.get(probe.target)
            if target:
                r = target.record
                self._accuse(Suspect(r.incarnation, r.name, self.name), now, step)
        if now >= self._next_probe:
            self._next_probe += cfg.probe_interval
            if self._next_probe <= now:  # after a stall, resume the cadence; do not burst
                self._next_probe = now + cfg.probe_interval
            self._start_probe(now, step)

    def _start_probe(self, now: float, step: Step) -> None:
        name = self._next_target()
        if name is None:
            return
        target = self._members[name].record
        seq = self._next_seq()
        cfg = self.config
        self._probe = _Probe(seq, name, now + cfg.probe_timeout, now + cfg.probe_interval)
        self._send(step, target.address, [Ping(seq, name, self.address, self.name)])
        self.counters.probes_sent += 1

    def _next_target(self) -> str | None:
        for _ in range(2):
            while self._probe_index < len(self._probe_list):
                name = self._probe_list[self._probe_index]
                self._probe_index += 1
                m = self._members.get(name)
                if m and m.record.state.is_live and name != self.name:
                    return name
            self._probe_list = [r.name for r in self._others(live_only=True)]
            self._rng.shuffle(self._probe_list)
            self._probe_index = 0
            if not self._probe_list:
                return None
        return None

    def _on_ack(self, seq: int, step: Step) -> None:
        if self._probe and self._probe.seq == seq:
            self._probe = None
            self.counters.acks_received += 1
        elif (relayed := self._relays.acked(seq)) is not None:
            self._send(step, relayed[0], [Ack(relayed[1])])

    def _relay(self, req: IndirectPing, source: Address, now: float, step: Step) -> None:
        """Ping ``req.target`` for the requester; forward its ack, or a nack if asked."""
        seq = self._next_seq()
        nack_at = now + self.config.probe_timeout if req.nack else None
        requester = req.source or source
        self._relays.add(seq, requester, req.seq, now + self.config.probe_interval, nack_at)
        self._send(step, req.target, [Ping(seq, req.node, self.address, self.name)])

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    # -- state ---------------------------------------------------------------------------

    def _own(self, state: State) -> Record:
        return Record(self.name, self.address, self._incarnation, state)

    def _alive_message(self) -> Alive:
        return Alive(self._incarnation, self.name, self.address, b"", VSN)

    def _apply(self, m: Message, now: float, step: Step) -> None:
        match m:
            case Alive():
                self._alive(m, now, step)
            case Suspect() | Dead():
                self._accuse(m, now, step)

    def _alive(self, a: Alive, now: float, step: Step) -> None:
        if not a.node:
            return
        if a.node == self.name:
            same = a.incarnation == self._incarnation and not a.meta and a.vsn == VSN
            if not (self._left or a.incarnation < self._incarnation or same):
                self._refute(a.incarnation, now)
            return
        if (rec := after_alive(a, self.record(a.node))) is not None:
            self._set(rec, encode(a), now, step)

    def _accuse(self, m: Suspect | Dead, now: float, step: Step) -> None:
        """A suspect or dead message: refute it if about us, else apply memberlist's rule."""
        if m.node == self.name:
            if not self._left and m.incarnation >= self._incarnation:
                self._refute(m.incarnation, now)
            return
        cur = self.record(m.node)
        rec = after_suspect(m, cur) if isinstance(m, Suspect) else after_dead(m, cur)
        if rec is not None:
            self._set(rec, encode(m), now, step)

    def _set(self, rec: Record, message: bytes, now: float, step: Step) -> None:
        """Store a record that a message changed; gossip the message on; emit events."""
        cur = self._members.get(rec.name)
        old = cur.record if cur else None
        member = _Member(rec, now)
        if rec.state is State.SUSPECT:
            member.suspect_deadline = now + self.config.suspicion_timeout(len(self.members()))
            self.counters.suspicions += 1
        self._members[rec.name] = member
        self._gossip.add(rec.name, message)
        was_live = old is not None and old.state.is_live
        if rec.state is State.DEAD:
            self.counters.deaths += 1
        elif rec.state is State.LEFT:
            self.counters.leaves += 1
        if rec.state.is_live and not was_live:
            step.events.append(MemberEvent(EventKind.UP, rec.name, rec.address, rec.state))
            pos = self._rng.randint(self._probe_index, len(self._probe_list))
            self._probe_list.insert(pos, rec.name)  # probe a newcomer within one round
        elif was_live and not rec.state.is_live:
            step.events.append(MemberEvent(EventKind.DOWN, rec.name, rec.address, rec.state))
        elif was_live and old is not None and old.address != rec.address:
            step.events.append(MemberEvent(EventKind.UPDATE, rec.name, rec.address, rec.state))

    def _refute(self, accused: int, now: float) -> None:
        """Someone says we are suspect or dead at ``accused``: outbid it (``refute``)."""
        self._incarnation = max(self._incarnation + 1, accused + 1)
        self._members[self.name] = _Member(self._own(State.ALIVE), now)
        self._gossip.add(self.name, encode(self._alive_message()))
        self.counters.refutations += 1

    def _merge_state(self, nodes: Sequence[PushNode], now: float, step: Step) -> None:
        """A peer's full state, as ``mergeState``: its dead are only suspects to us."""
        for m in state_messages(nodes, self.name):
            self._apply(m, now, step)

    def _expire_suspicions(self, now: float, step: Step) -> None:
        for m in list(self._members.values()):
            if m.suspect_deadline is not None and now >= m.suspect_deadline:
                m.suspect_deadline = None
                r = m.record
                self._accuse(Dead(r.incarnation, r.name, self.name), now, step)

    def _reap(self, now: float) -> None:
        horizon = now - self.config.dead_retention
        for name in [n for n, m in self._members.items() if m.changed_at < horizon]:
            if not self._members[name].record.state.is_live:
                del self._members[name]

    def _others(self, *, live_only: bool) -> list[Record]:
        return [
            m.record
            for n, m in self._members.items()
            if n != self.name and (m.record.state.is_live or not live_only)
        ]

    # -- sending -------------------------------------------------------------------------

    def _gossip_round(self, now: float, step: Step) -> None:
        horizon = now - self.config.gossip_to_dead
        targets = [
            m.record
            for n, m in self._members.items()
            if n != self.name and _gossip_target(m, horizon)
        ]
        for r in self._rng.sample(targets, min(self.config.gossip_nodes, len(targets))):
            self._send(step, r.address, [])

    def _push_pull_round(self, now: float, step: Step) -> None:
        live = self._others(live_only=True)
        cfg = self.config
        self._next_push_pull = now + (cfg.push_pull_interval if live else cfg.rejoin_interval)
        target = push_pull_target(self._others(live_only=False), self._seeds, self._rng)
        if target is not None:
            step.sends.append(Send(target, self._push(join=not live), stream=True))

    def _reconnect(self, now: float, step: Step) -> None:
        """Push-pull with a dead member (:mod:`.sync`): it learns it was declared dead and
        refutes, and we learn of its refutation from the reply."""
        self._next_reconnect = now + self.config.reconnect_interval
        if (target := reconnect_target(self._others(live_only=False), self._rng)) is not None:
            step.sends.append(Send(target, self._push(), stream=True))

    def _push(self, *, join: bool = False) -> bytes:
        nodes = tuple(
            PushNode(r.name, r.address, r.incarnation, NodeState(r.state), r.meta, r.vsn)
            for r in (m.record for m in self._members.values())
        )
        return self._wire.seal_stream(PushPull(join, nodes))

    def _send(self, step: Step, to: Address, messages: list[Message]) -> None:
        """Send ``messages`` plus as much pending gossip as fits in one datagram.

        Anything we send to a member we suspect carries that suspicion, so it can refute
        at the first exchange, even once the gossip about it has run out of retransmits
        (for instance because it was sent while a link was down), as memberlist's probe does.
        """
        target = self._member_at(to)
        parts = [encode(m) for m in messages]
        if target is not None and target.state is State.SUSPECT:
            parts.append(encode(Suspect(target.incarnation, target.name, self.name)))
        used = sum(len(p) + COMPOUND_OVERHEAD for p in parts) + _FRAMING
        limit = self.config.retransmit_limit(len(self.members()))
        parts += self._gossip.take(self.config.max_packet - used, limit, 255 - len(parts))
        if parts:
            payload = self._wire.seal_packet(parts, crc=target is not None and _crc(target))
            step.sends.append(Send(to, payload))

    def _member_at(self, address: Address) -> Record | None:
        for m in self._members.values():
            if m.record.address == address and m.record.name != self.name:
                return m.record
        return None


def _crc(r: Record) -> bool:
    return r.protocol_max >= _CRC_PROTOCOL
