"""UPDATE: hand-checked bytes, round trips, and every RFC 4271 6.3 / RFC 7606 error case."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from metallb.codec.bgp import (
    AS_TRANS,
    FULL,
    IPV4_UNICAST,
    IPV6_UNICAST,
    PLAIN,
    Aggregator,
    AsPathSegment,
    BGPError,
    LargeCommunity,
    MpReach,
    MpUnreach,
    Negotiated,
    Notification,
    Origin,
    PathAttributes,
    RawAttribute,
    SegmentType,
    Update,
    community,
    decode_message,
    decode_update,
    encode_update,
    end_of_rib,
)

M = "ff" * 16
NH = IPv4Address("192.0.2.1")
P24 = IPv4Network("198.51.100.0/24")
P32 = IPv4Network("203.0.113.7/32")
V6 = IPv6Network("2001:db8::/64")

# RFC 4271 4.3 assembled by hand: no withdrawn routes; ORIGIN IGP (40 01 01 00); AS_PATH
# one AS_SEQUENCE of 65001 with 4-octet ASNs (40 02 06 02 01 0000fde9); NEXT_HOP
# 192.0.2.1 (40 03 04 c0000201); COMMUNITIES 65001:100 (c0 08 04 fde90064); then NLRI
# 198.51.100.0/24 (18 c63364) and 203.0.113.7/32 (20 cb007107).
UPDATE4_HEX = (
    M
    + "003b02"
    + "0000"
    + "001b"
    + "40010100"
    + "4002060201"
    + "0000fde9"
    + "400304c0000201"
    + "c00804fde90064"
    + "18c63364"
    + "20cb007107"
)
ATTRS = PathAttributes(
    origin=Origin.IGP,
    as_path=(AsPathSegment.sequence(65001),),
    next_hop=NH,
    communities=(community(65001, 100),),
)


def test_update_bytes_four_octet_as() -> None:
    """The classic IPv4 UPDATE matches the hand-assembled RFC layout both ways."""
    upd = Update(attributes=ATTRS, nlri=(P24, P32))
    assert encode_update(upd, FULL).hex() == UPDATE4_HEX
    assert decode_update(bytes.fromhex(UPDATE4_HEX), FULL) == upd


def test_update_bytes_two_octet_as() -> None:
    """Without the 4-octet capability the AS_PATH carries 2-octet ASNs (RFC 6793 4)."""
    wire = encode_update(Update(attributes=ATTRS, nlri=(P24,)), PLAIN).hex()
    assert "4002040201fde9" in wire
    assert wire[32:36] == "0034"  # 19 + 4 + 25 attribute octets + 4 NLRI octets


def test_withdrawal_bytes() -> None:
    """Withdrawn Routes carry the prefixes; no attributes follow."""
    wire = encode_update(Update(withdrawn=(P24, P32)), PLAIN)
    assert wire.hex() == M + "002002" + "0009" + "18c63364" + "20cb007107" + "0000"
    got = decode_update(wire)
    assert got.withdrawn_prefixes == (P24, P32)
    assert got.attributes is None


def test_mp_reach_ipv6_bytes() -> None:
    """RFC 4760 3 / RFC 2545 3: AFI 2, SAFI 1, 32-octet next hop (global + link-local)."""
    reach = MpReach(IPV6_UNICAST, IPv6Address("2001:db8::1"), (V6,), IPv6Address("fe80::1"))
    upd = Update(attributes=PathAttributes(as_path=()), mp_reach=reach)
    wire = encode_update(upd, FULL).hex()
    mp = (
        "800e2e"
        + "0002"
        + "01"
        + "20"
        + "20010db8000000000000000000000001"
        + "fe800000000000000000000000000001"
        + "00"
        + "4020010db800000000"
    )
    # RFC 7606 5.1: MP_REACH_NLRI comes first, before ORIGIN and AS_PATH.
    assert wire[M.__len__() + 14 :].startswith(mp + "40010100" + "400200")
    assert decode_update(bytes.fromhex(wire), FULL) == upd


def test_mp_unreach_ipv6_bytes() -> None:
    """RFC 4760 4: AFI, SAFI, then withdrawn prefixes."""
    upd = Update(mp_unreach=MpUnreach(IPV6_UNICAST, (V6,)))
    wire = encode_update(upd, FULL)
    assert wire.hex() == M + "002602" + "0000" + "000f" + "800f0c0002014020010db800000000"
    assert decode_update(wire, FULL).withdrawn_prefixes == (V6,)


def test_extended_length_for_long_attributes() -> None:
    """RFC 4271 4.3: a value over 255 octets sets Extended Length and a 2-octet length."""
    many = tuple(community(65001, i) for i in range(100))
    attrs = PathAttributes(next_hop=NH, communities=many)
    wire = encode_update(Update(attributes=attrs, nlri=(P24,)), PLAIN)
    assert bytes.fromhex("d0080190") in wire  # flags O|T|E, type 8, length 400
    got = decode_update(wire)
    assert got.attributes is not None
    assert got.attributes.communities == many


def test_every_attribute_round_trips() -> None:
    """All attribute kinds we know, plus an unknown optional one, survive a round trip."""
    attrs = PathAttributes(
        origin=Origin.INCOMPLETE,
        as_path=(
            AsPathSegment.sequence(65001, 65002),
            AsPathSegment(SegmentType.AS_SET, (1, 2, 3)),
        ),
        next_hop=NH,
        med=7,
        local_pref=200,
        atomic_aggregate=True,
        aggregator=Aggregator(65001, IPv4Address("192.0.2.9")),
        communities=(community(65001, 1), community(0xFFFF, 0xFF01)),
        large_communities=(LargeCommunity(4200000000, 1, 2), LargeCommunity(1, 2, 3)),
        unknown=(RawAttribute(0xC0, 99, b"hello"), RawAttribute(0x80, 100, b"")),
    )
    for negotiated in (PLAIN, FULL):
        upd = Update(withdrawn=(P32,), attributes=attrs, nlri=(P24,))
        assert decode_update(encode_update(upd, negotiated), negotiated) == upd


def test_four_octet_asn_over_two_octet_session_uses_as4_path() -> None:
    """RFC 6793 4.2.2: AS_TRANS in AS_PATH/AGGREGATOR and the truth in AS4_* attributes."""
    path = (AsPathSegment.sequence(4200000000, 65001),)
    attrs = PathAttributes(
        as_path=path, next_hop=NH, aggregator=Aggregator(4200000000, IPv4Address("192.0.2.9"))
    )
    wire = encode_update(Update(attributes=attrs, nlri=(P24,)), PLAIN)
    assert bytes.fromhex("4002060202") + AS_TRANS.to_bytes(2, "big") in wire
    assert bytes.fromhex("c0110a0202fa56ea000000fde9") in wire  # AS4_PATH
    got = decode_update(wire, PLAIN)
    assert got.attributes is not None
    assert got.attributes.as_path == path
    assert got.attributes.aggregator == attrs.aggregator


def test_long_as_path_segment_is_split() -> None:
    """A segment holds at most 255 ASNs (one-octet count); longer ones are split."""
    attrs = PathAttributes(as_path=(AsPathSegment.sequence(*range(1, 301)),), next_hop=NH)
    got = decode_update(encode_update(Update(attributes=attrs, nlri=(P24,)), FULL), FULL)
    assert got.attributes is not None
    assert got.attributes.as_path is not None
    assert [len(s.asns) for s in got.attributes.as_path] == [255, 45]


def test_end_of_rib_markers() -> None:
    """RFC 4724 2: an empty UPDATE (IPv4) or an empty MP_UNREACH_NLRI (others)."""
    assert end_of_rib(IPV4_UNICAST, FULL).hex() == M + "001702" + "00000000"
    assert decode_update(end_of_rib(IPV4_UNICAST, FULL)).end_of_rib == IPV4_UNICAST
    assert decode_update(end_of_rib(IPV6_UNICAST, FULL), FULL).end_of_rib == IPV6_UNICAST
    assert decode_update(bytes.fromhex(UPDATE4_HEX), FULL).end_of_rib is None


def test_mp_only_update_needs_no_next_hop() -> None:
    """RFC 4760 3: NEXT_HOP is mandatory only with classic NLRI."""
    reach = MpReach(IPV6_UNICAST, IPv6Address("2001:db8::1"), (V6,))
    got = decode_update(
        encode_update(Update(attributes=PathAttributes(), mp_reach=reach), FULL), FULL
    )
    assert got.treat_as_withdraw is None
    assert got.announced == (V6,)


def test_host_bits_beyond_prefix_length_are_ignored() -> None:
    """RFC 4271 4.3: trailing bits are irrelevant, so 10.1/15 reads as 10.0.0.0/15."""
    wire = bytes.fromhex(M + "001a02" + "0003" + "0f0a01" + "0000")
    assert decode_update(wire).withdrawn == (IPv4Network("10.0.0.0/15"),)


# --- RFC 4271 section 6.3 and RFC 7606, one row per error --------------------------------

ORIGIN = "40010100"
AS_PATH = "4002040201fde9"
AS_PATH4 = "40020602010000fde9"  # the same path on a 4-octet session
NEXT_HOP = "400304c0000201"
BASE = ORIGIN + AS_PATH + NEXT_HOP
NLRI = "18c63364"
V6_REACH = (
    "800e1e"
    + "0002"
    + "01"
    + "10"
    + "20010db8000000000000000000000001"
    + "00"
    + "4020010db800000000"
)


def _update(attrs: str, nlri: str = NLRI, withdrawn: str = "") -> bytes:
    body = f"{len(withdrawn) // 2:04x}" + withdrawn + f"{len(attrs) // 2:04x}" + attrs + nlri
    return bytes.fromhex(M + f"{19 + len(body) // 2:04x}" + "02" + body)


def _raw(body: str) -> bytes:
    return bytes.fromhex(M + f"{19 + len(body) // 2:04x}" + "02" + body)


# (wire, negotiated, (code, subcode, data), what RFC 7606 does)
UPDATE_ERRORS = [
    pytest.param(
        _raw("0005" + "18c633" + "0000"),
        PLAIN,
        (3, 1, b""),
        "reset",
        id="6.3 withdrawn routes length too large",
    ),
    pytest.param(
        _raw("0000" + "0010" + ORIGIN),
        PLAIN,
        (3, 1, b""),
        "reset",
        id="6.3 total attribute length too large",
    ),
    pytest.param(
        _update(ORIGIN + "40020a0201fde9"),
        PLAIN,
        (3, 1, b""),
        "withdraw",
        id="7606 4 attribute overruns the attribute list",
    ),
    pytest.param(
        _update(BASE + "40"),
        PLAIN,
        (3, 1, b""),
        "withdraw",
        id="7606 4 too few octets for an attribute header",
    ),
    pytest.param(
        _update(BASE + "40010101"),
        PLAIN,
        (3, 1, b""),
        "discard",
        id="7606 3(g) repeated ORIGIN: keep the first",
    ),
    pytest.param(
        _update(V6_REACH + V6_REACH + ORIGIN + AS_PATH4, nlri=""),
        FULL,
        (3, 1, b""),
        "reset",
        id="7606 3(g) repeated MP_REACH_NLRI",
    ),
    pytest.param(
        _update(BASE + "40630100"),
        PLAIN,
        (3, 2, bytes.fromhex("40630100")),
        "reset",
        id="6.3 unrecognized well-known attribute 99",
    ),
    pytest.param(
        _update(AS_PATH + NEXT_HOP),
        PLAIN,
        (3, 3, b"\x01"),
        "withdraw",
        id="6.3 missing ORIGIN",
    ),
    pytest.param(
        _update(ORIGIN + NEXT_HOP),
        PLAIN,
        (3, 3, b"\x02"),
        "withdraw",
        id="6.3 missing AS_PATH",
    ),
    pytest.param(
        _update(ORIGIN + AS_PATH),
        PLAIN,
        (3, 3, b"\x03"),
        "withdraw",
        id="6.3 missing NEXT_HOP",
    ),
    pytest.param(
        _update(V6_REACH + AS_PATH4, nlri=""),
        FULL,
        (3, 3, b"\x01"),
        "withdraw",
        id="6.3 missing ORIGIN with MP_REACH_NLRI",
    ),
    pytest.param(
        _update("c0010100" + AS_PATH + NEXT_HOP),
        PLAIN,
        (3, 4, bytes.fromhex("c0010100")),
        "withdraw",
        id="6.3 ORIGIN marked optional",
    ),
    pytest.param(
        _update(BASE + "400804fde90064"),
        PLAIN,
        (3, 4, bytes.fromhex("400804fde90064")),
        "withdraw",
        id="6.3 COMMUNITIES marked well-known",
    ),
    pytest.param(
        _update(BASE + "40070600010a000001"),
        PLAIN,
        (3, 4, bytes.fromhex("40070600010a000001")),
        "discard",
        id="7606 7.7 AGGREGATOR marked well-known: discard",
    ),
    pytest.param(
        _update("400e1e" + V6_REACH[6:] + ORIGIN + AS_PATH4, nlri=""),
        FULL,
        (3, 4, bytes.fromhex("400e1e" + V6_REACH[6:])),
        "reset",
        id="6.3 MP_REACH_NLRI marked well-known",
    ),
    pytest.param(
        _update("4001020000" + AS_PATH + NEXT_HOP),
        PLAIN,
        (3, 5, bytes.fromhex("4001020000")),
        "withdraw",
        id="6.3 ORIGIN of length 2",
    ),
    pytest.param(
        _update(ORIGIN + AS_PATH + "400305c000020100"),
        PLAIN,
        (3, 5, bytes.fromhex("400305c000020100")),
        "withdraw",
        id="6.3 NEXT_HOP of length 5",
    ),
    pytest.param(
        _update(BASE + "40050300000a"),
        PLAIN,
        (3, 5, bytes.fromhex("40050300000a")),
        "withdraw",
        id="6.3 LOCAL_PREF of length 3",
    ),
    pytest.param(
        _update(BASE + "80040200ff"),
        PLAIN,
        (3, 5, bytes.fromhex("80040200ff")),
        "withdraw",
        id="6.3 MED of length 2",
    ),
    pytest.param(
        _update(BASE + "40060100"),
        PLAIN,
        (3, 5, bytes.fromhex("40060100")),
        "discard",
        id="7606 7.6 ATOMIC_AGGREGATE of length 1: discard",
    ),
    pytest.param(
        _update(BASE + "c00705fde9c0000201"[:-2]),
        PLAIN,
        (3, 5, bytes.fromhex("c00705fde9c0000201"[:-2])),
        "discard",
        id="7606 7.7 AGGREGATOR of length 5: discard",
    ),
    pytest.param(
        _update(BASE + "c00803fde900"),
        PLAIN,
        (3, 5, bytes.fromhex("c00803fde900")),
        "withdraw",
        id="7606 7.8 COMMUNITIES of length 3",
    ),
    pytest.param(
        _update(BASE + "c00800"),
        PLAIN,
        (3, 5, bytes.fromhex("c00800")),
        "withdraw",
        id="7606 7.8 empty COMMUNITIES",
    ),
    pytest.param(
        _update(BASE + "c020080000000100000002"),
        PLAIN,
        (3, 5, bytes.fromhex("c020080000000100000002")),
        "withdraw",
        id="RFC 8092 6 LARGE_COMMUNITY of length 8",
    ),
    pytest.param(
        _update("40010103" + AS_PATH + NEXT_HOP),
        PLAIN,
        (3, 6, bytes.fromhex("40010103")),
        "withdraw",
        id="6.3 ORIGIN value 3",
    ),
    pytest.param(
        _update(ORIGIN + AS_PATH + "40030400000000"),
        PLAIN,
        (3, 8, bytes.fromhex("40030400000000")),
        "withdraw",
        id="6.3 NEXT_HOP 0.0.0.0",
    ),
    pytest.param(
        _update(ORIGIN + AS_PATH + "400304e0000001"),
        PLAIN,
        (3, 8, bytes.fromhex("400304e0000001")),
        "withdraw",
        id="6.3 NEXT_HOP multicast",
    ),
    pytest.param(
        _update(V6_REACH + ORIGIN + AS_PATH, nlri=""),
        PLAIN,
        (3, 9, bytes.fromhex(V6_REACH)),
        "reset",
        id="RFC 4760 7 MP_REACH_NLRI for a family not negotiated",
    ),
    pytest.param(
        _update("800e09" + "0002" + "01" + "04" + "c0000201" + "00" + ORIGIN + AS_PATH4, nlri=""),
        FULL,
        (3, 9, bytes.fromhex("800e09000201" + "04c000020100")),
        "reset",
        id="RFC 4760 7 IPv6 next hop of 4 octets",
    ),
    pytest.param(
        _update("800e05" + "0002" + "01" + "10" + "00" + ORIGIN + AS_PATH4, nlri=""),
        FULL,
        (3, 9, bytes.fromhex("800e050002011000")),
        "reset",
        id="RFC 7606 7.11 next hop overruns MP_REACH_NLRI",
    ),
    pytest.param(
        _update("800f02" + "0002"),
        FULL,
        (3, 9, bytes.fromhex("800f020002")),
        "reset",
        id="RFC 4760 7 MP_UNREACH_NLRI without SAFI",
    ),
    pytest.param(
        _update(BASE, nlri="21c6336400"),
        PLAIN,
        (3, 10, b""),
        "reset",
        id="6.3 NLRI prefix length 33",
    ),
    pytest.param(
        _update(BASE, nlri="18c633"),
        PLAIN,
        (3, 10, b""),
        "reset",
        id="6.3 NLRI prefix overruns the message",
    ),
    pytest.param(
        _update(BASE, withdrawn="2100000000ff"),
        PLAIN,
        (3, 10, b""),
        "reset",
        id="7606 5.3 withdrawn prefix length 33",
    ),
    pytest.param(
        _update("800f06" + "0002" + "01" + "8120" + "01", nlri=""),
        FULL,
        (3, 10, b""),
        "reset",
        id="7606 5.3 MP_UNREACH prefix length 129",
    ),
    pytest.param(
        _update(ORIGIN + "4002040501fde9" + NEXT_HOP),
        PLAIN,
        (3, 11, b""),
        "withdraw",
        id="7606 7.2 AS_PATH segment type 5",
    ),
    pytest.param(
        _update(ORIGIN + "400202" + "0200" + NEXT_HOP),
        PLAIN,
        (3, 11, b""),
        "withdraw",
        id="7606 7.2 AS_PATH segment of length 0",
    ),
    pytest.param(
        _update(ORIGIN + "4002040202fde9" + NEXT_HOP),
        PLAIN,
        (3, 11, b""),
        "withdraw",
        id="7606 7.2 AS_PATH segment overruns",
    ),
    pytest.param(
        _update(ORIGIN + "4002050201fde902" + NEXT_HOP),
        PLAIN,
        (3, 11, b""),
        "withdraw",
        id="7606 7.2 AS_PATH single trailing octet",
    ),
    pytest.param(
        _update(BASE + "c01104" + "0201fde9"),
        PLAIN,
        (3, 11, b""),
        "discard",
        id="RFC 6793 6 malformed AS4_PATH: discard",
    ),
]


@pytest.mark.parametrize(("wire", "negotiated", "expected", "revised"), UPDATE_ERRORS)
def test_update_errors(
    wire: bytes, negotiated: Negotiated, expected: tuple[int, int, bytes], revised: str
) -> None:
    """Strict RFC 4271 raises the exact error; RFC 7606 resets, withdraws or discards."""
    with pytest.raises(BGPError) as info:
        decode_message(wire, negotiated, revised=False)
    assert (info.value.code, info.value.subcode, info.value.data) == expected

    if revised == "reset":
        with pytest.raises(BGPError) as again:
            decode_message(wire, negotiated)
        assert again.value.notification == Notification(*expected)
        return
    got = decode_update(wire, negotiated)
    if revised == "withdraw":
        assert got.treat_as_withdraw == Notification(*expected)
        assert got.announced == ()
        assert set(got.nlri) <= set(got.withdrawn_prefixes)
    else:
        assert got.treat_as_withdraw is None
        assert Notification(*expected) in got.discarded
        assert got.announced == got.nlri


def test_treat_as_withdraw_withdraws_mp_routes_too() -> None:
    """RFC 7606 2: every NLRI of the UPDATE, MP_REACH_NLRI included, counts as withdrawn."""
    got = decode_update(_update(V6_REACH + "40010103" + AS_PATH4, nlri=""), FULL)
    assert got.treat_as_withdraw == Notification(3, 6, bytes.fromhex("40010103"))
    assert got.withdrawn_prefixes == (V6,)


def test_repeated_attribute_keeps_the_first() -> None:
    """RFC 7606 3(g): the first ORIGIN wins over the repeat."""
    got = decode_update(_update(BASE + "40010102"))
    assert got.attributes is not None
    assert got.attributes.origin == Origin.IGP


def test_flags_control_row_is_valid() -> None:
    """AGGREGATOR with O and T set is fine: the flags test above is not vacuous."""
    got = decode_update(_update(BASE + "c0070600010a000001"[:-2] + "01"), PLAIN)
    assert got.attributes is not None
    assert got.attributes.aggregator == Aggregator(1, IPv4Address("10.0.0.1"))
