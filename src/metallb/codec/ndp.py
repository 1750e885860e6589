"""IPv6 Neighbor Discovery (RFC 4861) over Ethernet: solicitations and advertisements.

The IPv6 half of the Layer 2 announcer: decode a Neighbor Solicitation arriving on an
AF_PACKET socket, build the Neighbor Advertisement that answers it, and build the
unsolicited advertisement sent on takeover. Frames are whole Ethernet frames carrying an
IPv6 header (RFC 8200 section 3) directly followed by ICMPv6 (next header 58); extension
headers are not walked, as NDP messages never carry them in practice.

NS and NA bodies after the 4-byte ICMPv6 header (RFC 4861 sections 4.3 and 4.4)::

    NS:  | reserved (32)                      | NA: |R|S|O| reserved (29)            |
         | target address (128)               |     | target address (128)         |
         | options ...                        |     | options ...                  |

Options (RFC 4861 section 4.6) are type, length in units of 8 octets, then data; the
source (type 1) and target (type 2) link-layer address options carry a MAC.

Decoders raise only :class:`~metallb.codec.ethernet.FrameError`. Semantic validity
(hop limit, code, checksum, RFC 4861 section 7.1.1) is reported, not enforced, so the
responder can name the reason it drops a frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address

from metallb.codec.ethernet import (
    ETHERTYPE_IPV6,
    EthernetHeader,
    FrameError,
    MacAddress,
    decode_ethernet,
    encode_ethernet,
)

NEXT_HEADER_ICMPV6 = 58
IPV6_HEADER_LEN = 40
# RFC 4861 7.1.1/7.1.2: NDP messages are sent with hop limit 255 and a receiver drops any
# other value, which proves the sender is on-link (a router would have decremented it).
NDP_HOP_LIMIT = 255
ALL_NODES = IPv6Address("ff02::1")  # RFC 4291 2.7.1, link-local all-nodes
_SOLICITED_NODE_PREFIX = int(IPv6Address("ff02::1:ff00:0"))

_IPV6 = struct.Struct("!IHBB16s16s")
_ICMP_HEADER = struct.Struct("!BBH")
_NA_FLAG_ROUTER = 0x80000000
_NA_FLAG_SOLICITED = 0x40000000
_NA_FLAG_OVERRIDE = 0x20000000


class Icmpv6Type(IntEnum):
    """ICMPv6 types of the Neighbor Discovery messages handled here (RFC 4861 4.3, 4.4)."""

    NEIGHBOR_SOLICITATION = 135
    NEIGHBOR_ADVERTISEMENT = 136


class OptionType(IntEnum):
    """Neighbor Discovery option types for link-layer addresses (RFC 4861 4.6.1)."""

    SOURCE_LINK_LAYER_ADDRESS = 1
    TARGET_LINK_LAYER_ADDRESS = 2


_LLA_OPTIONS = frozenset(OptionType)


@dataclass(frozen=True, slots=True)
class NdpOption:
    """One option; ``data`` is everything after the type and length octets."""

    type: int
    data: bytes

    @property
    def link_layer_address(self) -> MacAddress | None:
        """The MAC of a link-layer address option, or None for other options."""
        if self.type not in _LLA_OPTIONS:
            return None
        # RFC 2464 section 6: on Ethernet the option is 8 octets, the MAC then no padding.
        return MacAddress(self.data[:6]) if len(self.data) >= 6 else None


def link_layer_option(kind: OptionType, mac: MacAddress) -> NdpOption:
    """A source or target link-layer address option for an Ethernet MAC."""
    return NdpOption(kind, mac.octets)


@dataclass(frozen=True, slots=True)
class NeighborSolicitation:
    """RFC 4861 4.3: "what is the link-layer address of ``target``?"."""

    target: IPv6Address
    options: tuple[NdpOption, ...] = ()

    @property
    def source_link_layer_address(self) -> MacAddress | None:
        """The first source link-layer address option's MAC, as upstream reads it."""
        return _first_lla(self.options, OptionType.SOURCE_LINK_LAYER_ADDRESS)


@dataclass(frozen=True, slots=True)
class NeighborAdvertisement:
    """RFC 4861 4.4: "``target`` is at this link-layer address"."""

    target: IPv6Address
    router: bool = False
    solicited: bool = False
    override: bool = False
    options: tuple[NdpOption, ...] = ()

    @property
    def target_link_layer_address(self) -> MacAddress | None:
        """The first target link-layer address option's MAC."""
        return _first_lla(self.options, OptionType.TARGET_LINK_LAYER_ADDRESS)


NdpMessage = NeighborSolicitation | NeighborAdvertisement


@dataclass(frozen=True, slots=True)
class Ipv6Header:
    """The fixed IPv6 header (RFC 8200 section 3); ``payload_length`` is as received."""

    src: IPv6Address
    dst: IPv6Address
    hop_limit: int = NDP_HOP_LIMIT
    next_header: int = NEXT_HEADER_ICMPV6
    payload_length: int = 0
    traffic_class: int = 0
    flow_label: int = 0


