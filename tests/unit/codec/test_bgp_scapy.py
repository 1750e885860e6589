"""scapy's BGP layer as an independent oracle: what we encode it reads, and vice versa."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

import pytest
import scapy.contrib.bgp as sb
from scapy.compat import raw

from metallb.codec.bgp import (
    FULL,
    IPV4_UNICAST,
    IPV6_UNICAST,
    PLAIN,
    AsPathSegment,
    FourOctetAS,
    GracefulRestart,
    GracefulRestartFamily,
    Keepalive,
    LargeCommunity,
    MpReach,
    MpUnreach,
    Multiprotocol,
    Notification,
    Open,
    Origin,
    PathAttributes,
    Update,
    community,
    decode_message,
    encode_keepalive,
    encode_notification,
    encode_open,
    encode_update,
    pack_announcements,
)

RID = IPv4Address("192.0.2.1")


@pytest.fixture
def four_byte_asn() -> Iterator[None]:
    """scapy reads AS_PATH as 4-octet ASNs only when told to (a module-wide switch)."""
    before = sb.bgp_module_conf.use_2_bytes_asn
    sb.bgp_module_conf.use_2_bytes_asn = False
    yield
    sb.bgp_module_conf.use_2_bytes_asn = before


def _scapy(wire: bytes) -> Any:
    pkt = sb.BGPHeader(wire)
    assert raw(pkt) == wire  # scapy consumed every byte the way we laid them out
    return pkt


_CODES = {name: code for code, name in sb.path_attributes.items()}


def _attr(pkt: Any, name: str) -> Any:
    for pa in pkt[sb.BGPUpdate].path_attr:
        if pa.type_code == _CODES[name]:
            return pa.attribute
    raise AssertionError(f"{name} not found")


def _communities(attr: Any) -> list[int]:
    """scapy's COMMUNITIES layer holds one value and leaves the rest as payload."""
    out = [attr.community]
    rest = bytes(attr.payload)
    while rest:
        nxt = sb.BGPPACommunity(rest)
        out.append(nxt.community)
        rest = bytes(nxt.payload)
    return out


def test_our_open_read_by_scapy() -> None:
    """scapy sees our version, AS, hold time, identifier and capability."""
    wire = encode_open(Open(65001, 90, RID, (Multiprotocol(IPV6_UNICAST),)))
    pkt = _scapy(wire)
    o = pkt[sb.BGPOpen]
    assert (o.version, o.my_as, o.hold_time, o.bgp_id) == (4, 65001, 90, "192.0.2.1")
    assert o.opt_params[0].param_type == 2
    cap = o.opt_params[0].param_value
    assert (cap.code, cap.afi, cap.safi) == (1, 2, 1)


def test_scapy_open_read_by_us() -> None:
    """An OPEN scapy builds, one capability per parameter, decodes to the same values."""
    pkt = sb.BGPHeader() / sb.BGPOpen(
        my_as=23456,
        hold_time=180,
        bgp_id="198.51.100.7",
        opt_params=[
            sb.BGPOptParam(param_value=sb.BGPCapMultiprotocol(afi=1, safi=1)),
            sb.BGPOptParam(param_value=sb.BGPCapMultiprotocol(afi=2, safi=1)),
            sb.BGPOptParam(param_value=sb.BGPCapFourBytesASN(asn=4200000001)),
            sb.BGPOptParam(
                param_value=sb.BGPCapGracefulRestart(
                    restart_flags=0x8,
                    restart_time=120,
                    entries=[sb.BGPCapGracefulRestart.GRTuple(afi=2, safi=1, flags=0x80)],
                )
            ),
        ],
    )
    got = decode_message(raw(pkt))
    assert got == Open(
        4200000001,
        180,
        IPv4Address("198.51.100.7"),
        (
            Multiprotocol(IPV4_UNICAST),
            Multiprotocol(IPV6_UNICAST),
            FourOctetAS(4200000001),
            GracefulRestart(120, 0x8, (GracefulRestartFamily(IPV6_UNICAST, 0x80),)),
        ),
    )


ATTRS = PathAttributes(
    origin=Origin.IGP,
    as_path=(AsPathSegment.sequence(65001, 65002),),
    next_hop=IPv4Address("192.0.2.1"),
    local_pref=150,
    communities=(community(65001, 100), community(65001, 200)),
    large_communities=(LargeCommunity(4200000000, 1, 2),),
)


def test_our_ipv4_update_read_by_scapy() -> None:
    """scapy reads our classic UPDATE: attributes, communities and every NLRI prefix."""
    prefixes = [IPv4Network("198.51.100.0/24"), IPv4Network("203.0.113.7/32")]
    (wire,) = pack_announcements(prefixes, ATTRS, PLAIN)
    pkt = _scapy(wire)
    assert _attr(pkt, "ORIGIN").origin == 0
    assert _attr(pkt, "NEXT_HOP").next_hop == "192.0.2.1"
    assert _attr(pkt, "LOCAL_PREF").local_pref == 150
    seg = _attr(pkt, "AS_PATH").segments[0]
    assert (seg.segment_type, seg.segment_value) == (2, [65001, 65002])
    assert _communities(_attr(pkt, "COMMUNITY")) == [
        community(65001, 100),
        community(65001, 200),
    ]
    large = _attr(pkt, "LARGE_COMMUNITY").segments[0]
    assert (large.global_administrator, large.local_data_part1, large.local_data_part2) == (
        4200000000,
        1,
        2,
    )
    assert [n.prefix for n in pkt[sb.BGPUpdate].nlri] == ["198.51.100.0/24", "203.0.113.7/32"]


