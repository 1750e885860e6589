"""Many prefixes per UPDATE: the encoder behind fast bulk announcements.

Upstream MetalLB's native speaker sends one UPDATE per prefix, so 10,000 service IPs
cost 10,000 messages, each repeating the same path attributes. RFC 4271 section 4.3
lets one UPDATE carry any number of prefixes that share their attributes, up to the
4096-octet message limit; a /32 costs 5 octets there, so about 800 fit in one message.

IPv4 prefixes go in the classic NLRI / Withdrawn Routes fields; IPv6 prefixes in
MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760). Prefixes keep the caller's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Network, IPv6Address, IPv6Network

from metallb.codec.bgp.attributes import PathAttributes, encode_path_attributes
from metallb.codec.bgp.header import HEADER_LEN, MAX_MESSAGE_LEN
from metallb.codec.bgp.mp import MpReach, MpUnreach
from metallb.codec.bgp.negotiated import Negotiated
from metallb.codec.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, Prefix, encoded_prefix_len
from metallb.codec.bgp.update import Update, encode_update

# Withdrawn Routes Length and Total Path Attribute Length, 2 octets each.
_UPDATE_FIXED = HEADER_LEN + 4
# An MP attribute header (with Extended Length, the worst case) plus AFI and SAFI.
_MP_FIXED = 4 + 3


def _chunks(prefixes: list[Prefix], budget: int) -> Iterator[list[Prefix]]:
    """Split ``prefixes`` greedily into runs whose encoding fits in ``budget`` octets."""
    if budget < encoded_prefix_len(IPv6Network("::/128")):
        raise ValueError(f"only {budget} octets left for NLRI in a message")
    run: list[Prefix] = []
    used = 0
    for prefix in prefixes:
        size = encoded_prefix_len(prefix)
        if used + size > budget:
            yield run
            run, used = [], 0
        run.append(prefix)
        used += size
    if run:
        yield run


def _split(prefixes: Iterable[Prefix]) -> tuple[list[Prefix], list[Prefix]]:
    v4: list[Prefix] = []
    v6: list[Prefix] = []
    for p in prefixes:
        (v4 if p.version == 4 else v6).append(p)
    return v4, v6


def pack_announcements(
    prefixes: Iterable[Prefix],
    attributes: PathAttributes,
    negotiated: Negotiated,
    *,
    next_hop_v6: IPv6Address | None = None,
    link_local_v6: IPv6Address | None = None,
    max_size: int = MAX_MESSAGE_LEN,
) -> list[bytes]:
    """UPDATE messages announcing every prefix with ``attributes``, each <= ``max_size``.

    IPv4 prefixes need ``attributes.next_hop``; IPv6 prefixes need ``next_hop_v6`` (and
    may carry a link-local next hop too, RFC 2545 section 3). Raises ValueError on
    missing next hops: that is a caller bug, not a protocol error.
    """
    v4, v6 = _split(prefixes)
    out: list[bytes] = []
    if v4:
        if attributes.next_hop is None:
            raise ValueError("IPv4 prefixes need attributes.next_hop")
        budget = max_size - _UPDATE_FIXED - len(encode_path_attributes(attributes, negotiated))
        for run in _chunks(v4, budget):
            nlri = tuple(p for p in run if isinstance(p, IPv4Network))
            out.append(encode_update(Update(attributes=attributes, nlri=nlri), negotiated))
    if v6:
        if next_hop_v6 is None:
            raise ValueError("IPv6 prefixes need next_hop_v6")
        # RFC 4760 section 3: NEXT_HOP belongs to the classic NLRI; an MP-only UPDATE
        # does not carry it.
        mp_attrs = dataclasses.replace(attributes, next_hop=None)
        nh_len = 32 if link_local_v6 else 16
        fixed = _UPDATE_FIXED + len(encode_path_attributes(mp_attrs, negotiated))
        budget = max_size - fixed - _MP_FIXED - 1 - nh_len - 1  # NH length, NH, reserved
        for run in _chunks(v6, budget):
            reach = MpReach(IPV6_UNICAST, next_hop_v6, tuple(run), link_local_v6)
            out.append(encode_update(Update(attributes=mp_attrs, mp_reach=reach), negotiated))
    return out


def pack_withdrawals(
    prefixes: Iterable[Prefix], negotiated: Negotiated, *, max_size: int = MAX_MESSAGE_LEN
) -> list[bytes]:
    """UPDATE messages withdrawing every prefix, each <= ``max_size`` octets."""
    v4, v6 = _split(prefixes)
    out: list[bytes] = []
    for run in _chunks(v4, max_size - _UPDATE_FIXED) if v4 else ():
        withdrawn = tuple(p for p in run if isinstance(p, IPv4Network))
        out.append(encode_update(Update(withdrawn=withdrawn), negotiated))
    for run in _chunks(v6, max_size - _UPDATE_FIXED - _MP_FIXED) if v6 else ():
        unreach = MpUnreach(IPV6_UNICAST, tuple(run))
        out.append(encode_update(Update(mp_unreach=unreach), negotiated))
    return out


def end_of_rib(family: Family, negotiated: Negotiated) -> bytes:
    """The End-of-RIB marker for ``family`` (RFC 4724 section 2): an empty UPDATE for
    IPv4 unicast, an empty MP_UNREACH_NLRI for any other family."""
    if family == IPV4_UNICAST:
        return encode_update(Update(), negotiated)
    return encode_update(Update(mp_unreach=MpUnreach(family, ())), negotiated)