@dataclass(frozen=True, slots=True)
class NdpFrame:
    """A decoded Ethernet + IPv6 + ICMPv6 frame.

    ``message`` is None for ICMPv6 types other than NS and NA, whose bodies are not parsed.
    """

    ethernet: EthernetHeader
    ipv6: Ipv6Header
    icmp_type: int
    icmp_code: int
    checksum_ok: bool
    message: NdpMessage | None


def _first_lla(options: tuple[NdpOption, ...], kind: OptionType) -> MacAddress | None:
    for option in options:
        if option.type == kind and option.link_layer_address is not None:
            return option.link_layer_address
    return None


def solicited_node_address(ip: IPv6Address) -> IPv6Address:
    """RFC 4291 2.7.1: ff02::1:ff00:0/104 followed by the low 24 bits of ``ip``."""
    return IPv6Address(_SOLICITED_NODE_PREFIX | (int(ip) & 0xFFFFFF))


def multicast_mac(group: IPv6Address) -> MacAddress:
    """RFC 2464 section 7: 33:33 followed by the low 32 bits of the IPv6 multicast group."""
    if not group.is_multicast:
        raise ValueError(f"{group} is not a multicast address")
    return MacAddress(b"\x33\x33" + group.packed[12:])


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def icmpv6_checksum(src: IPv6Address, dst: IPv6Address, message: bytes) -> int:
    """RFC 4443 2.3 checksum of ``message`` (its checksum field zeroed by the caller).

    It covers the IPv6 pseudo-header of RFC 8200 8.1: source, destination, 32-bit
    upper-layer length, three zero octets and the next header value 58.
    """
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(message), NEXT_HEADER_ICMPV6)
    return 0xFFFF - _ones_complement_sum(pseudo + message)


