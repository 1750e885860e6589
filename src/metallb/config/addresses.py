"""Pool address entries: CIDRs and ``first-last`` ranges, as upstream reads them.

This is the one parser of addresses: the configuration, the allocator
(:mod:`metallb.ipam.addresses`) and the speakers read IPs, CIDRs and ranges through it, so
every one of them accepts the same texts and refuses the rest with the same words.

A CIDR keeps upstream's leniency (host bits are masked: ``10.0.0.7/24`` is the whole
/24) and its strictness (no surrounding whitespace). A range may have spaces around its
ends. Both become an :class:`AddressRange` holding the first and last address and the
CIDRs that exactly cover them, which is what overlap and aggregation checks need.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from metallb.config.gotext import go_quote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _v4_int(text: str) -> int | None:
    """A plain dotted quad as an integer, or None; the fast path of parse_ip."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    n = 0
    for p in parts:
        # ASCII digits only, at most 3, no leading zero: Go refuses "010" since 1.17.
        if not (0 < len(p) <= 3 and p.isascii() and p.isdigit()) or (p[0] == "0" and p != "0"):
            return None
        v = int(p)
        if v > 255:
            return None
        n = n << 8 | v
    return n


def is_ipv4_text(text: str) -> bool:
    """Whether ``text`` is a dotted-quad IPv4 address as Go's ``net.ParseIP`` reads one."""
    return ":" not in text and _v4_int(text) is not None


def parse_ip(text: str) -> IPAddress | None:
    """An IP as Go's ``net.ParseIP`` accepts it (no zone, no prefix), or None;
    IPv4-mapped IPv6 counts as IPv4, as Go's ``To4()`` treats it everywhere."""
    if ":" not in text:
        # Fast path for IPv4: ipaddress' own parser would dominate a converge.
        n = _v4_int(text)
        return None if n is None else ipaddress.IPv4Address(n)
    if "%" in text or "/" in text:
        return None
    try:
        ip = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class AddressRange:
    """One ``addresses`` entry of a pool.

    ``first``/``last`` bound it (inclusive); ``networks`` are the CIDRs covering exactly
    those addresses (one for a CIDR entry, the summary of a range); ``source`` is the
    text the user wrote.
    """

    source: str
    first: IPAddress
    last: IPAddress
    networks: tuple[IPNetwork, ...]

    @property
    def version(self) -> int:
        return self.first.version

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    @property
    def shortest_prefix(self) -> int:
        """The least specific prefix length among the covering CIDRs."""
        return min(n.prefixlen for n in self.networks)

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return ip.version == self.version and int(self.first) <= int(ip) <= int(self.last)


class AddressError(ValueError):
    """The entry is neither a CIDR nor a range."""


# The webhook rebuilds the configuration from every pool on each admission, and the
# controller on each change: the same strings, parsed by the slow ipaddress module each
# time. AddressRange is immutable, so parsed entries are shared (errors are not cached).
@functools.lru_cache(maxsize=1 << 16)
def parse_addresses(text: str) -> AddressRange:
    """Parse a pool entry; raise AddressError with upstream's wording."""
    if "-" not in text:
        net = _parse_cidr(text)
        if net is None:
            raise AddressError(f"invalid CIDR {go_quote(text)}")
        return AddressRange(text, net[0], net[-1], (net,))
    start_text, end_text = text.split("-", 1)
    start = parse_ip(start_text.strip())
    if start is None:
        raise AddressError(
            f"invalid IP range {go_quote(text)}: invalid start IP {go_quote(start_text)}"
        )
    end = parse_ip(end_text.strip())
    if end is None:
        raise AddressError(
            f"invalid IP range {go_quote(text)}: invalid end IP {go_quote(end_text)}"
        )
    if start.version != end.version:
        # Go compares the 16-byte forms, so a v4 start always sorts before a v6 end; the
        # range it builds is then meaningless. We refuse it explicitly.
        raise AddressError(
            f"invalid IP range {go_quote(text)}: start and end are of different families"
        )
    if int(start) > int(end):
        raise AddressError(
            f"invalid IP range {go_quote(text)}: start IP {go_quote(start)} is after the end IP "
            f"{go_quote(end)}"
        )
    nets = cast(
        tuple[IPNetwork, ...],
        tuple(ipaddress.summarize_address_range(start, end)),
    )
    return AddressRange(text, start, end, nets)


def _parse_cidr(text: str) -> IPNetwork | None:
    addr, slash, length = text.partition("/")
    if not slash or not length.isascii() or not length.isdigit() or len(length) > 3:
        return None
    ip = parse_ip(addr)
    if ip is None:
        return None
    bits = int(length)
    if ":" in addr and ip.version == 4:
        # Go's ParseCIDR keeps a ::ffff:a.b.c.d/96+n prefix as IPv4 /n.
        bits -= 96
        if bits < 0:
            return None
    if bits > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def overlaps(a: AddressRange, b: AddressRange) -> bool:
    """Whether two entries share an address."""
    return a.version == b.version and int(a.first) <= int(b.last) and int(b.first) <= int(a.last)


def first_overlaps(ranges: Sequence[AddressRange]) -> list[int | None]:
    """For each range, the index of the first earlier one (in ``ranges`` order) it
    overlaps, or None: what comparing every pair says, in near-linear time.

    Sorting by first address and sweeping splits the ranges into clusters that chain
    by overlap; a range that overlaps any other shares its cluster, so only members of
    clusters of two or more are compared pairwise, and only among themselves. Pools
    rarely overlap, so a configuration of thousands of pools costs one sort, where the
    pairwise check grew with the square of the pool count.
    """
    order = sorted(
        range(len(ranges)),
        key=lambda i: (ranges[i].version, int(ranges[i].first), int(ranges[i].last)),
    )
    clusters: list[list[int]] = []
    end = -1
    version = 0
    for i in order:
        r = ranges[i]
        if clusters and r.version == version and int(r.first) <= end:
            clusters[-1].append(i)
            end = max(end, int(r.last))
        else:
            clusters.append([i])
            version, end = r.version, int(r.last)
    out: list[int | None] = [None] * len(ranges)
    for members in clusters:
        if len(members) < 2:
            continue
        members.sort()
        for k, j in enumerate(members):
            out[j] = next((i for i in members[:k] if overlaps(ranges[j], ranges[i])), None)
    return out
