"""One native BGP session per peer, owned by one asyncio task and driven by the FSM table.

The task dials the peer (active open only, as upstream's internal/bgp/native), exchanges OPENs,
keeps the session alive and keeps the peer's Adj-RIB-In equal to the desired set given to
:meth:`Session.set`. Everything that happens becomes an :class:`Event` in one inbox: messages from a
reader task, expiries from timer tasks, stops from :meth:`close`. The session task alone looks them
up in :data:`~metallb.bgp.fsm.TRANSITIONS`, logs every transition with its reason and
performs the listed :class:`Action` values, so no two coroutines ever touch the connection's state
at once.

The inbox is unbounded: the reader only frames messages and the task handles each
in constant time (received routes are not kept), so it cannot fall behind for long.

Unlike upstream's native speaker, the hold timer is enforced on receive (RFC 4271
section 6.5), IPv6 routes are sent (RFC 4760) and prefixes with equal attributes share
UPDATEs. Between connections a :class:`ReconnectBackoff` spaces attempts out; it starts over
only after a session that stayed Established for :data:`STABLE_SESSION` seconds
(upstream resets it on every successful connection, so a peer that sends a malformed
UPDATE right after the OPENs is redialled at once, over and over: about 100
connections a second measured by ``bench/faults_bgp.py``; RFC 4271 section 8.1.1
calls damping such oscillations DampPeerOscillations).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address

from metallb.bgp.fsm import LARGE_HOLD_TIME, Action, Event, State, fsm_error, step
from metallb.codec.bgp import (
    KEEPALIVE,
    BGPError,
    ErrorCode,
    Negotiated,
    Notification,
    Open,
    Prefix,
    decode_header,
    encode_notification,
    encode_open,
    shutdown_notification,
)
from metallb.codec.bgp.header import HEADER_LEN
from metallb.net.bgp.counters import SessionCounters
from metallb.net.bgp.options import Advertisement, PeerOptions, ReconnectBackoff
from metallb.net.bgp.protocol import classify, local_open
from metallb.net.bgp.ribout import NextHops, plan
from metallb.net.bgp.timers import Timer
from metallb.net.bgp.transport import Connection, Connector, tcp_connect
from metallb.net.clock import LoopClock
from metallb.timing import Backoff, Clock

log = logging.getLogger(__name__)

# How long a graceful close waits for the Cease to leave, and how long a send may stall
# before the connection counts as failed (the peer's socket buffer never drains).
CLOSE_TIMEOUT = 5.0
_DESIRED_CHANGED = "desired set changed"
NOTIFICATION_FLUSH = 1.0
# How long a session must stay Established before its loss restarts the backoff at 0;
# a peer restart after minutes or hours is redialled at once, a flapping peer is not.
STABLE_SESSION = 10.0


@dataclass(frozen=True)
class _Input:
    """One inbox entry: an FSM event, raw message bytes, or (neither) a wake-up."""

    event: Event | None
    reason: str
    gen: int = 0  # the connection it belongs to; 0 for session-wide inputs
    data: bytes | None = None
    error: BGPError | None = None


@dataclass(frozen=True)
class TransitionRecord:
    old: State
    new: State
    event: Event
    reason: str
    at: float  # the session clock (the loop's: time.monotonic) when it happened


@dataclass
class _Link:
    """Resources of one TCP connection; dropped as a whole."""

    conn: Connection
    gen: int
    local_open: Open
    hold: Timer
    keepalive: Timer
    negotiated: Negotiated | None = None
    reader: asyncio.Task[None] | None = None


class Session:
    """A BGP session to one peer. Use ``async with Session(...)`` or start()/close()."""

    def __init__(
        self,
        options: PeerOptions,
        *,
        connector: Connector = tcp_connect,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.options = options
        self.counters = SessionCounters()
        self.history: deque[TransitionRecord] = deque(maxlen=200)
        self._connector = connector
        self._clock: Clock = clock or LoopClock()
        self._backoff = backoff or ReconnectBackoff()
        self._state = State.IDLE
        self._desired: dict[Prefix, Advertisement] = {}
        self._held: dict[Prefix, Advertisement] = {}  # what the peer has from us
        self._held_back: frozenset[Prefix] = frozenset()
        self._inbox: asyncio.Queue[_Input] = asyncio.Queue()
        self._wake_pending = False
        self._link: _Link | None = None
        self._gen = 0
        self._stopping = False
        self._cease = shutdown_notification()
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._established_at: float | None = None

    # -- public -------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def set(self, advertisements: Mapping[Prefix, Advertisement]) -> None:
        """Replace the desired set; the session task sends the difference."""
        self._desired = dict(advertisements)
        self.counters.pending_prefixes = len(self._desired)
        if not self._wake_pending:
            self._wake_pending = True
            self._inbox.put_nowait(_Input(None, _DESIRED_CHANGED))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"bgp {self.options.name}")
            self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        # Decoders raise only BGPError, which the FSM handles; anything else is a bug,
        # and a session that stopped talking must not go unnoticed.
        if not task.cancelled() and task.exception() is not None:
            log.error("peer %s: session task failed", self.options.name, exc_info=task.exception())

    async def wait_established(self, seconds: float) -> None:
        await asyncio.wait_for(self._up.wait(), seconds)

    async def close(self, reason: str = "", grace: float = CLOSE_TIMEOUT) -> None:
        """Stop: a connected session says Cease / Administrative Shutdown (RFC 4486
        section 4, RFC 9003 text) before the TCP connection closes."""
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        if self._link is not None and self._state in (
            State.OPEN_SENT,
            State.OPEN_CONFIRM,
            State.ESTABLISHED,
        ):
            self._cease = shutdown_notification(reason)
            self._inbox.put_nowait(_Input(Event.MANUAL_STOP, reason or "closed"))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def __aenter__(self) -> Session:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- the task -----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._stopping:
                delay = self._backoff.next()
                if delay:
                    log.info("peer %s: next connection attempt in %.1f s", self.options.name, delay)
                    await self._clock.sleep(delay)
                await self._fire(Event.AUTOMATIC_START, "automatic start")
                while self._state is not State.IDLE:
                    await self._handle(await self._inbox.get())
        finally:
            await self._drop_link()

    async def _handle(self, item: _Input) -> None:
        link = self._link
        if item.gen and (link is None or item.gen != link.gen):
            return  # from a connection already dropped
        if item.event is None and item.data is None:
            if item.reason == _DESIRED_CHANGED:
                self._wake_pending = False
            if self._state is State.ESTABLISHED:
                await self._sync_or_fail()
            return
        if item.data is not None:
            assert link is not None
            got = classify(
                item.data,
                self._state,
                options=self.options,
                local_open=link.local_open,
                negotiated=link.negotiated,
                counters=self.counters,
            )
            if got.negotiated is not None:
                link.negotiated = got.negotiated
            if got.event is None:
                if self._state is State.ESTABLISHED:  # ROUTE-REFRESH: send everything again
                    self._held.clear()
                    await self._sync_or_fail()
                return
            await self._fire(got.event, got.reason, got.error)
            return
        assert item.event is not None
        if item.event is Event.HOLD_TIMER_EXPIRES and not (link and link.hold.expired):
            return  # restarted after the timer queued this
        if item.event is Event.KEEPALIVE_TIMER_EXPIRES and not (link and link.keepalive.expired):
            return
        await self._fire(item.event, item.reason, item.error)

    async def _fire(self, event: Event, reason: str, error: BGPError | None = None) -> None:
        old = self._state
        transition = step(old, event)
        self._state = transition.next_state
        self.history.append(TransitionRecord(old, self._state, event, reason, self._clock.now()))
        if old is not self._state:
            log.info(
                "peer %s: %s -> %s on %s: %s",
                self.options.name,
                old.value,
                self._state.value,
                event.name,
                reason,
            )
        else:
            log.debug(
                "peer %s: %s stays on %s: %s", self.options.name, old.value, event.name, reason
            )
        if old is State.ESTABLISHED and self._state is not State.ESTABLISHED:
            up_since, self._established_at = self._established_at, None
            if up_since is not None and self._clock.now() - up_since >= STABLE_SESSION:
                self._backoff.reset()
            self.counters.session_up = False
            self.counters.sessions_dropped += 1
            self._up.clear()
        follow: tuple[Event, str] | None = None
        for action in transition.actions:
            follow = await self._perform(action, old, error) or follow
        if follow is not None:
            await self._fire(*follow)

    async def _perform(
        self, action: Action, old: State, error: BGPError | None
    ) -> tuple[Event, str] | None:
        link = self._link
        if action in (Action.RELEASE_RESOURCES, Action.DROP_TCP_CONNECTION):
            await self._drop_link()
        elif action in (
            Action.RESET_CONNECT_RETRY_COUNTER,
            Action.INCREMENT_CONNECT_RETRY_COUNTER,
        ):
            pass  # RFC 4271's ConnectRetryCounter: nothing reads it, the backoff spaces attempts
        elif action is Action.INITIATE_TCP_CONNECTION:
            return await self._connect()
        elif link is None:
            # INITIALIZE_RESOURCES, DELETE_ROUTES (we learn no routes) and the
            # ConnectRetryTimer (the connect timeout plus Backoff play its part) need
            # nothing; everything below needs a connection.
            return None
        elif action is Action.SEND_OPEN:
            link.conn.writer.write(encode_open(link.local_open))
            self.counters.opens_sent += 1
        elif action is Action.SEND_KEEPALIVE:
            link.conn.writer.write(KEEPALIVE)
            self.counters.keepalives_sent += 1
        elif action is Action.SEND_NOTIFICATION_CEASE:
            await self._notify(self._cease)
        elif action is Action.SEND_NOTIFICATION_HOLD_TIMER_EXPIRED:
            await self._notify(Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0))
        elif action is Action.SEND_NOTIFICATION_FSM_ERROR:
            await self._notify(fsm_error(old))
        elif action is Action.SEND_NOTIFICATION_FOR_ERROR and error is not None:
            await self._notify(error.notification)
        elif action is Action.START_LARGE_HOLD_TIMER:
            link.hold.start(LARGE_HOLD_TIME)
        elif action in (Action.START_NEGOTIATED_TIMERS, Action.RESTART_HOLD_TIMER):
            hold = link.negotiated.hold_time if link.negotiated else 0
            if hold:  # RFC 4271 section 4.4: a zero hold time runs no timers at all
                link.hold.start(hold)
                if action is Action.START_NEGOTIATED_TIMERS:
                    link.keepalive.start(hold / 3)
            else:
                link.hold.stop()
                link.keepalive.stop()
        elif action is Action.RESTART_KEEPALIVE_TIMER and link.negotiated:
            interval = link.negotiated.keepalive_interval
            link.keepalive.start(interval)
        elif action is Action.SESSION_ESTABLISHED:
            self.counters.session_up = True
            self.counters.sessions_established += 1
            self._established_at = self._clock.now()
            self._up.set()
            return await self._sync()
        return None

    # -- connection -----------------------------------------------------------------

    async def _connect(self) -> tuple[Event, str]:
        self.counters.connect_attempts += 1
        try:
            conn = await asyncio.wait_for(
                self._connector(self.options), self.options.connect_timeout
            )
        except (TimeoutError, OSError) as err:
            return Event.TCP_CONNECTION_FAILS, f"connect failed: {err!r}"
        self._gen += 1
        gen = self._gen
        link = _Link(
            conn,
            gen,
            local_open(self.options, conn.local_address),
            hold=Timer(self._clock, lambda: self._expire(Event.HOLD_TIMER_EXPIRES, gen)),
            keepalive=Timer(self._clock, lambda: self._expire(Event.KEEPALIVE_TIMER_EXPIRES, gen)),
        )
        self._link = link
        link.reader = asyncio.create_task(self._read(link))
        return Event.TCP_CR_ACKED, f"connected from {conn.local_address}"

    async def _drop_link(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        self._held.clear()  # the peer forgets our routes with the connection
        self.counters.announced_prefixes = 0
        link.hold.stop()
        link.keepalive.stop()
        if link.reader is not None:
            link.reader.cancel()
            await asyncio.gather(link.reader, return_exceptions=True)
        link.conn.writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(link.conn.writer.wait_closed(), NOTIFICATION_FLUSH)

    async def _read(self, link: _Link) -> None:
        """Frame messages (RFC 4271 section 4.1) into the inbox; decoding is the task's."""
        reader = link.conn.reader
        try:
            while True:
                head = await reader.readexactly(HEADER_LEN)
                try:
                    header = decode_header(head)
                except BGPError as err:
                    self._inbox.put_nowait(
                        _Input(Event.BGP_HEADER_ERR, str(err), link.gen, error=err)
                    )
                    return
                body = await reader.readexactly(header.length - HEADER_LEN)
                self._inbox.put_nowait(_Input(None, "message", link.gen, head + body))
        except (asyncio.IncompleteReadError, OSError) as err:
            reason = (
                "connection closed by peer"
                if isinstance(err, asyncio.IncompleteReadError)
                else repr(err)
            )
            self._inbox.put_nowait(_Input(Event.TCP_CONNECTION_FAILS, reason, link.gen))

    def _expire(self, event: Event, gen: int) -> None:
        self._inbox.put_nowait(_Input(event, event.name.lower().replace("_", " "), gen))

    async def _notify(self, notification: Notification) -> None:
        """Send a NOTIFICATION and give it a moment to leave before the connection drops."""
        assert self._link is not None
        writer = self._link.conn.writer
        writer.write(encode_notification(notification))
        self.counters.notifications_sent += 1
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(writer.drain(), NOTIFICATION_FLUSH)

    # -- routes ---------------------------------------------------------------------

    async def _sync_or_fail(self) -> None:
        follow = await self._sync()
        if follow is not None:
            await self._fire(*follow)

    async def _sync(self) -> tuple[Event, str] | None:
        """Send what makes the peer's view equal to the desired set."""
        link = self._link
        assert link is not None
        assert link.negotiated is not None
        opts = self.options
        local = link.conn.local_address
        own = NextHops(
            v4=opts.next_hop_v4
            or link.conn.local_v4
            or (local if isinstance(local, IPv4Address) else None),
            v6=opts.next_hop_v6 or link.conn.local_v6,
        )
        out = plan(self._desired, self._held, options=opts, negotiated=link.negotiated, own=own)
        if frozenset(out.held_back) != self._held_back:
            self._held_back = frozenset(out.held_back)
            if out.held_back:
                log.warning(
                    "peer %s: %d prefixes cannot be sent (family not negotiated or no next hop)",
                    opts.name,
                    len(out.held_back),
                )
        for prefix in out.withdrawn:
            del self._held[prefix]
        self._held.update(out.announced)
        c = self.counters
        c.announced_prefixes = len(self._held)
        c.prefixes_announced_total += len(out.announced)
        c.prefixes_withdrawn_total += len(out.withdrawn)
        if not out.messages:
            return None
        link.conn.writer.write(b"".join(out.messages))
        c.updates_sent += len(out.messages)
        log.info(
            "peer %s: sent %d UPDATEs (%d announced, %d withdrawn)",
            opts.name,
            len(out.messages),
            len(out.announced),
            len(out.withdrawn),
        )
        # A peer that stops reading for a whole hold time is as dead as a silent one.
        stall = float(link.negotiated.hold_time or LARGE_HOLD_TIME)
        try:
            await asyncio.wait_for(link.conn.writer.drain(), stall)
        except (TimeoutError, OSError) as err:
            return Event.TCP_CONNECTION_FAILS, f"sending UPDATEs failed: {err!r}"
        return None
