"""Header framing, KEEPALIVE, NOTIFICATION and ROUTE-REFRESH, checked byte by byte."""

from __future__ import annotations

import pytest

from metallb.codec.bgp import (
    IPV6_UNICAST,
    BGPError,
    Family,
    Header,
    Keepalive,
    MessageType,
    Notification,
    RouteRefreshRequest,
    decode_header,
    decode_keepalive,
    decode_message,
    decode_notification,
    decode_route_refresh,
    encode_keepalive,
    encode_notification,
    encode_route_refresh,
    shutdown_communication,
    shutdown_notification,
)
from metallb.codec.bgp.header import encode_message, split_message

M = "ff" * 16


def test_keepalive_bytes() -> None:
    """RFC 4271 4.4: a KEEPALIVE is the 19-byte header with type 4."""
    assert encode_keepalive().hex() == M + "0013" + "04"
    assert decode_keepalive(encode_keepalive()) == Keepalive()
    assert decode_message(encode_keepalive()) == Keepalive()


def test_decode_header_reads_length_and_type() -> None:
    """The header gives the total length so the adapter knows how much more to read."""
    assert decode_header(bytes.fromhex(M + "002b01")) == Header(43, MessageType.OPEN)


def test_notification_bytes() -> None:
    """RFC 4271 4.5: code, subcode, then data."""
    wire = encode_notification(Notification(6, 2, b"x"))
    assert wire.hex() == M + "0016" + "03" + "0602" + "78"
    assert decode_notification(wire) == Notification(6, 2, b"x")


def test_notification_accepts_unknown_codes() -> None:
    """RFC 4271 6.4: a received NOTIFICATION is never answered, whatever it holds."""
    assert decode_message(bytes.fromhex(M + "0015" + "03" + "fefe")) == Notification(254, 254)


def test_shutdown_communication_round_trip() -> None:
    """RFC 9003: Cease/Administrative Shutdown carries a length-prefixed UTF-8 text."""
    n = shutdown_notification("maintenance ✓")
    assert n.data[0] == len("maintenance ✓".encode())
    assert shutdown_communication(decode_notification(encode_notification(n))) == "maintenance ✓"
    assert shutdown_communication(Notification(6, 2, b"\x05ab")) is None  # overrun
    assert shutdown_communication(Notification(3, 1, b"\x01a")) is None  # not a Cease


def test_route_refresh_bytes() -> None:
    """RFC 2918 3: AFI, reserved (RFC 7313 subtype), SAFI."""
    wire = encode_route_refresh(RouteRefreshRequest(IPV6_UNICAST))
    assert wire.hex() == M + "0017" + "05" + "0002" + "00" + "01"
    assert decode_route_refresh(wire) == RouteRefreshRequest(Family(2, 1), 0)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(M + "0018" + "05" + "0001000100", (1, 2), id="plain refresh too long"),
        pytest.param(M + "0018" + "05" + "0001010100", (7, 1), id="BoRR too long (RFC 7313 5)"),
    ],
)
def test_route_refresh_length_errors(wire: str, expected: tuple[int, int]) -> None:
    """A ROUTE-REFRESH longer than 23 bytes is rejected with the RFC's error."""
    with pytest.raises(BGPError) as info:
        decode_message(bytes.fromhex(wire))
    assert (info.value.code, info.value.subcode) == expected


HEADER_ERRORS = [
    pytest.param(
        "fe" + "ff" * 15 + "001304", (1, 1, b""), id="6.1 marker not all ones: not synchronized"
    ),
    pytest.param(M + "001204", (1, 2, b"\x00\x12"), id="6.1 length 18 < 19"),
    pytest.param(M + "1001" + "04", (1, 2, b"\x10\x01"), id="6.1 length 4097 > 4096"),
    pytest.param(M + "001401" + "00", (1, 2, b"\x00\x14"), id="6.1 OPEN shorter than 29"),
    pytest.param(M + "001602" + "000000", (1, 2, b"\x00\x16"), id="6.1 UPDATE shorter than 23"),
    pytest.param(M + "001403" + "06", (1, 2, b"\x00\x14"), id="6.1 NOTIFICATION shorter than 21"),
    pytest.param(M + "001404" + "00", (1, 2, b"\x00\x14"), id="6.1 KEEPALIVE not exactly 19"),
    pytest.param(M + "001605" + "000100", (1, 2, b"\x00\x16"), id="RFC 2918 ROUTE-REFRESH < 23"),
    pytest.param(M + "001306", (1, 3, b"\x06"), id="6.1 unknown type 6"),
    pytest.param(M + "001300", (1, 3, b"\x00"), id="6.1 unknown type 0"),
    pytest.param(M + "001404", (1, 2, b"\x00\x14"), id="6.1 length field disagrees with bytes"),
    pytest.param(M[:20], (1, 2, b"\x00\x0a"), id="fewer than 19 bytes"),
]


@pytest.mark.parametrize(("wire", "expected"), HEADER_ERRORS)
def test_header_errors(wire: str, expected: tuple[int, int, bytes]) -> None:
    """Each RFC 4271 6.1 header error yields its exact code, subcode and data."""
    with pytest.raises(BGPError) as info:
        decode_message(bytes.fromhex(wire))
    assert (info.value.code, info.value.subcode, info.value.data) == expected
    assert info.value.notification == Notification(*expected)


def test_wrong_type_for_specific_decoder_is_fsm_error() -> None:
    """Handing an UPDATE to the KEEPALIVE decoder is an unexpected message (RFC 6608)."""
    with pytest.raises(BGPError) as info:
        decode_keepalive(bytes.fromhex(M + "0017" + "02" + "00000000"))
    assert info.value.code == 5


def test_split_message_returns_body() -> None:
    """The body is everything after the 19-byte header."""
    header, body = split_message(encode_message(MessageType.NOTIFICATION, b"\x01\x02\x03"))
    assert header == Header(22, MessageType.NOTIFICATION)
    assert body == b"\x01\x02\x03"


def test_encoder_refuses_oversized_message() -> None:
    """The encoder never emits more than 4096 bytes (RFC 4271 4)."""
    encode_message(MessageType.UPDATE, b"\x00" * (4096 - 19))
    with pytest.raises(ValueError, match="exceeds"):
        encode_message(MessageType.UPDATE, b"\x00" * (4096 - 18))
