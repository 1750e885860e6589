"""Adj-RIB-Out: turn "what the peer should have" into the UPDATEs that get it there.

The session keeps two maps from prefix to :class:`Advertisement`: the desired one
(from ``Session.set``) and the one the peer holds. :func:`plan` diffs them and groups
the prefixes to (re)announce by their path attributes, so every group goes out in as
few UPDATEs as the 4096-octet limit allows (RFC 4271 section 4.3;
:func:`~metallb.codec.bgp.pack_announcements`). After a reconnect the peer holds
nothing, so the same diff replays the whole desired set.

Nothing here does I/O; it is plain data in, messages out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from metallb.codec.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AsPathSegment,
    Negotiated,
    PathAttributes,
    Prefix,
    pack_announcements,
    pack_withdrawals,
)
from metallb.net.bgp.options import Advertisement, PeerOptions

# Upstream (internal/bgp/native/native.go) always sends LOCAL_PREF to iBGP peers, 0 when not
# configured; we keep that so routers rank our routes exactly as before a migration.
DEFAULT_LOCAL_PREF = 0


@dataclass(frozen=True)
class NextHops:
    """The session's own addresses, used when an advertisement names no next hop."""

    v4: IPv4Address | None
    v6: IPv6Address | None


@dataclass
class Plan:
    """The messages to send and how the peer's view changes once they are sent.

    ``held_back`` lists prefixes that cannot be sent on this session (family not
    negotiated, or no next hop of their family); they stay pending.
    """

    messages: list[bytes] = field(default_factory=list)
    announced: dict[Prefix, Advertisement] = field(default_factory=dict)
    withdrawn: list[Prefix] = field(default_factory=list)
    held_back: list[Prefix] = field(default_factory=list)


def path_attributes(
    ad: Advertisement, options: PeerOptions, next_hop_v4: IPv4Address | None
) -> PathAttributes:
    """The attributes a prefix is announced with on this session."""
    # RFC 4271 section 5.1.2: an originating speaker sends an empty AS_PATH to internal
    # peers and a one-ASN AS_SEQUENCE to external ones.
    as_path = () if options.ibgp else (AsPathSegment.sequence(options.local_asn),)
    local_pref = None
    if options.ibgp:  # RFC 4271 section 5.1.5: LOCAL_PREF only inside the AS.
        local_pref = DEFAULT_LOCAL_PREF if ad.local_pref is None else ad.local_pref
    return PathAttributes(
        as_path=as_path,
        next_hop=next_hop_v4,
        local_pref=local_pref,
        # RFC 1997 / RFC 8092 do not order communities; sorting makes equal sets
        # group together (and matches upstream's sorted communities, speaker/bgp_controller.go).
        communities=tuple(sorted(set(ad.communities))),
        large_communities=tuple(sorted(set(ad.large_communities))),
    )


def _next_hops(ad: Advertisement, own: NextHops) -> tuple[IPv4Address | None, IPv6Address | None]:
    v4 = ad.next_hop if isinstance(ad.next_hop, IPv4Address) else own.v4
    v6 = ad.next_hop if isinstance(ad.next_hop, IPv6Address) else own.v6
    return v4, v6


def plan(
    desired: Mapping[Prefix, Advertisement],
    held: Mapping[Prefix, Advertisement],
    *,
    options: PeerOptions,
    negotiated: Negotiated,
    own: NextHops,
) -> Plan:
    """Withdraw what the peer holds but should not, announce what is new or changed."""
    out = Plan()
    families = negotiated.families
    gone = [p for p in held if p not in desired]
    if gone:
        out.messages.extend(pack_withdrawals(gone, negotiated))
        out.withdrawn = gone
    groups: dict[tuple[PathAttributes, IPv6Address | None], list[Prefix]] = {}
    for prefix, ad in desired.items():
        if held.get(prefix) == ad:
            continue
        family = IPV4_UNICAST if prefix.version == 4 else IPV6_UNICAST
        nh4, nh6 = _next_hops(ad, own)
        if family not in families or (nh4 if prefix.version == 4 else nh6) is None:
            out.held_back.append(prefix)
            continue
        attrs = path_attributes(ad, options, nh4 if prefix.version == 4 else None)
        key = (attrs, nh6 if prefix.version == 6 else None)
        groups.setdefault(key, []).append(prefix)
        out.announced[prefix] = ad
    for (attrs, nh6), prefixes in groups.items():
        # A changed prefix is simply announced again: the new route replaces the old
        # one (RFC 4271 section 3.1), no withdrawal needed in between.
        out.messages.extend(pack_announcements(prefixes, attrs, negotiated, next_hop_v6=nh6))
    return out