def test_scapy_ipv4_update_read_by_us(four_byte_asn: None) -> None:
    """A 4-octet-AS UPDATE built by scapy decodes to the values it was built from."""
    pkt = sb.BGPHeader() / sb.BGPUpdate(
        withdrawn_routes=[sb.BGPNLRI_IPv4(prefix="192.0.2.0/25")],
        path_attr=[
            sb.BGPPathAttr(
                type_flags="Transitive", type_code="ORIGIN", attribute=sb.BGPPAOrigin(origin="EGP")
            ),
            sb.BGPPathAttr(
                type_flags="Transitive",
                type_code="AS_PATH",
                attribute=sb.BGPPAAS4BytesPath(
                    segments=[
                        sb.BGPPAAS4BytesPath.ASPathSegment(
                            segment_type=2, segment_value=[4200000000, 65001]
                        )
                    ]
                ),
            ),
            sb.BGPPathAttr(
                type_flags="Transitive",
                type_code="NEXT_HOP",
                attribute=sb.BGPPANextHop(next_hop="192.0.2.1"),
            ),
            sb.BGPPathAttr(
                type_flags="Optional+Transitive",
                type_code="COMMUNITY",
                attribute=sb.BGPPACommunity(community=0xFDE90064),
            ),
        ],
        nlri=[sb.BGPNLRI_IPv4(prefix="198.51.100.0/24"), sb.BGPNLRI_IPv4(prefix="10.0.0.0/8")],
    )
    got = decode_message(raw(pkt), FULL)
    assert got == Update(
        withdrawn=(IPv4Network("192.0.2.0/25"),),
        attributes=PathAttributes(
            origin=Origin.EGP,
            as_path=(AsPathSegment.sequence(4200000000, 65001),),
            next_hop=IPv4Address("192.0.2.1"),
            communities=(0xFDE90064,),
        ),
        nlri=(IPv4Network("198.51.100.0/24"), IPv4Network("10.0.0.0/8")),
    )


def test_our_mp_reach_read_by_scapy() -> None:
    """scapy reads our MP_REACH_NLRI: family, both next hops and the IPv6 prefixes."""
    reach = MpReach(
        IPV6_UNICAST,
        IPv6Address("2001:db8::1"),
        (IPv6Network("2001:db8:1::/48"), IPv6Network("2001:db8::5/128")),
        IPv6Address("fe80::1"),
    )
    wire = encode_update(Update(attributes=PathAttributes(), mp_reach=reach), FULL)
    mp = _attr(_scapy(wire), "MP_REACH_NLRI")
    assert (mp.afi, mp.safi, mp.nh_addr_len) == (2, 1, 32)
    assert (mp.nh_v6_global, mp.nh_v6_link_local) == ("2001:db8::1", "fe80::1")
    assert [n.prefix for n in mp.nlri] == ["2001:db8:1::/48", "2001:db8::5/128"]


def test_scapy_mp_reach_and_unreach_read_by_us() -> None:
    """scapy's MP_REACH_NLRI and MP_UNREACH_NLRI decode to our values."""
    pkt = sb.BGPHeader() / sb.BGPUpdate(
        path_attr=[
            sb.BGPPathAttr(
                type_flags="Optional",
                type_code="MP_REACH_NLRI",
                attribute=sb.BGPPAMPReachNLRI(
                    afi=2,
                    safi=1,
                    nh_addr_len=16,
                    nh_v6_addr="2001:db8::1",
                    nlri=[sb.BGPNLRI_IPv6(prefix="2001:db8:2::/64")],
                ),
            ),
            sb.BGPPathAttr(
                type_flags="Optional",
                type_code="MP_UNREACH_NLRI",
                attribute=sb.BGPPAMPUnreachNLRI(
                    afi=2,
                    safi=1,
                    afi_safi_specific=sb.BGPPAMPUnreachNLRI_IPv6(
                        withdrawn_routes=[sb.BGPNLRI_IPv6(prefix="2001:db8:3::/64")]
                    ),
                ),
            ),
            sb.BGPPathAttr(
                type_flags="Transitive", type_code="ORIGIN", attribute=sb.BGPPAOrigin(origin="IGP")
            ),
            sb.BGPPathAttr(
                type_flags="Transitive", type_code="AS_PATH", attribute=sb.BGPPAASPath(segments=[])
            ),
        ]
    )
    got = decode_message(raw(pkt), FULL)
    assert isinstance(got, Update)
    assert got.mp_reach == MpReach(
        IPV6_UNICAST, IPv6Address("2001:db8::1"), (IPv6Network("2001:db8:2::/64"),)
    )
    assert got.mp_unreach == MpUnreach(IPV6_UNICAST, (IPv6Network("2001:db8:3::/64"),))
    assert got.announced == (IPv6Network("2001:db8:2::/64"),)


def test_keepalive_both_ways() -> None:
    """scapy and we agree on the 19-byte KEEPALIVE."""
    assert _scapy(encode_keepalive()).type == 4
    assert decode_message(raw(sb.BGPHeader(type=4))) == Keepalive()


def test_notification_both_ways() -> None:
    """scapy reads our NOTIFICATION, and we read scapy's."""
    pkt = _scapy(encode_notification(Notification(3, 11, b"")))
    assert (pkt[sb.BGPNotification].error_code, pkt[sb.BGPNotification].error_subcode) == (3, 11)
    theirs = sb.BGPHeader() / sb.BGPNotification(error_code=2, error_subcode=2, data=b"\x01")
    assert decode_message(raw(theirs)) == Notification(2, 2, b"\x01")
