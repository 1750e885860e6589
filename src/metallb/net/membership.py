"""Membership transport: runs the pure memberlist core on UDP and TCP port 7946 (asyncio).

:class:`MembershipNode` owns one UDP socket (ping, indirect ping, ack, nack, gossip), one
TCP listener (join and periodic full-state push-pull, and the TCP ping of Go peers: one
memberlist stream message each way per connection, ``encrypt | u32 length | envelope``,
see :mod:`metallb.membership.wire`) and one timer task that calls the core's
``tick`` at its ``next_deadline``.
It only moves bytes and time: every decision is the core's
(:class:`metallb.membership.Membership`). Membership changes reach the speaker
as :class:`MemberEvent` values, through :meth:`MembershipNode.events` (an async iterator)
or listeners added with :meth:`MembershipNode.add_listener`; the speaker re-runs the
Layer 2 election on each. Counters are exposed by :meth:`MembershipNode.stats` for the
metrics server.

Without a ``memberlist`` Secret the speaker does not start a node and uses node
conditions instead (upstream's behaviour; decided in the speaker wiring).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable

from metallb.membership import (
    DEFAULT_PORT,
    Address,
    MemberEvent,
    Membership,
    MembershipConfig,
    Record,
    Step,
    derive_key,
)
from metallb.membership.crypto import STREAM_HEADER, stream_length
from metallb.membership.wire import WireError

log = logging.getLogger(__name__)

LABEL_TYPE = 244  # memberlist's hasLabel message type (label.go)
TCP_TIMEOUT = 2.0  # connect, send and receive one push-pull; a LAN peer answers in ms
# After a first join round, how long a Go peer may take to hand our arrival to its
# speaker (memberlist merges a push-pull after answering it; events go through a channel).
JOIN_SETTLE = 0.2


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, node: MembershipNode) -> None:
        self.node = node

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.node._on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a dead member, for instance: the probe times out.
        self.node.transport_errors["udp"] += 1


class MembershipNode:
    """One speaker's membership: sockets, timer and the core, as an async context manager.

    ``advertise`` is the address other members reach us on (the pod or node IP); the
    sockets bind ``bind`` (default: ``advertise``) on ``port``. ``secret`` is the
    ``memberlist`` Secret's ``secretkey`` value as stored.
    """

    def __init__(
        self,
        name: str,
        advertise: str,
        secret: bytes,
        *,
        port: int = DEFAULT_PORT,
        bind: str | None = None,
        seeds: Iterable[Address] = (),
        config: MembershipConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._bind = bind or advertise
        self._port = port
        self._seeds = list(seeds)
        self.core = Membership(
            name, (advertise, port), derive_key(secret), now=clock(), config=config
        )
        self.transport_errors: Counter[str] = Counter()
        self._listeners: list[Callable[[MemberEvent], None]] = []
        self._queues: list[asyncio.Queue[MemberEvent]] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # Set when a first join round is over: see wait_joined.
        self._joined = asyncio.Event()

    async def __aenter__(self) -> MembershipNode:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(self._bind, self._port)
        )
        self._udp = transport
        self._tcp = await asyncio.start_server(self._serve_stream, self._bind, self._port)
        self._timer = asyncio.create_task(self._run_timer(), name="membership-timer")
        if self._seeds:
            self.join(self._seeds)

    def join(self, seeds: Iterable[Address]) -> None:
        """Join (or rejoin) through ``seeds``: speaker pod IPs or node addresses."""
        rounds = self._apply(self.core.join(seeds, self._clock()))
        if self._joined.is_set():
            return
        if not rounds:  # no seed but ourselves: we are the cluster
            self._joined.set()
            return
        done = asyncio.gather(*rounds, return_exceptions=True)
        done.add_done_callback(lambda _f: self._joined.set())

    async def wait_joined(self, limit: float, settle: float = JOIN_SETTLE) -> bool:
        """Wait until the first join round is over, then ``settle`` more seconds; False
        if that took over ``limit`` seconds.

        Over means every seed answered our push-pull or failed: a seed that answered has
        merged our alive record before (ours) or right after (memberlist's) answering, and
        ``settle`` covers a Go peer handing the change to its speaker. A speaker that
        waits for this before its first election does not claim an IP its current owner
        has not yet heard it may take: the seeds are every speaker pod, so every live
        member hears of us directly, not through gossip 25-175 ms later (measured by
        ``bench/l2_rollout.py``: two MACs answering one VIP during a rolling update).
        """
        try:
            async with asyncio.timeout(limit):
                await self._joined.wait()
        except TimeoutError:
            return False
        await asyncio.sleep(settle)
        return True

    async def stop(self, *, leave: bool = True, linger: float = 0.05) -> None:
        """Leave gracefully (others see us go at once), then close everything."""
        if leave and self._udp is not None:
            self._apply(self.core.leave(self._clock()))
            await asyncio.sleep(linger)  # let the leave datagrams go out
        if self._timer:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp:
            self._tcp.close()
            await self._tcp.wait_closed()
        if self._udp:
            self._udp.close()
        self._udp = self._tcp = self._timer = None

    # -- what the speaker uses -----------------------------------------------------------

    def members(self) -> list[Record]:
        """Live members (alive or suspect), ourselves included: the election's candidates."""
        return self.core.members()

    def add_listener(self, callback: Callable[[MemberEvent], None]) -> None:
        """Call ``callback`` (synchronously, on the loop) for every membership change."""
        self._listeners.append(callback)

    async def events(self) -> AsyncIterator[MemberEvent]:
        """Membership changes from now on, until the caller stops iterating."""
        queue: asyncio.Queue[MemberEvent] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    def stats(self) -> dict[str, float]:
        """Counters for the metrics server, by metric name."""
        c = self.core.counters
        out: dict[str, float] = {
            "metallb_memberlist_members": len(self.core.members()),
            "metallb_memberlist_probes_sent_total": c.probes_sent,
            "metallb_memberlist_acks_received_total": c.acks_received,
            "metallb_memberlist_indirect_probes_sent_total": c.indirect_probes_sent,
            "metallb_memberlist_probe_failures_total": c.probe_failures,
            "metallb_memberlist_suspicions_total": c.suspicions,
            "metallb_memberlist_refutations_total": c.refutations,
            "metallb_memberlist_deaths_total": c.deaths,
            "metallb_memberlist_leaves_total": c.leaves,
            "metallb_memberlist_push_pulls_total": c.push_pulls,
        }
        for reason, n in c.dropped.items():
            out[f"metallb_memberlist_dropped_packets_total{{reason={reason.value}}}"] = n
        for kind, n in self.transport_errors.items():
            out[f"metallb_memberlist_transport_errors_total{{kind={kind}}}"] = n
        return out

    # -- plumbing ------------------------------------------------------------------------

    def _apply(self, step: Step) -> list[asyncio.Task[None]]:
        """Send, tell the listeners; returns the push-pull tasks started."""
        started = []
        for send in step.sends:
            if send.stream:
                task = asyncio.create_task(self._push_pull(send.to, send.payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started.append(task)
            elif self._udp is not None:
                self._udp.sendto(send.payload, send.to)
        for event in step.events:
            log.info("member %s %s (%s)", event.name, event.kind, event.state.name.lower())
            for queue in self._queues:
                queue.put_nowait(event)
            for callback in self._listeners:
                callback(event)
        self._wake.set()  # the core's next deadline may have moved
        return started

    def _on_datagram(self, data: bytes, source: Address) -> None:
        self._apply(self.core.receive(data, source, self._clock()))

    async def _run_timer(self) -> None:
        while True:
            delay = self.core.next_deadline() - self._clock()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            self._apply(self.core.tick(self._clock()))

    async def _push_pull(self, peer: Address, payload: bytes) -> None:
        try:
            async with asyncio.timeout(TCP_TIMEOUT):
                reader, writer = await asyncio.open_connection(*peer)
                try:
                    writer.write(payload)
                    reply = await _read_message(reader)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            # A seed not up yet, or a dead member: the core retries on its own schedule.
            self.transport_errors["tcp_connect"] += 1
            return
        self._apply(self.core.receive_stream(reply, peer, self._clock(), reply=True))

    async def _serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(TCP_TIMEOUT):
                frame = await _read_message(reader)
                step = self.core.receive_stream(frame, (str(peer[0]), int(peer[1])), self._clock())
                self._apply(step)
                if step.reply is not None:
                    writer.write(step.reply)
                    await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            self.transport_errors["tcp_serve"] += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """The bytes of one stream message: an optional label header, then
    ``encrypt | u32 length | envelope``. Whatever does not look like that is returned as
    read so far, for the core to count (an unencrypted stream, a length over the limit)."""
    head = await reader.readexactly(1)
    if head[0] == LABEL_TYPE:
        label_len = await reader.readexactly(1)
        head += label_len + await reader.readexactly(label_len[0]) + await reader.readexactly(1)
    head += await reader.readexactly(STREAM_HEADER - 1)
    try:
        length = stream_length(head[-STREAM_HEADER:])
    except WireError:
        return head
    return head + await reader.readexactly(length)
