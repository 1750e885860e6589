"""The OPEN message (RFC 4271 section 4.2) with capabilities (RFC 5492).

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+
    |    Version    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     My Autonomous System      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Hold Time           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         BGP Identifier                        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Opt Parm Len  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |             Optional Parameters (variable)                    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    Optional parameter:  Parm. Type (1) | Parm. Length (1) | Parm. Value

:class:`Open` holds the speaker's real AS number: on the wire an ASN above 65535 travels
as AS_TRANS (23456) in My Autonomous System and in full in the 4-octet AS capability
(RFC 6793 section 4.1); on decode the capability wins when present.

:func:`decode_open` does the checks that need only the message (RFC 4271 section 6.2:
version, hold time, identifier syntax, parameter types); :func:`check_peer_open` does the
ones that need our configuration (expected peer AS, identifier collision).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from metallb.codec.bgp.aspath import AS_TRANS
from metallb.codec.bgp.capabilities import (
    Capability,
    FourOctetAS,
    GracefulRestart,
    Multiprotocol,
    RouteRefresh,
    decode_capabilities,
    encode_capability,
)
from metallb.codec.bgp.errors import BGPError, ErrorCode, OpenSubcode
from metallb.codec.bgp.header import MessageType, encode_message, expect_body
from metallb.codec.bgp.nlri import IPV4_UNICAST, Family

BGP_VERSION = 4
_CAPABILITIES_PARAM = 2  # RFC 5492 section 4
_EXTENDED_PARAMS = 255  # RFC 9072 section 2
_FIXED = struct.Struct("!BHH4sB")


@dataclass(frozen=True)
class Open:
    """A decoded or to-be-encoded OPEN; ``asn`` is the real (possibly 4-octet) AS."""

    asn: int
    hold_time: int
    router_id: IPv4Address
    capabilities: tuple[Capability, ...] = ()
    version: int = BGP_VERSION

    @property
    def four_octet_as(self) -> bool:
        return any(isinstance(c, FourOctetAS) for c in self.capabilities)

    @property
    def route_refresh(self) -> bool:
        return any(isinstance(c, RouteRefresh) for c in self.capabilities)

    @property
    def graceful_restart(self) -> GracefulRestart | None:
        return next((c for c in self.capabilities if isinstance(c, GracefulRestart)), None)

    @property
    def families(self) -> frozenset[Family]:
        """Families advertised; a speaker with no Multiprotocol capability at all speaks
        only IPv4 unicast (RFC 4760 section 8, RFC 4271 implicit default)."""
        fams = frozenset(c.family for c in self.capabilities if isinstance(c, Multiprotocol))
        return fams or frozenset({IPV4_UNICAST})


def encode_open(msg: Open) -> bytes:
    """The complete OPEN message; all capabilities go into one optional parameter."""
    if msg.asn > 0xFFFF and not msg.four_octet_as:
        raise ValueError(f"AS {msg.asn} needs the 4-octet AS capability (RFC 6793)")
    caps = b"".join(encode_capability(c) for c in msg.capabilities)
    params = bytes([_CAPABILITIES_PARAM, len(caps)]) + caps if caps else b""
    if len(caps) > 255 or len(params) > 255:
        raise ValueError("capabilities do not fit in one optional parameter")
    my_as = msg.asn if msg.asn <= 0xFFFF else AS_TRANS  # RFC 6793 section 4.1
    body = _FIXED.pack(msg.version, my_as, msg.hold_time, msg.router_id.packed, len(params))
    return encode_message(MessageType.OPEN, body + params)


def _open_error(subcode: int, reason: str, data: bytes = b"") -> BGPError:
    return BGPError(ErrorCode.OPEN_MESSAGE, subcode, data, reason)


def _split_params(data: bytes, extended: bool) -> list[tuple[int, bytes]]:
    """Optional parameters as (type, value); RFC 9072 widens each length to 2 octets."""
    head = 3 if extended else 2
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        # RFC 4271 section 6.2: a parameter that does not fit is malformed (subcode 0).
        if i + head > len(data):
            raise _open_error(OpenSubcode.UNSPECIFIC, "truncated optional parameter")
        ptype = data[i]
        plen = int.from_bytes(data[i + 1 : i + head], "big")
        if i + head + plen > len(data):
            raise _open_error(OpenSubcode.UNSPECIFIC, "optional parameter overruns")
        out.append((ptype, data[i + head : i + head + plen]))
        i += head + plen
    return out


def decode_open(data: bytes) -> Open:
    """Decode a complete OPEN message (header included)."""
    body = expect_body(data, MessageType.OPEN)
    version, my_as, hold, router_id, opt_len = _FIXED.unpack_from(body)
    # RFC 4271 section 6.2: Data is the largest version we support, as 2 octets.
    if version != BGP_VERSION:
        raise _open_error(
            OpenSubcode.UNSUPPORTED_VERSION,
            f"version {version}",
            struct.pack("!H", BGP_VERSION),
        )
    # RFC 4271 sections 4.2 and 6.2: the Hold Time MUST be zero or at least three seconds.
    if hold in (1, 2):
        raise _open_error(OpenSubcode.UNACCEPTABLE_HOLD_TIME, f"hold time {hold}")
    # RFC 6286 section 2.1: the BGP Identifier is a non-zero 32-bit value.
    if router_id == b"\x00\x00\x00\x00":
        raise _open_error(OpenSubcode.BAD_BGP_IDENTIFIER, "BGP identifier is 0")
    rest = body[_FIXED.size :]
    extended = False
    if opt_len == _EXTENDED_PARAMS and rest[:1] == bytes([_EXTENDED_PARAMS]):
        # RFC 9072 section 2: type 255 then a 2-octet Extended Opt. Parm. Length.
        if len(rest) < 3:
            raise _open_error(OpenSubcode.UNSPECIFIC, "truncated extended parameter length")
        opt_len = int.from_bytes(rest[1:3], "big")
        rest = rest[3:]
        extended = True
    # RFC 4271 section 4.2: Opt Parm Len covers exactly the rest of the message.
    if opt_len != len(rest):
        raise _open_error(
            OpenSubcode.UNSPECIFIC, f"Opt Parm Len {opt_len} but {len(rest)} bytes follow"
        )
    caps: list[Capability] = []
    for ptype, value in _split_params(rest, extended):
        # RFC 4271 section 6.2: an optional parameter we do not recognise (anything but
        # Capabilities, RFC 5492 section 4) is Unsupported Optional Parameter.
        if ptype != _CAPABILITIES_PARAM:
            raise _open_error(
                OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, f"optional parameter {ptype}"
            )
        caps.extend(decode_capabilities(value))
    four = next((c.asn for c in caps if isinstance(c, FourOctetAS)), None)
    asn = my_as if four is None else four  # RFC 6793 section 4.1
    # RFC 7607 section 2: AS 0 in an OPEN is a Bad Peer AS.
    if asn == 0:
        raise _open_error(OpenSubcode.BAD_PEER_AS, "peer AS is 0")
    return Open(asn, hold, IPv4Address(router_id), tuple(caps), version)


def check_peer_open(
    peer: Open,
    *,
    expected_asn: int | None,
    local_asn: int,
    local_router_id: IPv4Address,
) -> None:
    """Raise BGPError if the peer's OPEN is valid but unacceptable to us."""
    # RFC 4271 section 6.2: an AS that is not the one configured is a Bad Peer AS.
    if expected_asn is not None and peer.asn != expected_asn:
        raise _open_error(OpenSubcode.BAD_PEER_AS, f"peer AS {peer.asn}, expected {expected_asn}")
    # RFC 6793 section 4.2 leaves AS_TRANS peering to AS4_PATH; like MetalLB native we
    # refuse instead, naming the capability we need (RFC 5492 section 5).
    if local_asn > 0xFFFF and not peer.four_octet_as:
        raise _open_error(
            OpenSubcode.UNSUPPORTED_CAPABILITY,
            "our AS needs 4 octets and the peer lacks the capability",
            encode_capability(FourOctetAS(local_asn)),
        )
    # RFC 6286 section 2.2: inside one AS the two identifiers must differ.
    if peer.asn == local_asn and peer.router_id == local_router_id:
        raise _open_error(OpenSubcode.BAD_BGP_IDENTIFIER, "peer uses our BGP identifier")
