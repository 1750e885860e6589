"""Ethernet II framing shared by the ARP and NDP codecs, and their one error type.

The Layer 2 responders read and write whole link-layer frames on AF_PACKET sockets, so
both codecs start from the 14-byte Ethernet II header (IEEE 802.3 clause 3.2, with the
EtherType field of RFC 894). This module holds that header, the MAC address value, the
minimum-frame padding, and :class:`FrameError`, the only exception any decoder in
:mod:`metallb.codec.arp` and :mod:`metallb.codec.ndp` raises, whatever bytes it is given.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD

HEADER_LEN = 14
# IEEE 802.3 minimum frame is 64 bytes with the 4-byte FCS the NIC appends, so 60 bytes
# leave the host. Real NICs pad short frames themselves, veth pairs do not; we pad like
# the Go ethernet package upstream relies on, so captures look the same.
MIN_FRAME_LEN = 60

_HEADER = struct.Struct("!6s6sH")


class FrameError(ValueError):
    """A frame could not be decoded: too short, wrong type, inconsistent lengths.

    Decoders raise this and nothing else on bad input; responders count it as a drop.
    """


@dataclass(frozen=True, slots=True)
class MacAddress:
    """A 48-bit IEEE 802 MAC address."""

    octets: bytes

    def __post_init__(self) -> None:
        if len(self.octets) != 6:
            raise ValueError(f"a MAC address has 6 octets, not {len(self.octets)}")

    @classmethod
    def parse(cls, text: str) -> MacAddress:
        """Parse ``aa:bb:cc:dd:ee:ff`` (or with ``-`` separators)."""
        parts = text.replace("-", ":").split(":")
        if len(parts) != 6 or not all(len(p) == 2 for p in parts):
            raise ValueError(f"not a MAC address: {text!r}")
        try:
            return cls(bytes(int(p, 16) for p in parts))
        except ValueError:
            raise ValueError(f"not a MAC address: {text!r}") from None

    @property
    def is_multicast(self) -> bool:
        """The I/G bit (least significant bit of the first octet) is set; IEEE 802 9.2."""
        return bool(self.octets[0] & 0x01)

    def __str__(self) -> str:
        return ":".join(f"{b:02x}" for b in self.octets)


BROADCAST = MacAddress(b"\xff" * 6)
ZERO_MAC = MacAddress(b"\x00" * 6)


@dataclass(frozen=True, slots=True)
class EthernetHeader:
    """The Ethernet II header: destination, source and EtherType."""

    dst: MacAddress
    src: MacAddress
    ethertype: int


def encode_ethernet(header: EthernetHeader, payload: bytes) -> bytes:
    """Prefix ``payload`` with ``header`` and pad the frame to :data:`MIN_FRAME_LEN`."""
    frame = _HEADER.pack(header.dst.octets, header.src.octets, header.ethertype) + payload
    if len(frame) < MIN_FRAME_LEN:
        frame += bytes(MIN_FRAME_LEN - len(frame))
    return frame


def decode_ethernet(frame: bytes) -> tuple[EthernetHeader, bytes]:
    """Split a frame into its header and payload (payload may carry trailing padding)."""
    if len(frame) < HEADER_LEN:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than an Ethernet header")
    dst, src, ethertype = _HEADER.unpack_from(frame)
    return EthernetHeader(MacAddress(dst), MacAddress(src), ethertype), bytes(frame[HEADER_LEN:])
