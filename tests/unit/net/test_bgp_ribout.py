"""The Adj-RIB-Out diff: grouping by attributes into few UPDATEs, iBGP/eBGP attributes,
held-back prefixes; and the TCP-MD5 socket option layout."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from metallb.codec.bgp import (
    FULL,
    PLAIN,
    LargeCommunity,
    Prefix,
    Update,
    community,
    decode_update,
)
from metallb.net.bgp import Advertisement, NextHops, PeerOptions, md5sig, plan

IBGP = PeerOptions(peer_address=IPv4Address("192.0.2.1"), local_asn=64512, peer_asn=64512)
EBGP = PeerOptions(peer_address=IPv4Address("192.0.2.1"), local_asn=64513, peer_asn=64512)
OWN = NextHops(IPv4Address("192.0.2.10"), IPv6Address("2001:db8::10"))


def v4_block(n: int, third: int = 0) -> list[Prefix]:
    return [IPv4Network(f"198.51.{third}.{i}/32") for i in range(n)]


def decoded(messages: list[bytes]) -> list[Update]:
    return [decode_update(m, FULL) for m in messages]


def test_equal_attributes_share_updates_and_groups_stay_apart() -> None:
    """300 prefixes in three attribute groups need exactly three UPDATEs."""
    ads = [Advertisement(communities=(community(64512, i),), local_pref=100 + i) for i in range(3)]
    desired = {p: ads[i % 3] for i, p in enumerate(v4_block(240) + v4_block(60, 1))}
    out = plan(desired, {}, options=IBGP, negotiated=FULL, own=OWN)
    assert len(out.messages) == 3
    seen: dict[Prefix, int | None] = {}
    for update in decoded(out.messages):
        assert update.attributes is not None
        for p in update.nlri:
            seen[p] = update.attributes.local_pref
    assert seen == {p: ad.local_pref for p, ad in desired.items()}


def test_thousands_of_prefixes_fill_updates_to_the_size_limit() -> None:
    """10,000 IPv6 /128s with one attribute set fit in a few dozen UPDATEs of <= 4096
    octets, not 10,000 (upstream sends one prefix per UPDATE)."""
    base = int(IPv6Address("2001:db8:100::"))
    desired: dict[Prefix, Advertisement] = {
        IPv6Network(IPv6Address(base + i)): Advertisement() for i in range(10_000)
    }
    out = plan(desired, {}, options=IBGP, negotiated=FULL, own=OWN)
    assert all(len(m) <= 4096 for m in out.messages)
    assert len(out.messages) < 60
    assert sum(len(u.mp_reach.nlri) for u in decoded(out.messages) if u.mp_reach) == 10_000


def test_ibgp_gets_local_pref_and_empty_as_path_ebgp_gets_our_as() -> None:
    """iBGP: LOCAL_PREF (0 when unset, as upstream) and no AS; eBGP: our AS, no LOCAL_PREF."""
    desired: dict[Prefix, Advertisement] = {IPv4Network("198.51.100.1/32"): Advertisement()}
    (ibgp,) = decoded(plan(desired, {}, options=IBGP, negotiated=FULL, own=OWN).messages)
    (ebgp,) = decoded(plan(desired, {}, options=EBGP, negotiated=FULL, own=OWN).messages)
    assert ibgp.attributes is not None
    assert ebgp.attributes is not None
    assert (ibgp.attributes.local_pref, ibgp.attributes.as_path) == (0, ())
    assert ebgp.attributes.local_pref is None
    assert [s.asns for s in ebgp.attributes.as_path or ()] == [(64513,)]


def test_communities_are_sorted_and_deduplicated() -> None:
    """Community order does not split groups: {b, a} and {a, b, a} are one group."""
    p1, p2 = IPv4Network("198.51.100.1/32"), IPv4Network("198.51.100.2/32")
    a, b = community(64512, 1), community(64512, 2)
    big = LargeCommunity(64512, 1, 2)
    desired: dict[Prefix, Advertisement] = {
        p1: Advertisement(communities=(b, a), large_communities=(big,)),
        p2: Advertisement(communities=(a, b, a), large_communities=(big, big)),
    }
    (update,) = decoded(plan(desired, {}, options=IBGP, negotiated=FULL, own=OWN).messages)
    assert update.attributes is not None
    assert update.attributes.communities == (a, b)
    assert update.attributes.large_communities == (big,)


def test_prefixes_without_family_or_next_hop_are_held_back() -> None:
    """IPv6 on a session without IPv6 negotiated, or with no IPv6 next hop, waits."""
    p6 = IPv6Network("2001:db8:ff::1/128")
    desired: dict[Prefix, Advertisement] = {p6: Advertisement()}
    assert plan(desired, {}, options=IBGP, negotiated=PLAIN, own=OWN).held_back == [p6]
    no_v6 = NextHops(OWN.v4, None)
    assert plan(desired, {}, options=IBGP, negotiated=FULL, own=no_v6).held_back == [p6]
    nh = Advertisement(next_hop=IPv6Address("2001:db8::99"))
    out = plan({p6: nh}, {}, options=IBGP, negotiated=FULL, own=no_v6)
    (update,) = decoded(out.messages)
    assert update.mp_reach is not None
    assert update.mp_reach.next_hop == IPv6Address("2001:db8::99")


@pytest.mark.parametrize(
    ("peer", "family", "offset"),
    [
        pytest.param(IPv4Address("192.0.2.1"), socket.AF_INET, 4, id="IPv4"),
        pytest.param(IPv6Address("2001:db8::1"), socket.AF_INET6, 8, id="IPv6"),
    ],
)
def test_md5sig_layout_and_kernel_acceptance(
    peer: IPv4Address | IPv6Address, family: int, offset: int
) -> None:
    """struct tcp_md5sig: sockaddr_storage (family, address), key length at 130, key at
    136, 216 bytes in all; the kernel accepts it on a socket of that family."""
    blob = md5sig(peer, b"s3cret")
    assert len(blob) == 216
    assert struct.unpack_from("=H", blob)[0] == family
    assert blob[offset : offset + len(peer.packed)] == peer.packed
    assert struct.unpack_from("=H", blob, 130)[0] == 6
    assert blob[136:142] == b"s3cret"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, 14, blob)
        # A truncated struct is refused: the kernel checks the layout.
        with pytest.raises(OSError, match="Invalid argument"):
            sock.setsockopt(socket.IPPROTO_TCP, 14, blob[:100])
