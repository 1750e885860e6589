"""The BGP message header (RFC 4271 section 4.1) and framing of whole messages.

Every BGP message starts with this 19-byte header. The session adapter reads exactly
``HEADER_LEN`` bytes, calls :func:`decode_header` to learn (and validate) the total length,
then reads the rest; all checks of RFC 4271 section 6.1 happen here, before any body is
parsed, so a desynchronised stream is detected from its first bytes.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                                                               |
    +                                                               +
    |                                                               |
    +                                                               +
    |                           Marker                              |
    +                                                               +
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Length               |      Type     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from metallb.codec.bgp.errors import BGPError, ErrorCode, FsmSubcode, HeaderSubcode

MARKER = b"\xff" * 16
HEADER_LEN = 19
# RFC 4271 section 4: no message may exceed 4096 octets (RFC 8654 extended messages are
# not negotiated by this speaker).
MAX_MESSAGE_LEN = 4096

_LENGTH_TYPE = struct.Struct("!HB")


class MessageType(IntEnum):
    """Message type codes (RFC 4271 section 4.1; ROUTE-REFRESH from RFC 2918)."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


# Smallest legal total length per type: RFC 4271 section 6.1 names OPEN (29), UPDATE (23),
# NOTIFICATION (21) and KEEPALIVE (exactly 19); RFC 2918 section 3 fixes ROUTE-REFRESH
# at 23.
_MIN_LENGTH = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.KEEPALIVE: 19,
    MessageType.ROUTE_REFRESH: 23,
}


@dataclass(frozen=True)
class Header:
    """A validated header: the total message length (header included) and its type."""

    length: int
    type: MessageType


def _bad_length(length: int, reason: str) -> BGPError:
    # RFC 4271 section 6.1: the Data field of Bad Message Length is the erroneous Length.
    return BGPError(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.BAD_MESSAGE_LENGTH,
        struct.pack("!H", length & 0xFFFF),
        reason,
    )


def decode_header(data: bytes) -> Header:
    """Validate the first 19 bytes of ``data`` as a header; the rest is ignored."""
    if len(data) < HEADER_LEN:
        raise _bad_length(len(data), f"only {len(data)} bytes, a header needs {HEADER_LEN}")
    # RFC 4271 section 6.1: a Marker that is not all ones means we lost synchronisation.
    if data[:16] != MARKER:
        raise BGPError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
            reason="marker is not all ones",
        )
    length, raw_type = _LENGTH_TYPE.unpack_from(data, 16)
    # RFC 4271 section 6.1: Length below 19 or above 4096 is a Bad Message Length.
    if length < HEADER_LEN or length > MAX_MESSAGE_LEN:
        raise _bad_length(length, f"length {length} outside {HEADER_LEN}..{MAX_MESSAGE_LEN}")
    # RFC 4271 section 6.1: an unrecognised Type is a Bad Message Type; Data is the Type.
    if raw_type not in MessageType._value2member_map_:
        raise BGPError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_TYPE,
            bytes([raw_type]),
            f"unknown message type {raw_type}",
        )
    msg_type = MessageType(raw_type)
    minimum = _MIN_LENGTH[msg_type]
    # RFC 4271 section 6.1: a Length too small for the type (or, for KEEPALIVE, anything
    # but 19) is a Bad Message Length.
    if length < minimum or (msg_type is MessageType.KEEPALIVE and length != minimum):
        raise _bad_length(length, f"length {length} is impossible for {msg_type.name}")
    return Header(length, msg_type)


def split_message(data: bytes) -> tuple[Header, bytes]:
    """Validate a complete message and return its header and body.

    ``data`` must hold exactly one message; a Length that disagrees with the bytes
    present is a Bad Message Length (RFC 4271 section 6.1).
    """
    header = decode_header(data)
    if header.length != len(data):
        raise _bad_length(header.length, f"length field {header.length}, got {len(data)} bytes")
    return header, data[HEADER_LEN:]


def expect_body(data: bytes, expected: MessageType) -> bytes:
    """The body of ``data``, which must be one complete message of type ``expected``.

    A message of another type where this one was expected is an FSM error (RFC 6608
    section 3, unspecified subcode: only the caller knows the state).
    """
    header, body = split_message(data)
    if header.type is not expected:
        raise BGPError(
            ErrorCode.FSM,
            FsmSubcode.UNSPECIFIED,
            reason=f"expected {expected.name}, got {header.type.name}",
        )
    return body


def encode_message(msg_type: MessageType, body: bytes) -> bytes:
    """Prefix ``body`` with a header. Raises ValueError (a caller bug) past 4096 bytes."""
    length = HEADER_LEN + len(body)
    if length > MAX_MESSAGE_LEN:
        raise ValueError(f"BGP message of {length} bytes exceeds {MAX_MESSAGE_LEN}")
    return MARKER + _LENGTH_TYPE.pack(length, msg_type) + body
