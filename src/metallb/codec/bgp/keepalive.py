"""The KEEPALIVE message (RFC 4271 section 4.4): a header and nothing else.

::

    +-----------------------------+
    |  Header (19 octets), Type 4 |   Length is exactly 19 (RFC 4271 section 6.1)
    +-----------------------------+

Sent every third of the negotiated hold time, never when the hold time is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from metallb.codec.bgp.header import MessageType, encode_message, expect_body

KEEPALIVE = encode_message(MessageType.KEEPALIVE, b"")


@dataclass(frozen=True)
class Keepalive:
    """The KEEPALIVE message; it has no fields."""


def encode_keepalive() -> bytes:
    return KEEPALIVE


def decode_keepalive(data: bytes) -> Keepalive:
    """Decode a complete KEEPALIVE; the header check rejects any length but 19."""
    expect_body(data, MessageType.KEEPALIVE)
    return Keepalive()
