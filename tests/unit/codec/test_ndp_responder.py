"""NDP responder decision (metallb.speaker.layer2_responder): one row per drop reason (including
each RFC 4861 7.1.1 check) and the solicited advertisement it sends."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether

from metallb.codec import arp, ndp
from metallb.codec.ethernet import ETHERTYPE_IPV6, EthernetHeader, MacAddress
from metallb.speaker.layer2_responder import DropReason, Interface, OwnedIPs, Reply, decide_ndp

CLIENT_MAC = MacAddress.parse("02:00:00:00:00:01")
NODE_MAC = MacAddress.parse("02:00:00:00:00:aa")
OTHER_MAC = MacAddress.parse("02:00:00:00:00:bb")
CLIENT_LL = IPv6Address("fe80::1")
NODE_LL = IPv6Address("fe80::aa")
VIP = IPv6Address("2001:db8::10")
OTHER_VIP = IPv6Address("2001:db8::11")
ETH0 = Interface("eth0", NODE_MAC, NODE_LL)
OWNED = OwnedIPs({VIP: None, OTHER_VIP: frozenset({"eth1"})})
SLLA = ndp.link_layer_option(ndp.OptionType.SOURCE_LINK_LAYER_ADDRESS, CLIENT_MAC)
UNSPECIFIED = IPv6Address("::")


def _ns(
    *,
    target: IPv6Address = VIP,
    src: IPv6Address = CLIENT_LL,
    dst: IPv6Address | None = None,
    eth_dst: MacAddress | None = None,
    eth_src: MacAddress = CLIENT_MAC,
    options: tuple[ndp.NdpOption, ...] = (SLLA,),
) -> bytes:
    """An NS, by default multicast to the target's solicited-node group with an SLLA."""
    dst = ndp.solicited_node_address(target) if dst is None else dst
    eth_dst = ndp.multicast_mac(dst) if eth_dst is None else eth_dst
    header = EthernetHeader(eth_dst, eth_src, ETHERTYPE_IPV6)
    return ndp.encode_ndp_frame(header, src, dst, ndp.NeighborSolicitation(target, options))


def _patched(frame: bytes, offset: int, value: bytes, *, resum: bool) -> bytes:
    """``frame`` with bytes replaced at ``offset``, its ICMPv6 checksum redone if asked."""
    out = bytearray(frame)
    out[offset : offset + len(value)] = value
    if resum:
        out[56:58] = b"\x00\x00"
        src, dst = IPv6Address(bytes(out[22:38])), IPv6Address(bytes(out[38:54]))
        length = struct.unpack_from("!H", out, 18)[0]
        out[56:58] = struct.pack("!H", ndp.icmpv6_checksum(src, dst, bytes(out[54 : 54 + length])))
    return bytes(out)


