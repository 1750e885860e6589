"""ARP over Ethernet for IPv4 (RFC 826): encode and decode requests and replies.

Only the Ethernet/IPv4 flavour exists on the links a speaker answers on, so the decoder
accepts exactly that (hardware type 1, protocol 0x0800, address lengths 6 and 4) and
raises :class:`~metallb.codec.ethernet.FrameError` for anything else. The builders at the
bottom make the three frames the Layer 2 announcer sends: a reply to a request, and the
gratuitous request and reply pair sent on takeover.

Packet layout (RFC 826, "Packet format"), 28 bytes after the Ethernet header::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     hardware type (hrd)       |     protocol type (pro)       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  hlen (hln)   |  plen (pln)   |        operation (op)         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  sender hardware address (sha, 6) | sender protocol addr (4)  |
    |  target hardware address (tha, 6) | target protocol addr (4)  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address

from metallb.codec.ethernet import (
    BROADCAST,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    EthernetHeader,
    FrameError,
    MacAddress,
    decode_ethernet,
    encode_ethernet,
)

HARDWARE_ETHERNET = 1  # RFC 826 ar$hrd; IANA "Hardware Types" 1 = Ethernet (10Mb)
PACKET_LEN = 28

_PACKET = struct.Struct("!HHBBH6s4s6s4s")


class ArpOperation(IntEnum):
    """The ``ar$op`` values this codec builds (RFC 826; IANA "Operation Codes")."""

    REQUEST = 1
    REPLY = 2


@dataclass(frozen=True, slots=True)
class ArpPacket:
    """An Ethernet/IPv4 ARP packet. ``operation`` is kept as a plain int on decode, so
    operations we do not build (RARP, InARP) still decode and can be told apart."""

    operation: int
    sender_mac: MacAddress
    sender_ip: IPv4Address
    target_mac: MacAddress
    target_ip: IPv4Address


@dataclass(frozen=True, slots=True)
class ArpFrame:
    """An ARP packet with the Ethernet header it arrived in."""

    ethernet: EthernetHeader
    packet: ArpPacket


def encode_arp_packet(packet: ArpPacket) -> bytes:
    """The 28-byte ARP packet, without Ethernet header."""
    return _PACKET.pack(
        HARDWARE_ETHERNET,
        ETHERTYPE_IPV4,
        6,
        4,
        packet.operation,
        packet.sender_mac.octets,
        packet.sender_ip.packed,
        packet.target_mac.octets,
        packet.target_ip.packed,
    )


def decode_arp_packet(data: bytes) -> ArpPacket:
    """Decode an ARP packet; trailing bytes (Ethernet padding) are ignored."""
    if len(data) < PACKET_LEN:
        raise FrameError(f"ARP packet of {len(data)} bytes is shorter than {PACKET_LEN}")
    hrd, pro, hln, pln, op, sha, spa, tha, tpa = _PACKET.unpack_from(data)
    # RFC 826: a receiver checks ar$hrd and ar$pro before anything else; with other
    # address lengths the fields below would sit at other offsets, so reject those too.
    if hrd != HARDWARE_ETHERNET or pro != ETHERTYPE_IPV4:
        raise FrameError(f"ARP for hardware type {hrd} protocol {pro:#06x} is not Ethernet/IPv4")
    if hln != 6 or pln != 4:
        raise FrameError(f"ARP address lengths {hln}/{pln} are not 6/4")
    return ArpPacket(op, MacAddress(sha), IPv4Address(spa), MacAddress(tha), IPv4Address(tpa))


def encode_arp_frame(dst: MacAddress, src: MacAddress, packet: ArpPacket) -> bytes:
    """A full Ethernet frame carrying ``packet``, padded to the minimum frame size."""
    return encode_ethernet(EthernetHeader(dst, src, ETHERTYPE_ARP), encode_arp_packet(packet))


def decode_arp_frame(frame: bytes) -> ArpFrame:
    """Decode an Ethernet frame that must carry Ethernet/IPv4 ARP."""
    header, payload = decode_ethernet(frame)
    if header.ethertype != ETHERTYPE_ARP:
        raise FrameError(f"EtherType {header.ethertype:#06x} is not ARP")
    return ArpFrame(header, decode_arp_packet(payload))


def request_frame(src_mac: MacAddress, src_ip: IPv4Address, target_ip: IPv4Address) -> bytes:
    """A broadcast who-has for ``target_ip`` (what a client sends; used by tests and tools)."""
    packet = ArpPacket(ArpOperation.REQUEST, src_mac, src_ip, MacAddress(bytes(6)), target_ip)
    return encode_arp_frame(BROADCAST, src_mac, packet)


def reply_frame(request: ArpPacket, mac: MacAddress) -> bytes:
    """The unicast reply to ``request``: ``request.target_ip`` is at ``mac``.

    As upstream (through the Go arp package's ``Reply``), the reply goes to the
    requester's hardware address from the ARP body, the sender is this interface's own
    MAC and the requested IP, and the target is the requester (RFC 826, "swap fields").
    """
    packet = ArpPacket(
        ArpOperation.REPLY, mac, request.target_ip, request.sender_mac, request.sender_ip
    )
    return encode_arp_frame(request.sender_mac, mac, packet)


def gratuitous_frames(mac: MacAddress, ip: IPv4Address) -> tuple[bytes, bytes]:
    """The gratuitous request and reply announcing that ``ip`` is now at ``mac``.

    Upstream sends both forms, broadcast, each with sender IP = target IP = ``ip`` and
    target MAC ff:ff:ff:ff:ff:ff: hosts differ in which form refreshes their cache (the
    request form is RFC 5227 section 3's "ARP Announcement"; some stacks only learn
    from replies), so sending both reaches every client.
    """
    request = ArpPacket(ArpOperation.REQUEST, mac, ip, BROADCAST, ip)
    reply = ArpPacket(ArpOperation.REPLY, mac, ip, BROADCAST, ip)
    return encode_arp_frame(BROADCAST, mac, request), encode_arp_frame(BROADCAST, mac, reply)
