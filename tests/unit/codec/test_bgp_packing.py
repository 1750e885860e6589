"""Many prefixes per UPDATE: size limits, counts, and lossless decoding."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from metallb.codec.bgp import (
    FULL,
    MAX_MESSAGE_LEN,
    PLAIN,
    AsPathSegment,
    LargeCommunity,
    PathAttributes,
    Prefix,
    Update,
    community,
    decode_message,
    pack_announcements,
    pack_withdrawals,
)

NH = IPv4Address("192.0.2.1")
ATTRS = PathAttributes(
    as_path=(AsPathSegment.sequence(65001),),
    next_hop=NH,
    local_pref=100,
    communities=(community(65001, 7),),
    large_communities=(LargeCommunity(65001, 1, 2),),
)


def _v4(n: int) -> list[IPv4Network]:
    base = int(IPv4Address("10.0.0.0"))
    return [IPv4Network((base + i, 32)) for i in range(n)]


def _v6(n: int) -> list[IPv6Network]:
    base = int(IPv6Address("2001:db8::"))
    return [IPv6Network((base + i, 128)) for i in range(n)]


def _decode_all(messages: list[bytes]) -> list[Update]:
    out = []
    for m in messages:
        msg = decode_message(m, FULL)
        assert isinstance(msg, Update)
        out.append(msg)
    return out


def test_ten_thousand_ipv4_prefixes_pack_into_few_updates() -> None:
    """10,000 /32s with equal attributes need about 13 UPDATEs, not 10,000."""
    prefixes = _v4(10_000)
    messages = pack_announcements(prefixes, ATTRS, FULL)
    assert len(messages) <= 15
    assert all(len(m) <= MAX_MESSAGE_LEN for m in messages)
    # Every message but the last is nearly full: the packer does not waste space.
    assert all(len(m) > MAX_MESSAGE_LEN - 5 for m in messages[:-1])
    updates = _decode_all(messages)
    announced = [p for u in updates for p in u.announced]
    assert announced == prefixes
    assert {u.attributes for u in updates} == {ATTRS}


def test_ten_thousand_ipv6_prefixes_pack_into_mp_reach() -> None:
    """IPv6 rides in MP_REACH_NLRI with global and link-local next hops, 4096 max."""
    prefixes = _v6(10_000)
    messages = pack_announcements(
        prefixes,
        ATTRS,
        FULL,
        next_hop_v6=IPv6Address("2001:db8::1"),
        link_local_v6=IPv6Address("fe80::1"),
    )
    assert all(len(m) <= MAX_MESSAGE_LEN for m in messages)
    assert len(messages) <= 10_000 * 17 // 3900 + 1
    updates = _decode_all(messages)
    assert [p for u in updates for p in u.announced] == prefixes
    for u in updates:
        assert u.nlri == ()
        assert u.mp_reach is not None
        assert u.mp_reach.link_local == IPv6Address("fe80::1")
        # RFC 4760 3: the IPv4 NEXT_HOP does not belong in an MP-only UPDATE.
        assert u.attributes == dataclasses.replace(ATTRS, next_hop=None)


def test_mixed_families_and_prefix_lengths() -> None:
    """A mixed list splits by family; order within a family is kept."""
    v4: list[Prefix] = [
        IPv4Network("198.51.100.0/24"),
        IPv4Network("0.0.0.0/0"),
        IPv4Network("10.0.0.0/8"),
    ]
    v6: list[Prefix] = [IPv6Network("2001:db8::/32"), IPv6Network("2001:db8:1::1/128")]
    mixed = [v6[0], v4[0], v4[1], v6[1], v4[2]]
    messages = pack_announcements(mixed, ATTRS, FULL, next_hop_v6=IPv6Address("2001:db8::1"))
    assert [p for u in _decode_all(messages) for p in u.announced] == v4 + v6


def test_withdrawals_pack_too() -> None:
    """10,000 withdrawals of each family, every message within 4096 octets."""
    both: list[Prefix] = [*_v4(10_000), *_v6(10_000)]
    messages = pack_withdrawals(both, FULL)
    assert all(len(m) <= MAX_MESSAGE_LEN for m in messages)
    assert len(messages) <= 13 + 44
    updates = _decode_all(messages)
    assert [p for u in updates for p in u.withdrawn_prefixes] == both
    assert all(u.announced == () for u in updates)


@pytest.mark.parametrize("max_size", [100, 512, 4096])
def test_smaller_limits_are_respected(max_size: int) -> None:
    """The split point follows max_size exactly, whatever it is."""
    messages = pack_announcements(_v4(2000), ATTRS, PLAIN, max_size=max_size)
    assert all(len(m) <= max_size for m in messages)
    assert max(len(m) for m in messages) > max_size - 5


def test_missing_next_hops_are_caller_bugs() -> None:
    """IPv4 needs NEXT_HOP, IPv6 needs next_hop_v6."""
    with pytest.raises(ValueError, match="next_hop"):
        pack_announcements(_v4(1), PathAttributes(), FULL)
    with pytest.raises(ValueError, match="next_hop_v6"):
        pack_announcements(_v6(1), ATTRS, FULL)


def test_nothing_to_send() -> None:
    """No prefixes, no messages."""
    assert pack_announcements([], ATTRS, FULL) == []
    assert pack_withdrawals([], FULL) == []