NS = _ns()
NA = ndp.unsolicited_advertisement_frame(CLIENT_MAC, CLIENT_LL, VIP)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(NS[:60], DropReason.MALFORMED, id="truncated"),
        pytest.param(_patched(NS, 79, b"\x00", resum=True), DropReason.MALFORMED, id="option 0"),
        pytest.param(
            arp.request_frame(CLIENT_MAC, IPv4Address("192.0.2.1"), IPv4Address("192.0.2.10")),
            DropReason.WRONG_PROTOCOL,
            id="ARP frame",
        ),
        pytest.param(_patched(NS, 20, b"\x06", resum=False), DropReason.WRONG_PROTOCOL, id="TCP"),
        pytest.param(_ns(eth_src=NODE_MAC), DropReason.OWN_FRAME, id="our own transmission"),
        pytest.param(NA, DropReason.MESSAGE_TYPE, id="advertisement"),
        pytest.param(_patched(NS, 54, b"\x80", resum=True), DropReason.MESSAGE_TYPE, id="echo"),
        pytest.param(_patched(NS, 21, b"\x40", resum=False), DropReason.INVALID, id="hop limit 64"),
        pytest.param(_patched(NS, 55, b"\x01", resum=True), DropReason.INVALID, id="code 1"),
        pytest.param(_patched(NS, 57, b"\x00", resum=False), DropReason.INVALID, id="checksum"),
        pytest.param(
            _ns(target=IPv6Address("ff02::1"), dst=VIP, eth_dst=NODE_MAC),
            DropReason.INVALID,
            id="multicast target",
        ),
        pytest.param(_ns(src=UNSPECIFIED), DropReason.INVALID, id="DAD probe with SLLA"),
        pytest.param(
            _ns(src=UNSPECIFIED, dst=VIP, eth_dst=NODE_MAC, options=()),
            DropReason.INVALID,
            id="DAD probe not to solicited-node group",
        ),
        pytest.param(_ns(src=UNSPECIFIED, options=()), DropReason.NO_SOURCE_LL, id="DAD probe"),
        pytest.param(
            _ns(dst=VIP, eth_dst=NODE_MAC, options=()), DropReason.NO_SOURCE_LL, id="NUD no SLLA"
        ),
        pytest.param(
            _ns(eth_dst=OTHER_MAC), DropReason.ETHERNET_DESTINATION, id="group to a unicast MAC"
        ),
        pytest.param(
            _ns(dst=VIP, eth_dst=OTHER_MAC), DropReason.ETHERNET_DESTINATION, id="unicast else"
        ),
        pytest.param(
            _ns(target=IPv6Address("2001:db8::99")), DropReason.ANNOUNCE_IP, id="not owned"
        ),
        pytest.param(_ns(target=OTHER_VIP), DropReason.NOT_MATCH_INTERFACE, id="eth1 only"),
    ],
)
def test_drop_reasons(frame: bytes, reason: DropReason) -> None:
    """Each kind of frame upstream (or RFC 4861 7.1.1) ignores yields its own reason."""
    assert decide_ndp(frame, ETH0, OWNED) is reason


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(NS, id="multicast to the solicited-node group"),
        pytest.param(_ns(dst=VIP, eth_dst=NODE_MAC), id="unicast with SLLA"),
    ],
)
def test_solicitations_for_owned_ips_get_a_solicited_advertisement(frame: bytes) -> None:
    """The NA goes to the solicitor's MAC and IP, from the service IP, S=1 O=0, TLLA=ours."""
    decision = decide_ndp(frame, ETH0, OWNED)
    assert isinstance(decision, Reply)
    assert decision.ip == VIP
    reply = ndp.decode_ndp_frame(decision.frame)
    assert (reply.ethernet.dst, reply.ethernet.src) == (CLIENT_MAC, NODE_MAC)
    assert (reply.ipv6.src, reply.ipv6.dst, reply.ipv6.hop_limit) == (VIP, CLIENT_LL, 255)
    assert reply.checksum_ok
    assert reply.message == ndp.NeighborAdvertisement(
        VIP, solicited=True, override=False, options=(ndp.NdpOption(2, NODE_MAC.octets),)
    )


def test_scapy_built_solicitation_is_answered_and_reply_parses() -> None:
    """A scapy NS is answered; scapy reads the NA as S=1 O=0 for the VIP at our MAC."""
    group = str(ndp.solicited_node_address(VIP))
    built = bytes(
        Ether(dst=str(ndp.multicast_mac(IPv6Address(group))), src=str(CLIENT_MAC))
        / IPv6(src=str(CLIENT_LL), dst=group)
        / ICMPv6ND_NS(tgt=str(VIP))
        / ICMPv6NDOptSrcLLAddr(lladdr=str(CLIENT_MAC))
    )
    decision = decide_ndp(built, ETH0, OWNED)
    assert isinstance(decision, Reply)
    pkt = Ether(decision.frame)
    assert IPv6Address(pkt[ICMPv6ND_NA].tgt) == VIP
    assert (pkt[ICMPv6ND_NA].S, pkt[ICMPv6ND_NA].O, pkt[ICMPv6ND_NA].R) == (1, 0, 0)
    assert pkt[ICMPv6NDOptDstLLAddr].lladdr == str(NODE_MAC)
    assert pkt[IPv6].hlim == 255
    ours = pkt[ICMPv6ND_NA].cksum
    del pkt[ICMPv6ND_NA].cksum
    assert Ether(bytes(pkt))[ICMPv6ND_NA].cksum == ours


def test_interface_without_link_local_is_a_caller_error() -> None:
    """Upstream runs no NDP responder without a link-local address; neither may we."""
    with pytest.raises(ValueError, match="link-local"):
        decide_ndp(NS, Interface("eth0", NODE_MAC), OWNED)
