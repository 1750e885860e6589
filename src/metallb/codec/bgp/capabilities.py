"""Capabilities advertised in the OPEN message (RFC 5492).

Each capability is a TLV inside an optional parameter of type 2::

    +------------------------------+
    | Capability Code (1 octet)    |
    +------------------------------+
    | Capability Length (1 octet)  |
    +------------------------------+
    | Capability Value (variable)  |
    ~                              ~
    +------------------------------+

Known here: Multiprotocol (RFC 4760 section 8), Route Refresh (RFC 2918 section 2),
Graceful Restart (RFC 4724 section 3) and 4-octet AS (RFC 6793 section 3). Anything else
is kept as :class:`UnknownCapability` with its raw value: RFC 5492 section 3 says a
speaker ignores capabilities it does not understand, and keeping the bytes lets a
decoded OPEN be logged and re-encoded unchanged.

A recognised capability whose value is malformed is an OPEN Message Error with subcode 0
("Unspecific", RFC 4271 section 6.2: "recognized, but is malformed").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from metallb.codec.bgp.errors import BGPError, ErrorCode, OpenSubcode
from metallb.codec.bgp.nlri import Family


class CapabilityCode(IntEnum):
    MULTIPROTOCOL = 1
    ROUTE_REFRESH = 2
    GRACEFUL_RESTART = 64
    FOUR_OCTET_AS = 65


@dataclass(frozen=True)
class Multiprotocol:
    """RFC 4760 section 8: AFI (2 octets), reserved (1), SAFI (1)."""

    family: Family


@dataclass(frozen=True)
class RouteRefresh:
    """RFC 2918 section 2: no value."""


@dataclass(frozen=True)
class FourOctetAS:
    """RFC 6793 section 3: the speaker's real AS number, 4 octets."""

    asn: int


@dataclass(frozen=True)
class GracefulRestartFamily:
    family: Family
    flags: int = 0  # bit 0x80 is F, "forwarding state preserved"

    @property
    def forwarding_preserved(self) -> bool:
        return bool(self.flags & 0x80)


@dataclass(frozen=True)
class GracefulRestart:
    """RFC 4724 section 3::

    +--------------------------------------------------+
    | Restart Flags (4 bits)                           |
    +--------------------------------------------------+
    | Restart Time in seconds (12 bits)                |
    +--------------------------------------------------+
    | Address Family Identifier (16 bits)              |
    +--------------------------------------------------+
    | Subsequent Address Family Identifier (8 bits)    |
    +--------------------------------------------------+
    | Flags for Address Family (8 bits)                |
    +--------------------------------------------------+
    | ...  (AFI, SAFI, flags repeated)                 |
    +--------------------------------------------------+
    """

    restart_time: int = 120
    restart_flags: int = 0  # 4 bits: 0x8 is R ("restarting"), 0x4 is N (RFC 8538)
    families: tuple[GracefulRestartFamily, ...] = ()

    @property
    def restarting(self) -> bool:
        return bool(self.restart_flags & 0x8)


@dataclass(frozen=True)
class UnknownCapability:
    code: int
    value: bytes = b""


Capability = Multiprotocol | RouteRefresh | FourOctetAS | GracefulRestart | UnknownCapability

_MP = struct.Struct("!HBB")
_GR_FAMILY = struct.Struct("!HBB")


def _value(cap: Capability) -> tuple[int, bytes]:
    if isinstance(cap, Multiprotocol):
        return CapabilityCode.MULTIPROTOCOL, _MP.pack(cap.family.afi, 0, cap.family.safi)
    if isinstance(cap, RouteRefresh):
        return CapabilityCode.ROUTE_REFRESH, b""
    if isinstance(cap, FourOctetAS):
        return CapabilityCode.FOUR_OCTET_AS, struct.pack("!I", cap.asn)
    if isinstance(cap, GracefulRestart):
        if not 0 <= cap.restart_time < 1 << 12 or not 0 <= cap.restart_flags < 1 << 4:
            raise ValueError("graceful restart time is 12 bits and flags 4 bits")
        head = struct.pack("!H", (cap.restart_flags << 12) | cap.restart_time)
        fams = b"".join(_GR_FAMILY.pack(f.family.afi, f.family.safi, f.flags) for f in cap.families)
        return CapabilityCode.GRACEFUL_RESTART, head + fams
    return cap.code, cap.value


def encode_capability(cap: Capability) -> bytes:
    code, value = _value(cap)
    if len(value) > 255:
        raise ValueError(f"capability {code} value of {len(value)} bytes does not fit")
    return bytes([code, len(value)]) + value


def _malformed(code: int, reason: str) -> BGPError:
    return BGPError(
        ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, reason=f"capability {code}: {reason}"
    )


def _decode_one(code: int, value: bytes) -> Capability:
    # Each branch checks the fixed length its RFC defines; a wrong length is "recognized
    # but malformed" (RFC 4271 section 6.2).
    if code == CapabilityCode.MULTIPROTOCOL:
        if len(value) != 4:  # RFC 4760 section 8
            raise _malformed(code, f"length {len(value)}, expected 4")
        afi, _reserved, safi = _MP.unpack(value)
        return Multiprotocol(Family(afi, safi))
    if code == CapabilityCode.ROUTE_REFRESH:
        if value:  # RFC 2918 section 2: Capability Length is 0
            raise _malformed(code, f"length {len(value)}, expected 0")
        return RouteRefresh()
    if code == CapabilityCode.FOUR_OCTET_AS:
        if len(value) != 4:  # RFC 6793 section 3
            raise _malformed(code, f"length {len(value)}, expected 4")
        return FourOctetAS(struct.unpack("!I", value)[0])
    if code == CapabilityCode.GRACEFUL_RESTART:
        # RFC 4724 section 3: 2 octets of flags and time, then 4 octets per family.
        if len(value) < 2 or (len(value) - 2) % 4:
            raise _malformed(code, f"length {len(value)} is not 2 + 4n")
        (head,) = struct.unpack_from("!H", value)
        fams = tuple(
            GracefulRestartFamily(Family(afi, safi), flags)
            for afi, safi, flags in _GR_FAMILY.iter_unpack(value[2:])
        )
        return GracefulRestart(head & 0x0FFF, head >> 12, fams)
    return UnknownCapability(code, value)


def decode_capabilities(data: bytes) -> tuple[Capability, ...]:
    """Decode the value of one Capabilities optional parameter (RFC 5492 section 4)."""
    out: list[Capability] = []
    i = 0
    while i < len(data):
        # RFC 5492 section 4: every capability has a 2-octet code/length header and a
        # value that fits inside the parameter.
        if i + 2 > len(data):
            raise _malformed(data[i], "truncated capability header")
        code, length = data[i], data[i + 1]
        if i + 2 + length > len(data):
            raise _malformed(code, "value runs past the end of the parameter")
        out.append(_decode_one(code, data[i + 2 : i + 2 + length]))
        i += 2 + length
    return tuple(out)
