"""Addresses as integers: parsing, families, ranges, buggy IPs and pool capacity.

The allocator never materialises a pool. A pool is a list of inclusive integer ranges,
one per `addresses` entry, and every address the allocator tracks is an integer *key*:
the IPv4 value itself, or the IPv6 value with bit 128 set, so that `0.0.0.1` and `::1`
never collide in one dictionary. Conversion to `ipaddress` objects happens only at the
API boundary.

Parsing is the configuration's (:mod:`metallb.config.addresses`, Go's `net.ParseIP`/
`net.ParseCIDR` as upstream uses them), so the allocator reads exactly the texts the
configuration accepted; `parse_ip` and `IPAddress` are re-exported from there.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from metallb.config import addresses as config_addresses
from metallb.config.addresses import IPAddress, is_ipv4_text, parse_ip
from metallb.config.gotext import go_quote

V6_FLAG = 1 << 128
"""Set on the integer key of every IPv6 address (see the module docstring)."""

MAX_INT64 = (1 << 63) - 1
"""Upstream's "enormous" IPv6 capacity (Go `math.MaxInt64`)."""


class Family(enum.StrEnum):
    """An address family, or the family of a set of addresses; values as upstream prints them."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DUAL = "dual"


def family_of(ip: IPAddress) -> Family:
    """The family of one address."""
    return Family.IPV4 if ip.version == 4 else Family.IPV6


def to_key(ip: IPAddress) -> int:
    """The integer key of an address (IPv6 keys carry V6_FLAG)."""
    return int(ip) if ip.version == 4 else int(ip) | V6_FLAG


def from_key(key: int) -> IPAddress:
    """The address of an integer key."""
    if key & V6_FLAG:
        return ipaddress.IPv6Address(key ^ V6_FLAG)
    return ipaddress.IPv4Address(key)


def is_v6_key(key: int) -> bool:
    """True when the key is an IPv6 address."""
    return bool(key & V6_FLAG)


def is_buggy_key(key: int) -> bool:
    """IPv4 addresses ending in .0 or .255 confuse the smurf protection of some old CPE."""
    return not key & V6_FLAG and (key & 0xFF) in (0, 255)


def family_for_addresses(texts: Sequence[str]) -> tuple[Family | None, str | None]:
    """The family of 1 or 2 address strings, or an error text as upstream's ipfamily says it."""
    if len(texts) not in (1, 2):
        return None, f"IPFamilyForAddresses: invalid ips length {len(texts)} {go_quote_list(texts)}"
    families = {_text_family(t) for t in texts}
    if None in families:
        return None, f"IPFamilyForAddresses: Invalid address {go_quote_list(texts)}"
    if len(texts) == 2:
        if len(families) == 1:
            return None, f"IPFamilyForAddresses: same address family {go_quote_list(texts)}"
        return Family.DUAL, None
    return families.pop(), None


def _text_family(text: str) -> Family | None:
    if ":" not in text:
        return Family.IPV4 if is_ipv4_text(text) else None
    ip = parse_ip(text)
    return None if ip is None else family_of(ip)


def go_quote_list(items: Sequence[object]) -> str:
    """Render a list as Go's `%q` does for a slice of strings or IPs: `["a" "b"]`."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


@dataclass(frozen=True, slots=True)
class AddressRange:
    """An inclusive range of addresses of one family, as plain integers (not keys)."""

    family: Family
    first: int
    last: int

    def __post_init__(self) -> None:
        bits = 32 if self.family is Family.IPV4 else 128
        if self.family is Family.DUAL or not 0 <= self.first <= self.last < (1 << bits):
            raise ValueError(f"invalid address range {self.family} {self.first}-{self.last}")

    @property
    def first_key(self) -> int:
        """The integer key of the first address."""
        return self.first if self.family is Family.IPV4 else self.first | V6_FLAG

    @property
    def last_key(self) -> int:
        """The integer key of the last address."""
        return self.last if self.family is Family.IPV4 else self.last | V6_FLAG

    @classmethod
    def of(cls, r: config_addresses.AddressRange) -> AddressRange:
        """The integer range of a parsed configuration entry."""
        return cls(Family.IPV4 if r.version == 4 else Family.IPV6, int(r.first), int(r.last))

    def __str__(self) -> str:
        if self.family is Family.IPV4:
            a: IPAddress = ipaddress.IPv4Address(self.first)
            b: IPAddress = ipaddress.IPv4Address(self.last)
        else:
            a, b = ipaddress.IPv6Address(self.first), ipaddress.IPv6Address(self.last)
        return f"{a}-{b}"


def parse_addresses(entry: str) -> AddressRange:
    """Parse one IPAddressPool `addresses` entry (a CIDR or an `a-b` range) with the
    configuration's parser; AddressError (a ValueError) in upstream's words if invalid."""
    return AddressRange.of(config_addresses.parse_addresses(entry))


def summarize(first: int, last: int, bits: int) -> Iterator[tuple[int, int]]:
    """The minimal ascending CIDRs covering [first, last], as (network, prefix length)."""
    while first <= last:
        # The largest block aligned on `first` that does not run past `last`.
        host = (first & -first).bit_length() - 1 if first else bits
        while host > 0 and first + (1 << host) - 1 > last:
            host -= 1
        yield first, bits - host
        first += 1 << host


def range_capacity(r: AddressRange, *, avoid_buggy_ips: bool) -> int:
    """Capacity of one range, counted CIDR by CIDR the way upstream's `poolCount` does.

    Upstream quirks kept on purpose so that status and metrics match: a CIDR with 62 or
    more host bits counts MAX_INT64; with avoidBuggyIPs a CIDR of /24 or shorter loses
    two addresses per /24, a longer one loses one if its first address is .0/.255 and
    one if its last is, so a lone /32 on .0 or .255 counts -1.
    """
    bits = 32 if r.family is Family.IPV4 else 128
    total = 0
    for network, prefix in summarize(r.first, r.last, bits):
        host = bits - prefix
        if host >= 62:
            return MAX_INT64
        size = 1 << host
        if avoid_buggy_ips and r.family is Family.IPV4:
            if prefix <= 24:
                size -= 2 << (24 - prefix)
            else:
                size -= is_buggy_key(network) + is_buggy_key(network + size - 1)
        total += size
    return total


def pool_capacity(ranges: Sequence[AddressRange], *, avoid_buggy_ips: bool) -> tuple[int, int]:
    """IPv4 and IPv6 capacity of a pool as upstream counts it.

    Where upstream's int64 arithmetic would overflow (a small IPv6 CIDR after an enormous
    one) we saturate at MAX_INT64 instead of wrapping to a negative number.
    """
    v4 = v6 = 0
    for r in ranges:
        size = range_capacity(r, avoid_buggy_ips=avoid_buggy_ips)
        if r.family is Family.IPV4:
            v4 += size
        elif size == MAX_INT64:
            v6 = MAX_INT64  # upstream assigns rather than adds here
        else:
            v6 = min(MAX_INT64, v6 + size)
    return v4, v6
