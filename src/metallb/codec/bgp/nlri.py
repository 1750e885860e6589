"""Address families and the prefix encoding shared by every NLRI field.

The classic NLRI and Withdrawn Routes fields (RFC 4271 section 4.3) and the NLRI inside
MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 section 5) all encode a prefix the same way:
one length octet in bits, then just enough octets to hold that many bits::

    +---------------------------+
    |   Length (1 octet)        |
    +---------------------------+
    |   Prefix (variable)       |
    +---------------------------+

The trailing bits past the length are irrelevant (RFC 4271 section 4.3), so they are
masked off on decode instead of being rejected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Network, IPv6Network

from metallb.codec.bgp.errors import BGPError, ErrorCode, UpdateSubcode

Prefix = IPv4Network | IPv6Network


class AFI(IntEnum):
    """Address Family Identifiers used here (IANA registry)."""

    IPV4 = 1
    IPV6 = 2


class SAFI(IntEnum):
    """Subsequent Address Family Identifiers used here (RFC 4760 section 6)."""

    UNICAST = 1


@dataclass(frozen=True, order=True)
class Family:
    """An (AFI, SAFI) pair; plain ints so families we do not speak survive a round trip."""

    afi: int
    safi: int

    def __str__(self) -> str:
        names = {IPV4_UNICAST: "ipv4-unicast", IPV6_UNICAST: "ipv6-unicast"}
        return names.get(self, f"afi{self.afi}-safi{self.safi}")


IPV4_UNICAST = Family(AFI.IPV4, SAFI.UNICAST)
IPV6_UNICAST = Family(AFI.IPV6, SAFI.UNICAST)


def family_of(prefix: Prefix) -> Family:
    return IPV4_UNICAST if prefix.version == 4 else IPV6_UNICAST


def encode_prefix(prefix: Prefix) -> bytes:
    """Length octet plus the minimum number of address octets (RFC 4271 section 4.3)."""
    plen = prefix.prefixlen
    return bytes([plen]) + prefix.network_address.packed[: (plen + 7) // 8]


def encode_prefixes(prefixes: Iterable[Prefix]) -> bytes:
    return b"".join(encode_prefix(p) for p in prefixes)


def encoded_prefix_len(prefix: Prefix) -> int:
    return 1 + (prefix.prefixlen + 7) // 8


def decode_prefixes(
    data: bytes,
    version: int,
    *,
    code: int = ErrorCode.UPDATE_MESSAGE,
    subcode: int = UpdateSubcode.INVALID_NETWORK_FIELD,
) -> tuple[Prefix, ...]:
    """Decode a run of prefixes of one IP version, raising BGPError(code, subcode).

    The default error is Invalid Network Field (RFC 4271 section 6.3): a prefix length
    longer than the address, or a prefix that runs past the end of the field.
    """
    width = 4 if version == 4 else 16
    max_len = width * 8
    out: list[Prefix] = []
    i = 0
    end = len(data)
    while i < end:
        plen = data[i]
        nbytes = (plen + 7) // 8
        # RFC 4271 section 6.3 / RFC 7606 section 5.3: a length beyond the address size or
        # an overrun of the field makes the NLRI syntactically incorrect.
        if plen > max_len:
            raise BGPError(code, subcode, reason=f"prefix length {plen} > {max_len}")
        if i + 1 + nbytes > end:
            raise BGPError(code, subcode, reason="prefix runs past the end of its field")
        value = int.from_bytes(data[i + 1 : i + 1 + nbytes], "big") << (8 * (width - nbytes))
        if version == 4:
            out.append(IPv4Network((value, plen), strict=False))
        else:
            out.append(IPv6Network((value, plen), strict=False))
        i += 1 + nbytes
    return tuple(out)
