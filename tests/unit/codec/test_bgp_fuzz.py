"""Hypothesis fuzzing: no input makes a BGP decoder raise anything but BGPError.

Three sources of input: arbitrary bytes; a valid header followed by arbitrary body bytes
(so every body parser is reached, not just the marker check); and valid messages with
bytes flipped, inserted or cut, with the Length field patched back so the mutation
reaches the body. Every decoder runs with both negotiated profiles and both UPDATE error
modes. Decodes that succeed must also survive a re-encode and decode unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metallb.codec.bgp import (
    FULL,
    IPV4_UNICAST,
    IPV6_UNICAST,
    PLAIN,
    AsPathSegment,
    BGPError,
    FourOctetAS,
    GracefulRestart,
    GracefulRestartFamily,
    LargeCommunity,
    MessageType,
    MpReach,
    MpUnreach,
    Multiprotocol,
    Notification,
    Open,
    PathAttributes,
    RouteRefresh,
    RouteRefreshRequest,
    Update,
    community,
    decode_header,
    decode_keepalive,
    decode_message,
    decode_notification,
    decode_open,
    decode_route_refresh,
    decode_update,
    encode_keepalive,
    encode_notification,
    encode_open,
    encode_route_refresh,
    encode_update,
)
from metallb.codec.bgp.header import MARKER

FUZZ = settings(
    max_examples=int(os.environ.get("BGP_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ATTRS = PathAttributes(
    as_path=(AsPathSegment.sequence(65001, 4200000000),),
    next_hop=IPv4Address("192.0.2.1"),
    med=5,
    local_pref=100,
    communities=(community(65001, 1),),
    large_communities=(LargeCommunity(1, 2, 3),),
)
CORPUS = [
    encode_open(
        Open(
            65001,
            90,
            IPv4Address("192.0.2.1"),
            (
                Multiprotocol(IPV4_UNICAST),
                Multiprotocol(IPV6_UNICAST),
                RouteRefresh(),
                GracefulRestart(120, 8, (GracefulRestartFamily(IPV4_UNICAST, 0x80),)),
                FourOctetAS(65001),
            ),
        )
    ),
    encode_update(
        Update(
            withdrawn=(IPv4Network("10.0.0.0/8"),),
            attributes=ATTRS,
            nlri=(IPv4Network("198.51.100.0/24"), IPv4Network("203.0.113.7/32")),
        ),
        FULL,
    ),
    encode_update(
        Update(
            attributes=PathAttributes(),
            mp_reach=MpReach(
                IPV6_UNICAST,
                IPv6Address("2001:db8::1"),
                (IPv6Network("2001:db8::/64"),),
                IPv6Address("fe80::1"),
            ),
            mp_unreach=MpUnreach(IPV6_UNICAST, (IPv6Network("2001:db8:1::/48"),)),
        ),
        FULL,
    ),
    encode_notification(Notification(6, 2, b"\x03bye")),
    encode_keepalive(),
    encode_route_refresh(RouteRefreshRequest(IPV6_UNICAST)),
]

# A 2-octet-AS session's UPDATE: AS_TRANS in AS_PATH, the real path in AS4_PATH.
PLAIN_UPDATE = encode_update(
    Update(attributes=ATTRS, nlri=(IPv4Network("198.51.100.0/24"),)), PLAIN
)

Decoder = Callable[[bytes], object]
DECODERS: list[Decoder] = [
    decode_header,
    decode_open,
    decode_keepalive,
    decode_notification,
    decode_route_refresh,
    lambda b: decode_update(b, PLAIN),
    lambda b: decode_update(b, FULL),
    lambda b: decode_update(b, FULL, revised=False),
    lambda b: decode_message(b, PLAIN),
    lambda b: decode_message(b, FULL, revised=False),
]


def _only_bgp_errors(data: bytes) -> None:
    for decode in DECODERS:
        with contextlib.suppress(BGPError):
            decode(data)


def _round_trip_if_valid(data: bytes) -> None:
    """A message we accept re-encodes to something that decodes to the same value."""
    try:
        msg = decode_message(data, FULL, revised=False)
    except BGPError:
        return
    if isinstance(msg, Open):
        assert decode_message(encode_open(msg)) == msg
    elif isinstance(msg, Update):
        # The encoder writes attributes in ascending type order (RFC 4271 section 5), so
        # unknown attributes may come back reordered.
        again = decode_message(encode_update(msg, FULL), FULL, revised=False)
        assert isinstance(again, Update)
        assert _sorted_unknown(again) == _sorted_unknown(msg)


def _sorted_unknown(update: Update) -> Update:
    if update.attributes is None:
        return update
    unknown = tuple(sorted(update.attributes.unknown, key=lambda a: a.type))
    return dataclasses.replace(
        update, attributes=dataclasses.replace(update.attributes, unknown=unknown)
    )


def _framed(msg_type: int, body: bytes) -> bytes:
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes([msg_type]) + body


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    """Arbitrary bytes."""
    _only_bgp_errors(data)


@FUZZ
@given(st.sampled_from(list(MessageType)), st.binary(max_size=300))
def test_valid_header_random_body(msg_type: MessageType, body: bytes) -> None:
    """A well-formed header, so the body parsers see the noise."""
    data = _framed(msg_type, body)
    _only_bgp_errors(data)
    _round_trip_if_valid(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([*CORPUS, PLAIN_UPDATE])))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(19, max(19, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if kind == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and pos < len(data):
            data[pos] = draw(st.sampled_from([0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF]))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    if draw(st.booleans()):
        data[16:18] = min(len(data), 0xFFFF).to_bytes(2, "big")  # keep the framing valid
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_valid_messages(data: bytes) -> None:
    """Valid messages with a few bytes changed, inserted or cut."""
    _only_bgp_errors(data)
    _round_trip_if_valid(data)


def test_corpus_is_valid() -> None:
    """The seeds decode cleanly, so mutations start from real messages."""
    for data in CORPUS:
        decode_message(data, FULL, revised=False)
    decode_message(PLAIN_UPDATE, PLAIN, revised=False)


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, 0xFF), st.integers(0, 0xFF), st.binary(max_size=40)),
        max_size=6,
    ),
    st.binary(max_size=20),
)
def test_random_attribute_lists(attrs: list[tuple[int, int, bytes]], nlri: bytes) -> None:
    """Structurally plausible attribute TLVs with random flags, types and values."""
    blob = b"".join(bytes([f, t, len(v)]) + v for f, t, v in attrs)
    body = b"\x00\x00" + len(blob).to_bytes(2, "big") + blob + nlri
    data = _framed(MessageType.UPDATE, body)
    _only_bgp_errors(data)
    _round_trip_if_valid(data)
