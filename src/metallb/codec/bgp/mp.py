"""MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 sections 3 and 4).

These two optional attributes carry routes of any address family; this speaker sends
IPv6 unicast through them (IPv4 goes in the classic NLRI field) and decodes IPv4 and
IPv6 unicast. An IPv6 next hop is a global address, optionally followed by a link-local
one (RFC 2545 section 3).

MP_REACH_NLRI::

    +---------------------------------------------------------+
    | Address Family Identifier (2 octets)                    |
    +---------------------------------------------------------+
    | Subsequent Address Family Identifier (1 octet)          |
    +---------------------------------------------------------+
    | Length of Next Hop Network Address (1 octet)            |
    +---------------------------------------------------------+
    | Network Address of Next Hop (variable)                  |
    +---------------------------------------------------------+
    | Reserved (1 octet)                                      |
    +---------------------------------------------------------+
    | Network Layer Reachability Information (variable)       |
    +---------------------------------------------------------+

MP_UNREACH_NLRI::

    +---------------------------------------------------------+
    | Address Family Identifier (2 octets)                    |
    +---------------------------------------------------------+
    | Subsequent Address Family Identifier (1 octet)          |
    +---------------------------------------------------------+
    | Withdrawn Routes (variable)                             |
    +---------------------------------------------------------+

Errors here always reset the session: without these attributes parsed, the routes to
withdraw cannot be known (RFC 7606 sections 3(k) and 5.3). The subcode is Optional
Attribute Error (RFC 4760 section 7) for the attribute itself and Invalid Network Field
for its NLRI.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from metallb.codec.bgp.errors import BGPError, ErrorCode, UpdateSubcode
from metallb.codec.bgp.negotiated import Negotiated
from metallb.codec.bgp.nlri import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Family,
    Prefix,
    decode_prefixes,
    encode_prefixes,
)

_AFI_SAFI = struct.Struct("!HB")


@dataclass(frozen=True)
class MpReach:
    family: Family
    next_hop: IPv4Address | IPv6Address
    nlri: tuple[Prefix, ...]
    link_local: IPv6Address | None = None


@dataclass(frozen=True)
class MpUnreach:
    family: Family
    withdrawn: tuple[Prefix, ...]


def encode_mp_reach_value(reach: MpReach) -> bytes:
    nh = reach.next_hop.packed + (reach.link_local.packed if reach.link_local else b"")
    head = _AFI_SAFI.pack(reach.family.afi, reach.family.safi) + bytes([len(nh)]) + nh
    return head + b"\x00" + encode_prefixes(reach.nlri)


def encode_mp_unreach_value(unreach: MpUnreach) -> bytes:
    head = _AFI_SAFI.pack(unreach.family.afi, unreach.family.safi)
    return head + encode_prefixes(unreach.withdrawn)


def _optional_error(raw: bytes, reason: str) -> BGPError:
    # RFC 4760 section 7: Optional Attribute Error, Data is the attribute.
    return BGPError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, raw, reason)


def _family(value: bytes, raw: bytes, negotiated: Negotiated) -> Family:
    if len(value) < _AFI_SAFI.size:
        raise _optional_error(raw, "too short for AFI and SAFI")
    afi, safi = _AFI_SAFI.unpack_from(value)
    family = Family(afi, safi)
    # RFC 4760 section 7 lets a speaker treat a family it did not negotiate as an error;
    # it has no NLRI codec here anyway.
    if family not in (IPV4_UNICAST, IPV6_UNICAST) or family not in negotiated.families:
        raise _optional_error(raw, f"family {family} was not negotiated")
    return family


def decode_mp_reach(value: bytes, raw: bytes, negotiated: Negotiated) -> MpReach:
    family = _family(value, raw, negotiated)
    if len(value) < 5:
        raise _optional_error(raw, "no next hop length")
    nh_len = value[3]
    # RFC 4760 section 3 / RFC 7606 section 7.11: the next hop and the Reserved octet
    # must fit in the attribute.
    if 4 + nh_len + 1 > len(value):
        raise _optional_error(raw, f"next hop length {nh_len} overruns the attribute")
    nh = value[4 : 4 + nh_len]
    link_local: IPv6Address | None = None
    next_hop: IPv4Address | IPv6Address
    if family == IPV4_UNICAST and nh_len == 4:
        next_hop = IPv4Address(nh)
    elif family == IPV6_UNICAST and nh_len in (16, 32):  # RFC 2545 section 3
        next_hop = IPv6Address(nh[:16])
        link_local = IPv6Address(nh[16:]) if nh_len == 32 else None
    else:
        raise _optional_error(raw, f"next hop length {nh_len} is wrong for {family}")
    version = 4 if family == IPV4_UNICAST else 6
    nlri = decode_prefixes(value[4 + nh_len + 1 :], version)
    return MpReach(family, next_hop, nlri, link_local)


def decode_mp_unreach(value: bytes, raw: bytes, negotiated: Negotiated) -> MpUnreach:
    family = _family(value, raw, negotiated)
    version = 4 if family == IPV4_UNICAST else 6
    return MpUnreach(family, decode_prefixes(value[_AFI_SAFI.size :], version))
