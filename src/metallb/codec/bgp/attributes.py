"""Path attributes of an UPDATE (RFC 4271 section 4.3 and 5; RFC 1997; RFC 8092).

Each attribute is a TLV whose length is one octet, or two when Extended Length is set::

     0                   1
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Attr. Flags  |Attr. Type Code|   flags: O T P E 0 0 0 0
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   (Optional, Transitive, Partial, Extended Length)
    | Attr. Length (1 or 2 octets)  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Attribute Value (variable)   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

:class:`PathAttributes` is the value announcements are grouped by: routes whose
attributes are equal share one UPDATE. MP_REACH_NLRI and MP_UNREACH_NLRI are not in it;
they carry NLRI and live in :mod:`metallb.codec.bgp.mp`.

:func:`decode_attribute` checks one known attribute's value and raises the RFC 4271
section 6.3 error for it; whether that error resets the session, withdraws the routes
or just drops the attribute (RFC 7606) is decided by the UPDATE decoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address

from metallb.codec.bgp.aspath import (
    AS_TRANS,
    AsPathSegment,
    decode_as_path,
    encode_as_path,
    merge_as4_path,
    needs_as4_path,
)
from metallb.codec.bgp.errors import BGPError, ErrorCode, UpdateSubcode
from metallb.codec.bgp.negotiated import Negotiated

OPTIONAL = 0x80
TRANSITIVE = 0x40
PARTIAL = 0x20
EXTENDED_LENGTH = 0x10


class AttrType(IntEnum):
    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8  # RFC 1997
    MP_REACH_NLRI = 14  # RFC 4760
    MP_UNREACH_NLRI = 15
    AS4_PATH = 17  # RFC 6793
    AS4_AGGREGATOR = 18
    LARGE_COMMUNITY = 32  # RFC 8092


# The Optional and Transitive bits each known attribute must carry (RFC 4271 section 5,
# RFC 1997, RFC 4760 section 3/4, RFC 6793 section 3, RFC 8092 section 3).
CATEGORY: dict[int, int] = {
    AttrType.ORIGIN: TRANSITIVE,
    AttrType.AS_PATH: TRANSITIVE,
    AttrType.NEXT_HOP: TRANSITIVE,
    AttrType.MULTI_EXIT_DISC: OPTIONAL,
    AttrType.LOCAL_PREF: TRANSITIVE,
    AttrType.ATOMIC_AGGREGATE: TRANSITIVE,
    AttrType.AGGREGATOR: OPTIONAL | TRANSITIVE,
    AttrType.COMMUNITIES: OPTIONAL | TRANSITIVE,
    AttrType.MP_REACH_NLRI: OPTIONAL,
    AttrType.MP_UNREACH_NLRI: OPTIONAL,
    AttrType.AS4_PATH: OPTIONAL | TRANSITIVE,
    AttrType.AS4_AGGREGATOR: OPTIONAL | TRANSITIVE,
    AttrType.LARGE_COMMUNITY: OPTIONAL | TRANSITIVE,
}


class Origin(IntEnum):
    IGP = 0
    EGP = 1
    INCOMPLETE = 2


def community(asn: int, value: int) -> int:
    """A classic RFC 1997 community ``asn:value`` as its 32-bit wire value."""
    return (asn << 16) | value


@dataclass(frozen=True, order=True)
class LargeCommunity:
    """RFC 8092 section 3: Global Administrator, Local Data Part 1 and 2, 4 octets each."""

    global_admin: int
    local_data1: int
    local_data2: int


@dataclass(frozen=True)
class Aggregator:
    asn: int
    address: IPv4Address


@dataclass(frozen=True)
class RawAttribute:
    """An optional attribute we do not interpret, kept as received."""

    flags: int
    type: int
    value: bytes


@dataclass(frozen=True)
class PathAttributes:
    """The path attributes of an UPDATE, except the multiprotocol ones.

    ``None`` means absent. The defaults are what a MetalLB speaker originates for iBGP:
    ORIGIN IGP and an empty AS_PATH; the session adds NEXT_HOP, LOCAL_PREF and
    communities.
    """

    origin: Origin | None = Origin.IGP
    as_path: tuple[AsPathSegment, ...] | None = ()
    next_hop: IPv4Address | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: Aggregator | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[LargeCommunity, ...] = ()
    unknown: tuple[RawAttribute, ...] = ()


def encode_attribute(type_code: int, value: bytes, flags: int | None = None) -> bytes:
    """One attribute TLV; Extended Length is set exactly when the value needs it."""
    base = CATEGORY.get(type_code, OPTIONAL | TRANSITIVE) if flags is None else flags
    base &= OPTIONAL | TRANSITIVE | PARTIAL  # RFC 4271 4.3: the low four bits are zero
    if len(value) > 0xFFFF:
        raise ValueError(f"attribute {type_code} of {len(value)} bytes does not fit")
    if len(value) > 0xFF:
        return struct.pack("!BBH", base | EXTENDED_LENGTH, type_code, len(value)) + value
    return struct.pack("!BBB", base, type_code, len(value)) + value


def encode_path_attributes(attrs: PathAttributes, negotiated: Negotiated) -> bytes:
    """Encode in ascending type order (RFC 4271 section 5, SHOULD)."""
    width = 4 if negotiated.four_octet_as else 2
    parts: list[tuple[int, bytes]] = []

    def add(type_code: int, value: bytes, flags: int | None = None) -> None:
        parts.append((type_code, encode_attribute(type_code, value, flags)))

    if attrs.origin is not None:
        add(AttrType.ORIGIN, bytes([attrs.origin]))
    if attrs.as_path is not None:
        add(AttrType.AS_PATH, encode_as_path(attrs.as_path, width))
        # RFC 6793 section 4.2.2: a 2-octet session carries the true path in AS4_PATH.
        if width == 2 and needs_as4_path(attrs.as_path):
            add(AttrType.AS4_PATH, encode_as_path(attrs.as_path, 4))
    if attrs.next_hop is not None:
        add(AttrType.NEXT_HOP, attrs.next_hop.packed)
    if attrs.med is not None:
        add(AttrType.MULTI_EXIT_DISC, struct.pack("!I", attrs.med))
    if attrs.local_pref is not None:
        add(AttrType.LOCAL_PREF, struct.pack("!I", attrs.local_pref))
    if attrs.atomic_aggregate:
        add(AttrType.ATOMIC_AGGREGATE, b"")
    if attrs.aggregator is not None:
        agg = attrs.aggregator
        wide = width == 2 and agg.asn > 0xFFFF
        asn = AS_TRANS if wide else agg.asn
        add(AttrType.AGGREGATOR, asn.to_bytes(width, "big") + agg.address.packed)
        if wide:
            add(AttrType.AS4_AGGREGATOR, struct.pack("!I", agg.asn) + agg.address.packed)
    if attrs.communities:
        add(AttrType.COMMUNITIES, struct.pack(f"!{len(attrs.communities)}I", *attrs.communities))
    if attrs.large_communities:
        add(
            AttrType.LARGE_COMMUNITY,
            b"".join(
                struct.pack("!III", c.global_admin, c.local_data1, c.local_data2)
                for c in attrs.large_communities
            ),
        )
    for raw in attrs.unknown:
        add(raw.type, raw.value, raw.flags)
    parts.sort(key=lambda p: p[0])
    return b"".join(p[1] for p in parts)


def _update_error(subcode: int, raw: bytes, reason: str) -> BGPError:
    return BGPError(ErrorCode.UPDATE_MESSAGE, subcode, raw, reason)


def _fixed_length(type_code: int, value: bytes, raw: bytes, *lengths: int) -> None:
    # RFC 4271 section 6.3: a length that disagrees with the attribute's definition is
    # an Attribute Length Error; Data is the whole attribute.
    if len(value) not in lengths:
        raise _update_error(
            UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
            raw,
            f"attribute {type_code} has length {len(value)}, expected {lengths}",
        )


def _valid_next_hop(addr: IPv4Address) -> bool:
    # RFC 4271 section 6.3: NEXT_HOP must be a valid IP host address.
    return not (addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_reserved)


class AttributeBuilder:
    """Collects decoded attributes while an UPDATE is parsed, then builds the value.

    :meth:`add` checks one known, non-multiprotocol attribute and raises its RFC 4271
    section 6.3 error; ``raw`` is the whole attribute (flags, type, length, value), the
    Data of most of those errors, and ``width`` the ASN width (2 or 4 octets).
    """

    def __init__(self) -> None:
        self.origin: Origin | None = None
        self.as_path: tuple[AsPathSegment, ...] | None = None
        self.as4_path: tuple[AsPathSegment, ...] | None = None
        self.next_hop: IPv4Address | None = None
        self.med: int | None = None
        self.local_pref: int | None = None
        self.atomic_aggregate = False
        self.aggregator: Aggregator | None = None
        self.as4_aggregator: Aggregator | None = None
        self.communities: tuple[int, ...] = ()
        self.large_communities: tuple[LargeCommunity, ...] = ()
        self.unknown: list[RawAttribute] = []

    def add(self, type_code: int, value: bytes, raw: bytes, width: int) -> None:
        if type_code == AttrType.ORIGIN:
            _fixed_length(type_code, value, raw, 1)
            # RFC 4271 section 6.3: an undefined ORIGIN value is Invalid ORIGIN Attribute.
            if value[0] not in Origin._value2member_map_:
                raise _update_error(UpdateSubcode.INVALID_ORIGIN, raw, f"ORIGIN {value[0]}")
            self.origin = Origin(value[0])
        elif type_code == AttrType.AS_PATH:
            self.as_path = decode_as_path(value, width)
        elif type_code == AttrType.AS4_PATH:
            self.as4_path = decode_as_path(value, 4)
        elif type_code == AttrType.NEXT_HOP:
            _fixed_length(type_code, value, raw, 4)
            addr = IPv4Address(value)
            if not _valid_next_hop(addr):
                raise _update_error(UpdateSubcode.INVALID_NEXT_HOP, raw, f"NEXT_HOP {addr}")
            self.next_hop = addr
        elif type_code == AttrType.MULTI_EXIT_DISC:
            _fixed_length(type_code, value, raw, 4)
            self.med = int.from_bytes(value, "big")
        elif type_code == AttrType.LOCAL_PREF:
            _fixed_length(type_code, value, raw, 4)
            self.local_pref = int.from_bytes(value, "big")
        elif type_code == AttrType.ATOMIC_AGGREGATE:
            _fixed_length(type_code, value, raw, 0)
            self.atomic_aggregate = True
        elif type_code in (AttrType.AGGREGATOR, AttrType.AS4_AGGREGATOR):
            asn_width = width if type_code == AttrType.AGGREGATOR else 4
            _fixed_length(type_code, value, raw, asn_width + 4)
            agg = Aggregator(
                int.from_bytes(value[:asn_width], "big"), IPv4Address(value[asn_width:])
            )
            if type_code == AttrType.AGGREGATOR:
                self.aggregator = agg
            else:
                self.as4_aggregator = agg
        elif type_code == AttrType.COMMUNITIES:
            # RFC 7606 section 7.8: the length must be a non-zero multiple of 4.
            if not value or len(value) % 4:
                raise _update_error(
                    UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, raw, f"COMMUNITIES length {len(value)}"
                )
            self.communities = struct.unpack(f"!{len(value) // 4}I", value)
        elif type_code == AttrType.LARGE_COMMUNITY:
            # RFC 8092 section 6: the length must be a non-zero multiple of 12.
            if not value or len(value) % 12:
                raise _update_error(
                    UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
                    raw,
                    f"LARGE_COMMUNITY length {len(value)}",
                )
            self.large_communities = tuple(
                LargeCommunity(*t) for t in struct.iter_unpack("!III", value)
            )
        else:
            raise ValueError(f"attribute {type_code} is not decoded here")  # caller bug

    def build(self, width: int) -> PathAttributes:
        as_path = self.as_path
        aggregator = self.aggregator
        # RFC 6793 section 4.2.3: on a 2-octet session, AS4_PATH and AS4_AGGREGATOR
        # restore the ASNs that AS_TRANS replaced; on a 4-octet session they are ignored.
        if width == 2 and as_path is not None and self.as4_path is not None:
            as_path = merge_as4_path(as_path, self.as4_path)
        if (
            width == 2
            and aggregator is not None
            and aggregator.asn == AS_TRANS
            and self.as4_aggregator is not None
        ):
            aggregator = self.as4_aggregator
        return PathAttributes(
            origin=self.origin,
            as_path=as_path,
            next_hop=self.next_hop,
            med=self.med,
            local_pref=self.local_pref,
            atomic_aggregate=self.atomic_aggregate,
            aggregator=aggregator,
            communities=self.communities,
            large_communities=self.large_communities,
            unknown=tuple(self.unknown),
        )
