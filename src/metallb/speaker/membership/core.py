"""The SWIM failure detector as a state machine: time and packets in, packets and events out.

:class:`Membership` never reads a clock, sleeps or touches a socket. The adapter
(:mod:`metallb.net.membership`) calls :meth:`~Membership.receive` for each datagram,
:meth:`~Membership.receive_stream` for each TCP frame, and :meth:`~Membership.tick` at
:meth:`~Membership.next_deadline`; each returns a :class:`Step` of encrypted payloads to
send and :class:`MemberEvent` values (member up / down) for the Layer 2 election. Tests
drive several cores over a fake network with explicit time.

Protocol (SWIM, Das et al. 2002, with its suspicion and piggybacking extensions):
each ``probe_interval`` ping the next member of a shuffled round-robin list; no ack within
``probe_timeout`` -> ask ``indirect_checks`` others to ping it (ping-req); still no ack at
the end of the interval -> gossip it as *suspect*; a suspect that does not refute (raise
its incarnation) within the suspicion timeout is declared *dead*. Joining and periodic
anti-entropy use a full state exchange over TCP (push-pull). Timing is argued in
:mod:`.config`; precedence of records in :mod:`.records`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from metallb.speaker.membership.config import MembershipConfig
from metallb.speaker.membership.crypto import DATAGRAM, STREAM, Envelope
from metallb.speaker.membership.effects import Counters, EventKind, MemberEvent, Send, Step
from metallb.speaker.membership.gossip import GossipQueue
from metallb.speaker.membership.records import Address, Record, State, supersedes
from metallb.speaker.membership.wire import (
    Ack,
    DropReason,
    Message,
    Packet,
    Ping,
    PingReq,
    PushPull,
    WireError,
    decode_packet,
    encode_packet,
)


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


@dataclass(frozen=True, slots=True)
class _Relay:
    requester: Address
    seq: int
    expires: float


def _gossip_target(m: _Member, horizon: float) -> bool:
    """Live members, and those declared dead after ``horizon`` (so they can learn it)."""
    return m.record.state.is_live or (m.record.state is State.DEAD and m.changed_at > horizon)


class Membership:
    """One member's view of the cluster. Every method takes ``now`` (seconds, monotonic)."""

    def __init__(
        self,
        name: str,
        address: Address,
        key: bytes,
        *,
        now: float,
        config: MembershipConfig | None = None,
        rng: random.Random | None = None,
        salt: bytes | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.config = config or MembershipConfig()
        self.counters = Counters()
        self._rng = rng or random.Random()
        self._env = Envelope(key, salt=salt)
        self._incarnation = 0
        self._left = False
        self._members: dict[str, _Member] = {
            name: _Member(Record(name, address, 0, State.ALIVE), now)
        }
        self._gossip = GossipQueue()
        self._seeds: list[Address] = []
        self._seq = self._rng.randrange(2**32)
        self._probe: _Probe | None = None
        self._probe_list: list[str] = []
        self._probe_index = 0
        self._relays: dict[int, _Relay] = {}
        # A random phase, so members started together do not probe in lockstep.
        self._next_probe = now + self._rng.uniform(0, self.config.probe_interval)
        self._next_gossip = now
        self._next_push_pull = now + self.config.rejoin_interval

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
        if self._gossip:
            times.append(self._next_gossip)
        if self._probe:
            times.append(self._probe.end)
            if not self._probe.indirect_sent:
                times.append(self._probe.ack_deadline)
        times.extend(m.suspect_deadline for m in self._members.values() if m.suspect_deadline)
        times.extend(r.expires for r in self._relays.values())
        return min(times)

    # -- commands ------------------------------------------------------------------------

    def join(self, seeds: Iterable[Address], now: float) -> Step:
        """Push our state to every seed over TCP; their replies (to :meth:`receive_stream`)
        tell us the cluster. The seeds are kept to rejoin through while we know no one."""
        step = Step()
        self._seeds = [s for s in dict.fromkeys(seeds) if s != self.address]
        # Announce ourselves by gossip too: the seed spreads us, and so do we.
        self._gossip.add(self._members[self.name].record)
        for seed in self._seeds:
            step.sends.append(Send(seed, self._push(join=True), stream=True))
        return step

    def leave(self, now: float) -> Step:
        """Announce a graceful leave to every live member at once; then go quiet."""
        step = Step()
        if self._left:
            return step
        self._left = True
        me = Record(self.name, self.address, self._incarnation, State.LEFT)
        self._members[self.name] = _Member(me, now)
        payload = self._seal(Packet(self.name, (me,)))
        step.sends.extend(Send(r.address, payload) for r in self._others(live_only=True))
        return step

    def receive(self, data: bytes, source: Address, now: float) -> Step:
        """Handle one datagram from ``source``."""
        step = Step()
        packet = self._open(data, DATAGRAM)
        if packet is None:
            return step
        # Records first: a ping that carries our suspicion gets an ack carrying our refutation.
        for m in packet.messages:
            if isinstance(m, Record):
                self._merge(m, now, step)
        for m in packet.messages:
            match m:
                case Ping(seq, target):
                    if target != self.name:
                        self.counters.dropped[DropReason.WRONG_TARGET] += 1
                        continue
                    step.sends.append(Send(source, self._datagram([Ack(seq)], packet.sender)))
                case Ack(seq):
                    self._on_ack(seq, step)
                case PingReq(seq, target, address):
                    relay_seq = self._next_seq()
                    expires = now + self.config.probe_interval
                    self._relays[relay_seq] = _Relay(source, seq, expires)
                    step.sends.append(
                        Send(address, self._datagram([Ping(relay_seq, target)], target))
                    )
                case PushPull():
                    self.counters.dropped[DropReason.UNEXPECTED] += 1
        return step

    def receive_stream(self, data: bytes, source: Address, now: float) -> Step:
        """Handle one TCP frame: a push (we set ``reply``) or the reply to our push."""
        step = Step()
        packet = self._open(data, STREAM)
        if packet is None:
            return step
        if len(packet.messages) != 1 or not isinstance(packet.messages[0], PushPull):
            self.counters.dropped[DropReason.UNEXPECTED] += 1
            return step
        push = packet.messages[0]
        refutations = self.counters.refutations
        for r in push.records:
            self._merge(r, now, step)
        self.counters.push_pulls += 1
        if not push.reply:
            step.reply = self._push(reply=True)
        elif self.counters.refutations != refutations:
            # The peer thought we were suspect or dead and has not seen our refutation:
            # push once more so it does (its reply cannot make us refute again).
            step.sends.append(Send(source, self._push(), stream=True))
        return step

    def tick(self, now: float) -> Step:
        """Run every timer that is due at ``now``."""
        step = Step()
        if self._left:
            return step
        self._expire_suspicions(now, step)
        self._relays = {s: r for s, r in self._relays.items() if r.expires > now}
        self._advance_probe(now, step)
        if self._gossip and now >= self._next_gossip:
            self._next_gossip = now + self.config.gossip_interval
            self._gossip_round(now, step)
        if now >= self._next_push_pull:
            self._push_pull_round(now, step)
        self._reap(now)
        return step

    # -- probing -------------------------------------------------------------------------

    def _advance_probe(self, now: float, step: Step) -> None:
        cfg, probe = self.config, self._probe
        if probe and not probe.indirect_sent and now >= probe.ack_deadline:
            probe.indirect_sent = True
            target = self._members.get(probe.target)
            if target and target.record.state.is_live:
                others = [r for r in self._others(live_only=True) if r.name != probe.target]
                helpers = self._rng.sample(others, min(cfg.indirect_checks, len(others)))
                req = PingReq(probe.seq, probe.target, target.record.address)
                for h in helpers:
                    step.sends.append(Send(h.address, self._datagram([req], h.name)))
                self.counters.indirect_probes_sent += len(helpers)
        if probe and now >= probe.end:
            self._probe = None
            self.counters.probe_failures += 1
            target = self._members.get(probe.target)
            if target and target.record.state is State.ALIVE:
                r = target.record
                self._merge(Record(r.name, r.address, r.incarnation, State.SUSPECT), now, step)
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
        step.sends.append(Send(target.address, self._datagram([Ping(seq, name)], name)))
        self.counters.probes_sent += 1

    def _next_target(self) -> str | None:
        for _ in range(2):
            while self._probe_index < len(self._probe_list):
                name = self._probe_list[self._probe_index]
                self._probe_index += 1
                m = self._members.get(name)
                if m and m.record.state.is_live:
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
        elif (relay := self._relays.pop(seq, None)) is not None:
            step.sends.append(Send(relay.requester, self._datagram([Ack(relay.seq)], None)))

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    # -- state ---------------------------------------------------------------------------

    def _merge(self, rec: Record, now: float, step: Step) -> None:
        """Apply one record by the precedence order; gossip it on if it was news."""
        if rec.name == self.name:
            self._refute(rec, now)
            return
        cur = self._members.get(rec.name)
        old = cur.record if cur else None
        if not supersedes(rec, old):
            return
        member = _Member(rec, now)
        if rec.state is State.SUSPECT:
            member.suspect_deadline = now + self.config.suspicion_timeout(len(self.members()))
            self.counters.suspicions += 1
        self._members[rec.name] = member
        self._gossip.add(rec)
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

    def _refute(self, rec: Record, now: float) -> None:
        """Someone says we are suspect or dead (or knows a newer life of our name): outbid it."""
        if self._left or rec.incarnation < self._incarnation:
            return
        if rec.state is State.ALIVE and rec.incarnation == self._incarnation:
            return
        self._incarnation = rec.incarnation + 1
        me = Record(self.name, self.address, self._incarnation, State.ALIVE)
        self._members[self.name] = _Member(me, now)
        self._gossip.add(me)
        self.counters.refutations += 1

    def _expire_suspicions(self, now: float, step: Step) -> None:
        for m in list(self._members.values()):
            if m.suspect_deadline is not None and now >= m.suspect_deadline:
                r = m.record
                self._merge(Record(r.name, r.address, r.incarnation, State.DEAD), now, step)

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

    # -- dissemination -------------------------------------------------------------------

    def _gossip_round(self, now: float, step: Step) -> None:
        horizon = now - self.config.gossip_to_dead
        targets = [
            m.record
            for n, m in self._members.items()
            if n != self.name and (_gossip_target(m, horizon))
        ]
        for r in self._rng.sample(targets, min(self.config.gossip_nodes, len(targets))):
            step.sends.append(Send(r.address, self._datagram([], r.name)))

    def _push_pull_round(self, now: float, step: Step) -> None:
        live = self._others(live_only=True)
        cfg = self.config
        self._next_push_pull = now + (cfg.push_pull_interval if live else cfg.rejoin_interval)
        # Dead (not left) members are candidates too: after a partition heals, this is how
        # the two sides find each other again.
        peers = [r.address for r in self._others(live_only=False) if r.state is not State.LEFT]
        candidates: Sequence[Address] = peers if peers else self._seeds
        if candidates:
            target = self._rng.choice(candidates)
            step.sends.append(Send(target, self._push(join=not live), stream=True))

    def _push(self, *, join: bool = False, reply: bool = False) -> bytes:
        records = tuple(m.record for m in self._members.values())
        return self._env.seal(
            encode_packet(Packet(self.name, (PushPull(records, join, reply),))), STREAM
        )

    def _datagram(self, messages: list[Message], dest: str | None) -> bytes:
        """Seal ``messages`` plus as much pending gossip as fits in one datagram.

        Anything we send to a member we suspect carries that suspicion, so it can refute
        at the first exchange, even once the gossip about it has run out of retransmits
        (for instance because it was sent while a link was down).
        """
        target = self._members.get(dest) if dest else None
        if target and target.record.state is State.SUSPECT:
            messages = [*messages, target.record]
        size = len(encode_packet(Packet(self.name, tuple(messages))))
        limit = self.config.retransmit_limit(len(self.members()))
        room = 255 - len(messages)
        gossip = self._gossip.take(self.config.max_packet - size, limit)[:room]
        return self._seal(Packet(self.name, (*messages, *gossip)))

    def _seal(self, packet: Packet) -> bytes:
        return self._env.seal(encode_packet(packet), DATAGRAM)

    def _open(self, data: bytes, channel: bytes) -> Packet | None:
        try:
            packet = decode_packet(self._env.open(data, channel))
        except WireError as exc:
            self.counters.dropped[exc.reason] += 1
            return None
        if self._left:
            self.counters.dropped[DropReason.LEFT] += 1
            return None
        return packet