def _encode_options(options: tuple[NdpOption, ...]) -> bytes:
    out = b""
    for option in options:
        # RFC 4861 4.6: the length counts 8-octet units, type and length octets included.
        size = -(-(len(option.data) + 2) // 8) * 8
        if size // 8 > 255:
            raise ValueError(f"option of {len(option.data)} bytes is too long")
        out += bytes((option.type, size // 8)) + option.data.ljust(size - 2, b"\x00")
    return out


def _decode_options(data: bytes) -> tuple[NdpOption, ...]:
    options = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 2:
            raise FrameError("truncated NDP option header")
        kind, units = data[offset], data[offset + 1]
        # RFC 4861 4.6: "Nodes MUST silently discard an ND packet that contains an option
        # with length zero" (it would also loop forever).
        if units == 0:
            raise FrameError(f"NDP option type {kind} has length zero")
        end = offset + units * 8
        if end > len(data):
            raise FrameError(f"NDP option type {kind} runs past the end of the message")
        options.append(NdpOption(kind, bytes(data[offset + 2 : end])))
        offset = end
    return tuple(options)


def encode_message(message: NdpMessage) -> tuple[int, bytes]:
    """The ICMPv6 type and the body after the 4-byte ICMPv6 header."""
    if isinstance(message, NeighborSolicitation):
        body = bytes(4) + message.target.packed + _encode_options(message.options)
        return Icmpv6Type.NEIGHBOR_SOLICITATION, body
    flags = (
        (_NA_FLAG_ROUTER if message.router else 0)
        | (_NA_FLAG_SOLICITED if message.solicited else 0)
        | (_NA_FLAG_OVERRIDE if message.override else 0)
    )
    body = struct.pack("!I", flags) + message.target.packed + _encode_options(message.options)
    return Icmpv6Type.NEIGHBOR_ADVERTISEMENT, body


def encode_icmpv6(src: IPv6Address, dst: IPv6Address, icmp_type: int, body: bytes) -> bytes:
    """An ICMPv6 message (code 0) with its checksum filled in."""
    unsummed = _ICMP_HEADER.pack(icmp_type, 0, 0) + body
    checksum = icmpv6_checksum(src, dst, unsummed)
    return unsummed[:2] + struct.pack("!H", checksum) + unsummed[4:]


def encode_ndp_frame(
    ethernet: EthernetHeader, src: IPv6Address, dst: IPv6Address, message: NdpMessage
) -> bytes:
    """A full frame: Ethernet, IPv6 with hop limit 255, ICMPv6 with a valid checksum."""
    icmp_type, body = encode_message(message)
    icmp = encode_icmpv6(src, dst, icmp_type, body)
    ip = _IPV6.pack(6 << 28, len(icmp), NEXT_HEADER_ICMPV6, NDP_HOP_LIMIT, src.packed, dst.packed)
    return encode_ethernet(EthernetHeader(ethernet.dst, ethernet.src, ETHERTYPE_IPV6), ip + icmp)


def decode_ipv6(payload: bytes) -> tuple[Ipv6Header, bytes]:
    """Split an IPv6 packet into header and upper-layer bytes (Ethernet padding dropped)."""
    if len(payload) < IPV6_HEADER_LEN:
        raise FrameError(f"IPv6 packet of {len(payload)} bytes is shorter than its header")
    first, length, next_header, hop_limit, src, dst = _IPV6.unpack_from(payload)
    if first >> 28 != 6:
        raise FrameError(f"IP version {first >> 28} in an IPv6 EtherType frame")
    if IPV6_HEADER_LEN + length > len(payload):
        raise FrameError(f"IPv6 payload length {length} exceeds the {len(payload)}-byte frame")
    header = Ipv6Header(
        src=IPv6Address(src),
        dst=IPv6Address(dst),
        hop_limit=hop_limit,
        next_header=next_header,
        payload_length=length,
        traffic_class=(first >> 20) & 0xFF,
        flow_label=first & 0xFFFFF,
    )
    return header, bytes(payload[IPV6_HEADER_LEN : IPV6_HEADER_LEN + length])


def decode_message(icmp_type: int, body: bytes) -> NdpMessage | None:
    """Decode the body of an NS or NA (after the ICMPv6 header); None for other types."""
    if icmp_type not in (Icmpv6Type.NEIGHBOR_SOLICITATION, Icmpv6Type.NEIGHBOR_ADVERTISEMENT):
        return None
    # RFC 4861 7.1.1/7.1.2: ICMP length (derived from the IP length) is 24 or more octets.
    if len(body) < 20:
        raise FrameError(f"NDP message body of {len(body)} bytes is shorter than 20")
    target = IPv6Address(body[4:20])
    options = _decode_options(body[20:])
    if icmp_type == Icmpv6Type.NEIGHBOR_SOLICITATION:
        return NeighborSolicitation(target, options)
    (flags,) = struct.unpack_from("!I", body)
    return NeighborAdvertisement(
        target,
        router=bool(flags & _NA_FLAG_ROUTER),
        solicited=bool(flags & _NA_FLAG_SOLICITED),
        override=bool(flags & _NA_FLAG_OVERRIDE),
        options=options,
    )


def decode_ndp_frame(frame: bytes) -> NdpFrame:
    """Decode an Ethernet frame that must carry IPv6 directly followed by ICMPv6."""
    ethernet, payload = decode_ethernet(frame)
    if ethernet.ethertype != ETHERTYPE_IPV6:
        raise FrameError(f"EtherType {ethernet.ethertype:#06x} is not IPv6")
    ipv6, icmp = decode_ipv6(payload)
    if ipv6.next_header != NEXT_HEADER_ICMPV6:
        raise FrameError(f"IPv6 next header {ipv6.next_header} is not ICMPv6")
    if len(icmp) < _ICMP_HEADER.size:
        raise FrameError(f"ICMPv6 message of {len(icmp)} bytes is shorter than its header")
    icmp_type, code, checksum = _ICMP_HEADER.unpack_from(icmp)
    zeroed = icmp[:2] + b"\x00\x00" + icmp[4:]
    checksum_ok = icmpv6_checksum(ipv6.src, ipv6.dst, zeroed) == checksum
    message = decode_message(icmp_type, icmp[4:])
    return NdpFrame(ethernet, ipv6, icmp_type, code, checksum_ok, message)


def solicitation_frame(src_mac: MacAddress, src_ip: IPv6Address, target: IPv6Address) -> bytes:
    """A multicast NS for ``target`` as a host resolving it sends (RFC 4861 7.2.2).

    It goes to the target's solicited-node group and carries the source link-layer
    address option, which upstream (and so we) require before answering.
    """
    group = solicited_node_address(target)
    option = link_layer_option(OptionType.SOURCE_LINK_LAYER_ADDRESS, src_mac)
    ethernet = EthernetHeader(multicast_mac(group), src_mac, ETHERTYPE_IPV6)
    return encode_ndp_frame(ethernet, src_ip, group, NeighborSolicitation(target, (option,)))


def advertisement_frame(
    *,
    src_mac: MacAddress,
    src_ip: IPv6Address,
    dst_mac: MacAddress,
    dst_ip: IPv6Address,
    target: IPv6Address,
    solicited: bool,
    override: bool,
) -> bytes:
    """An NA saying ``target`` is at ``src_mac`` (target link-layer address option)."""
    option = link_layer_option(OptionType.TARGET_LINK_LAYER_ADDRESS, src_mac)
    message = NeighborAdvertisement(
        target, solicited=solicited, override=override, options=(option,)
    )
    ethernet = EthernetHeader(dst_mac, src_mac, ETHERTYPE_IPV6)
    return encode_ndp_frame(ethernet, src_ip, dst_ip, message)


def unsolicited_advertisement_frame(
    mac: MacAddress, link_local: IPv6Address, target: IPv6Address
) -> bytes:
    """The takeover announcement: an NA to all-nodes with Override set, Solicited clear.

    RFC 4861 7.2.6: an unsolicited NA goes to the all-nodes multicast address; with the
    Override flag receivers replace a cached link-layer address (7.2.5), which is the
    point of a takeover. Upstream sources it from the interface's link-local address.
    """
    return advertisement_frame(
        src_mac=mac,
        src_ip=link_local,
        dst_mac=multicast_mac(ALL_NODES),
        dst_ip=ALL_NODES,
        target=target,
        solicited=False,
        override=True,
    )
