"""The native BGP session against a peer played by the test over a socketpair: OPEN
exchange, timers (on a hand-driven clock), declarative routes, reconnects, backoff and
graceful close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

import pytest
import pytest_asyncio

from metallb.bgp.fsm import Event, State
from metallb.codec.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    KEEPALIVE,
    CeaseSubcode,
    ErrorCode,
    FourOctetAS,
    Keepalive,
    Multiprotocol,
    Notification,
    Open,
    Prefix,
    Update,
    community,
    encode_notification,
)
from metallb.k8s.clock import FakeClock, settle
from metallb.net.bgp import Advertisement, PeerOptions, ReconnectBackoff, Session
from metallb.net.bgp.session import STABLE_SESSION
from tests.unit.net.test_bgp_fakes import (
    LOCAL_V4,
    LOCAL_V6,
    PairConnector,
    Peer,
)

PEER = IPv4Address("192.0.2.1")
AD = Advertisement(communities=(community(64512, 100),), local_pref=150)
AD2 = Advertisement(communities=(community(64512, 200),), local_pref=150)


@dataclass
class Rig:
    session: Session
    clock: FakeClock
    connector: PairConnector

    async def established(self, hold: int = 90) -> Peer:
        peer = await self.connector.next_peer()
        await peer.handshake(hold=hold)
        await self.session.wait_established(2)
        return peer


def options(**overrides: object) -> PeerOptions:
    base: dict[str, object] = {"peer_address": PEER, "local_asn": 64512, "peer_asn": 64512}
    base.update(overrides)
    return PeerOptions(**base)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    # Tests parametrize ``rig`` indirectly to change the peer options.
    param = dict(getattr(request, "param", {}))
    connector = PairConnector()
    connector.refuse = param.pop("refuse", 0)
    opts = options(**param)
    clock = FakeClock()
    session = Session(opts, connector=connector, clock=clock, backoff=ReconnectBackoff(1, 8))
    session.start()
    yield Rig(session, clock, connector)
    await session.close(grace=0.5)


def v4(text: str) -> IPv4Network:
    net = ip_network(text)
    assert isinstance(net, IPv4Network)
    return net


async def next_update(peer: Peer) -> Update:
    msg = await peer.read()
    assert isinstance(msg, Update), msg
    return msg


@pytest.mark.asyncio
async def test_open_exchange_reaches_established(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Our OPEN carries AS, hold time, router ID and the three capabilities; after the
    peer's OPEN and KEEPALIVE the session is Established and says why at each step."""
    caplog.set_level(logging.INFO, logger="metallb.net.bgp.session")
    peer = await rig.connector.next_peer()
    ours = await peer.read()
    assert isinstance(ours, Open)
    assert (ours.asn, ours.hold_time, ours.router_id) == (64512, 90, LOCAL_V4)
    assert set(ours.capabilities) == {
        Multiprotocol(IPV4_UNICAST),
        Multiprotocol(IPV6_UNICAST),
        FourOctetAS(64512),
    }
    peer.send(peer.open_message() + KEEPALIVE)
    assert await peer.read_raw() == KEEPALIVE
    await rig.session.wait_established(2)
    assert rig.session.state is State.ESTABLISHED
    assert rig.session.counters.session_up
    assert rig.session.counters.metrics()["metallb_bgp_session_up"] == 1.0
    path = [(r.old, r.new, r.event) for r in rig.session.history if r.old is not r.new]
    assert path == [
        (State.IDLE, State.CONNECT, Event.AUTOMATIC_START),
        (State.CONNECT, State.OPEN_SENT, Event.TCP_CR_ACKED),
        (State.OPEN_SENT, State.OPEN_CONFIRM, Event.BGP_OPEN),
        (State.OPEN_CONFIRM, State.ESTABLISHED, Event.KEEPALIVE_MSG),
    ]
    assert "OpenConfirm -> Established on KEEPALIVE_MSG: KEEPALIVE" in caplog.text
    assert "OPEN from AS 64512, id 192.0.2.1, hold 90" in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize("rig", [{"hold_time": 3}], indirect=True)
async def test_hold_timer_expiry_sends_notification_and_drops(rig: Rig) -> None:
    """A peer silent for the negotiated hold time gets Hold Timer Expired (RFC 4271
    section 6.5) and the connection is closed."""
    peer = await rig.established(hold=3)
    await rig.clock.advance(2.9)
    assert rig.session.state is State.ESTABLISHED
    await rig.clock.advance(0.1)
    # A KEEPALIVE may precede it (the keepalive timer runs at hold / 3).
    msg = await peer.read()
    while msg == Keepalive():
        msg = await peer.read()
    assert msg == Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0)
    assert await peer.closed()
    assert rig.session.counters.sessions_dropped == 1
    assert not rig.session.counters.session_up
    assert any(r.event is Event.HOLD_TIMER_EXPIRES for r in rig.session.history)


