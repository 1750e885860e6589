"""Malformed or unexpected messages from the peer: the session answers each with the
NOTIFICATION RFC 4271 section 6 (and RFC 6608 for FSM errors) prescribes, closes the
connection, and keeps running: it dials again."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from ipaddress import IPv4Address

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metallb.codec.bgp import (
    KEEPALIVE,
    ErrorCode,
    FsmSubcode,
    HeaderSubcode,
    Notification,
    OpenSubcode,
    UpdateSubcode,
)
from metallb.codec.bgp.header import MARKER
from metallb.k8s.clock import FakeClock, settle
from metallb.net.bgp import PeerOptions, ReconnectBackoff, Session
from tests.unit.net.test_bgp_fakes import PairConnector, Peer


def raw(msg_type: int, body: bytes, length: int | None = None) -> bytes:
    return (
        MARKER + struct.pack("!HB", 19 + len(body) if length is None else length, msg_type) + body
    )


def open_body(
    version: int = 4, asn: int = 64512, hold: int = 90, rid: bytes = b"\xc0\x00\x02\x01"
) -> bytes:
    return struct.pack("!BHH4sB", version, asn, hold, rid, 0)


# (message, whether the session must be Established first, expected NOTIFICATION)
CASES = [
    pytest.param(
        b"\x00" * 16 + struct.pack("!HB", 19, 4),
        False,
        (ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED),
        id="marker not all ones",
    ),
    pytest.param(
        raw(4, b"", length=5000),
        False,
        (ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH),
        id="length over 4096",
    ),
    pytest.param(
        raw(9, b""),
        False,
        (ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_TYPE),
        id="unknown message type",
    ),
    pytest.param(
        raw(1, open_body(version=3)),
        False,
        (ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_VERSION),
        id="OPEN version 3",
    ),
    pytest.param(
        raw(1, open_body(asn=64999)),
        False,
        (ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS),
        id="OPEN from the wrong AS",
    ),
    pytest.param(
        raw(1, open_body(hold=2)),
        False,
        (ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME),
        id="OPEN hold time 2",
    ),
    pytest.param(
        raw(1, open_body(rid=b"\xc0\x00\x02\x0a")),
        False,
        (ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER),
        id="iBGP OPEN with our router ID",
    ),
    pytest.param(
        KEEPALIVE,
        False,
        (ErrorCode.FSM, FsmSubcode.UNEXPECTED_IN_OPEN_SENT),
        id="KEEPALIVE before OPEN",
    ),
    pytest.param(
        raw(2, struct.pack("!H", 200) + b"\x00\x00"),
        True,
        (ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST),
        id="UPDATE withdrawn length overruns",
    ),
    pytest.param(
        raw(1, open_body()),
        True,
        (ErrorCode.FSM, FsmSubcode.UNEXPECTED_IN_ESTABLISHED),
        id="second OPEN when Established",
    ),
    pytest.param(
        raw(4, b"\x00"),
        True,
        (ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH),
        id="KEEPALIVE of 20 bytes when Established",
    ),
]


@pytest_asyncio.fixture
async def started() -> AsyncIterator[tuple[Session, FakeClock, PairConnector]]:
    clock = FakeClock()
    connector = PairConnector()
    opts = PeerOptions(
        peer_address=IPv4Address("192.0.2.1"),
        local_asn=64512,
        peer_asn=64512,
        router_id=IPv4Address("192.0.2.10"),
    )
    session = Session(opts, connector=connector, clock=clock, backoff=ReconnectBackoff(1, 1))
    session.start()
    yield session, clock, connector
    await session.close(grace=0.5)


async def _reach(peer: Peer, session: Session, established: bool) -> None:
    await peer.read()  # our OPEN
    if established:
        peer.send(peer.open_message() + KEEPALIVE)
        assert await peer.read_raw() == KEEPALIVE
        await session.wait_established(2)


@pytest.mark.asyncio
@pytest.mark.parametrize(("message", "established", "expected"), CASES)
async def test_malformed_message_gets_its_notification_and_the_session_survives(
    started: tuple[Session, FakeClock, PairConnector],
    message: bytes,
    established: bool,
    expected: tuple[int, int],
) -> None:
    """The right NOTIFICATION, a closed connection, and a fresh connection afterwards."""
    session, clock, connector = started
    peer = await connector.next_peer()
    await _reach(peer, session, established)
    peer.send(message)
    answer = await peer.read()
    assert isinstance(answer, Notification)
    assert (answer.code, answer.subcode) == expected
    assert await peer.closed()
    await clock.advance(1)  # the backoff delay (reset to 0 if we had been Established)
    again = await connector.next_peer()
    await _reach(again, session, True)
    assert session.counters.notifications_sent == 1


@pytest.mark.asyncio
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(garbage=st.binary(min_size=1, max_size=64))
async def test_random_bytes_never_crash_the_session(garbage: bytes) -> None:
    """Whatever an Established peer sends, the session task keeps running and either
    stays up or drops the connection."""
    clock = FakeClock()
    connector = PairConnector()
    opts = PeerOptions(peer_address=IPv4Address("192.0.2.1"), local_asn=64512, peer_asn=64512)
    session = Session(opts, connector=connector, clock=clock)
    session.start()
    try:
        peer = await connector.next_peer()
        await _reach(peer, session, True)
        peer.send(MARKER + garbage)
        await settle()
        task = session._task
        assert task is not None
        assert not task.done()
    finally:
        await session.close(grace=0.5)