@pytest.mark.asyncio
@pytest.mark.parametrize("rig", [{"hold_time": 9}], indirect=True)
async def test_messages_from_the_peer_restart_the_hold_timer(rig: Rig) -> None:
    """Each KEEPALIVE received pushes the hold deadline out by the hold time."""
    peer = await rig.established(hold=9)
    await rig.clock.advance(6)
    peer.send(KEEPALIVE)
    await settle()
    await rig.clock.advance(6)  # 12 s since established, 6 s since the KEEPALIVE
    assert rig.session.state is State.ESTABLISHED
    await rig.clock.advance(3)  # 9 s since the KEEPALIVE
    assert rig.session.counters.sessions_dropped == 1
    assert any(r.event is Event.HOLD_TIMER_EXPIRES for r in rig.session.history)


@pytest.mark.asyncio
async def test_keepalives_every_third_of_the_hold_time(rig: Rig) -> None:
    """Hold 90 s gives a KEEPALIVE every 30 s (RFC 4271 section 4.4), not earlier."""
    peer = await rig.established(hold=90)
    for _ in range(3):
        await rig.clock.advance(29.5)
        assert await peer.nothing()
        await rig.clock.advance(0.5)
        assert await peer.read_raw() == KEEPALIVE
        peer.send(KEEPALIVE)  # keep our side's hold timer happy
    assert rig.session.counters.keepalives_sent == 4  # the OpenSent reply plus three


@pytest.mark.asyncio
@pytest.mark.parametrize("rig", [{"hold_time": 0}], indirect=True)
async def test_zero_hold_time_runs_no_timers(rig: Rig) -> None:
    """Hold time 0: no KEEPALIVEs and no expiry, however long the silence."""
    peer = await rig.established(hold=0)
    await rig.clock.advance(1000)
    assert await peer.nothing()
    assert rig.session.state is State.ESTABLISHED


@pytest.mark.asyncio
async def test_set_sends_only_the_difference(rig: Rig) -> None:
    """set() announces new prefixes in one UPDATE, withdraws vanished ones, re-announces
    changed ones and sends nothing when nothing changed."""
    a, b, c = v4("198.51.100.1/32"), v4("198.51.100.2/32"), v4("198.51.100.3/32")
    rig.session.set({a: AD, b: AD})
    peer = await rig.established()
    first = await next_update(peer)
    assert set(first.nlri) == {a, b}
    assert first.attributes is not None
    assert first.attributes.next_hop == LOCAL_V4
    assert first.attributes.local_pref == 150
    assert first.attributes.communities == (community(64512, 100),)

    rig.session.set({a: AD, c: AD})
    withdraw = await next_update(peer)
    assert withdraw.withdrawn == (b,)
    announce = await next_update(peer)
    assert announce.nlri == (c,)

    rig.session.set({a: AD, c: AD})
    assert await peer.nothing()

    rig.session.set({a: AD2, c: AD})
    changed = await next_update(peer)
    assert changed.nlri == (a,)
    assert changed.attributes is not None
    assert changed.attributes.communities == (community(64512, 200),)
    counters = rig.session.counters
    assert (counters.updates_sent, counters.announced_prefixes) == (4, 2)
    assert counters.prefixes_announced_total == 4
    assert counters.prefixes_withdrawn_total == 1


@pytest.mark.asyncio
async def test_ipv6_prefixes_go_in_mp_reach_with_our_ipv6_next_hop(rig: Rig) -> None:
    """An IPv6 /128 is announced in MP_REACH_NLRI with the session's IPv6 address."""
    p6 = IPv6Network("2001:db8:ff::7/128")
    rig.session.set({p6: AD})
    peer = await rig.established()
    update = await next_update(peer)
    assert update.mp_reach is not None
    assert update.mp_reach.nlri == (p6,)
    assert update.mp_reach.next_hop == LOCAL_V6
    rig.session.set({})
    gone = await next_update(peer)
    assert gone.mp_unreach is not None
    assert gone.mp_unreach.withdrawn == (p6,)


@pytest.mark.asyncio
async def test_whole_desired_set_is_replayed_after_a_reconnect(rig: Rig) -> None:
    """When the connection drops, the next session gets every desired prefix again,
    including changes made while the session was down."""
    a, b = v4("198.51.100.1/32"), v4("198.51.100.2/32")
    rig.session.set({a: AD})
    peer = await rig.established()
    assert (await next_update(peer)).nlri == (a,)
    await rig.clock.advance(STABLE_SESSION)
    peer.writer.close()
    await settle()
    assert rig.session.counters.sessions_dropped == 1
    rig.session.set({a: AD, b: AD})
    # The backoff was reset by the stable session: the redial is immediate.
    second = await rig.established()
    assert set((await next_update(second)).nlri) == {a, b}
    assert rig.session.counters.sessions_established == 2


@pytest.mark.asyncio
async def test_a_session_that_drops_right_after_establishing_still_backs_off(rig: Rig) -> None:
    """A peer that completes the OPENs and hangs up at once (or sends a malformed UPDATE)
    is redialled after 1, 2, 4 s, not at once each time; one that stayed up for
    STABLE_SESSION seconds starts the backoff over."""
    for expected in (1, 2, 4):
        peer = await rig.established()
        peer.writer.close()
        await settle()
        assert rig.clock.sleeps[-1] == expected
        await rig.clock.advance(expected)
    peer = await rig.established()
    await rig.clock.advance(STABLE_SESSION)
    sleeps = len(rig.clock.sleeps)
    peer.writer.close()
    await rig.established()  # no backoff sleep before this one
    # Only the new session's timers slept (keepalive 30 s, hold 90 s), no backoff step.
    assert not set(rig.clock.sleeps[sleeps:]) & {1, 2, 4, 8}


@pytest.mark.asyncio
@pytest.mark.parametrize("rig", [{"refuse": 6}], indirect=True)
async def test_connect_retries_back_off_exponentially_up_to_the_cap(rig: Rig) -> None:
    """Refused connections are retried at once, then after 1, 2, 4, 8, 8 s (cap 8 here)."""
    for _ in range(5):
        await settle()
        await rig.clock.advance(rig.clock.sleeps[-1])
    assert rig.clock.sleeps == [1, 2, 4, 8, 8, 8]  # the last one precedes attempt 7
    assert rig.connector.attempts == 6
    assert rig.session.state is State.IDLE
    await rig.clock.advance(8)
    await rig.established()  # the seventh attempt is let through
    assert rig.session.counters.connect_attempts == 7


def test_backoff_sequence_and_reset() -> None:
    """Backoff: immediate first try, then doubling to the cap; reset starts over."""
    b = ReconnectBackoff(initial=1, cap=10)
    assert [b.next() for _ in range(7)] == [0, 1, 2, 4, 8, 10, 10]
    b.reset()
    assert b.next() == 0


@pytest.mark.asyncio
async def test_close_sends_cease_administrative_shutdown(rig: Rig) -> None:
    """A graceful close says Cease / Administrative Shutdown with the reason (RFC 9003)."""
    peer = await rig.established()
    await rig.session.close("node drained", grace=1)
    msg = await peer.read()
    assert isinstance(msg, Notification)
    assert (msg.code, msg.subcode) == (ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
    assert msg.data == bytes([12]) + b"node drained"
    assert await peer.closed()


@pytest.mark.asyncio
async def test_peer_notification_drops_without_answering(rig: Rig) -> None:
    """A NOTIFICATION from the peer closes the connection; we never answer it with
    another one (RFC 4271 section 6.4) and we dial again."""
    peer = await rig.established()
    peer.send(encode_notification(Notification(ErrorCode.CEASE, 2)))
    assert await peer.closed()
    assert rig.session.counters.notifications_sent == 0
    assert rig.session.counters.notifications_received == 1
    await rig.clock.advance(1)  # the backoff: the session had been up for no time
    await rig.established()


@pytest.mark.asyncio
@pytest.mark.parametrize("rig", [{"local_asn": 64513, "peer_asn": 64512}], indirect=True)
async def test_ebgp_sends_our_as_path_and_no_local_pref(rig: Rig) -> None:
    """To an external peer the AS_PATH holds our AS and LOCAL_PREF is absent."""
    rig.session.set({v4("198.51.100.1/32"): AD})
    peer = await rig.established()
    update = await next_update(peer)
    assert update.attributes is not None
    assert update.attributes.local_pref is None
    assert [s.asns for s in update.attributes.as_path or ()] == [(64513,)]


def test_peer_options_refuse_bad_hold_time_and_long_keys() -> None:
    """Hold time 1 or 2 and TCP-MD5 keys over 80 bytes are configuration errors."""
    with pytest.raises(ValueError, match="hold time"):
        options(hold_time=2)
    with pytest.raises(ValueError, match="80 bytes"):
        options(password="x" * 81)
    assert options(peer_address=IPv6Address("2001:db8::1")).name == "2001:db8::1:179"


def _prefixes(n: int) -> dict[Prefix, Advertisement]:
    return {v4(f"198.51.100.{i}/32"): AD for i in range(n)}


@pytest.mark.asyncio
async def test_set_before_start_and_many_calls_wake_once(rig: Rig) -> None:
    """Repeated set() calls before the session is up collapse into one replay."""
    for n in range(1, 50):
        rig.session.set(_prefixes(n))
    peer = await rig.established()
    update = await next_update(peer)
    assert len(update.nlri) == 49
    assert await peer.nothing()
    await asyncio.sleep(0)
