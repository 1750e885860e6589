"""NDP codec: hand-checked bytes and checksum, RFC examples, scapy as oracle, fuzzing."""

from __future__ import annotations

import contextlib
import struct
from ipaddress import IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptMTU,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether

from metallb.codec import ndp
from metallb.codec.ethernet import ETHERTYPE_IPV6, EthernetHeader, FrameError, MacAddress

CLIENT_MAC = MacAddress.parse("02:00:00:00:00:01")
NODE_MAC = MacAddress.parse("02:00:00:00:00:aa")
CLIENT_LL = IPv6Address("fe80::1")
NODE_LL = IPv6Address("fe80::aa")
VIP = IPv6Address("2001:db8::10")

# NS from fe80::1 (02:00:00:00:00:01) for 2001:db8::10, field by field (RFC 8200 3,
# RFC 4861 4.3 and 4.6.1). The checksum by hand (RFC 4443 2.3), 16-bit words summed:
#   pseudo-header: fe80 + 0001 (src) + ff02 + 0001 + ff00 + 0010 (dst) + 0020 (length 32)
#                  + 003a (next header 58)
#   ICMPv6:        8700 (type 135, code 0) + 2001 + 0db8 + 0010 (target)
#                  + 0101 + 0200 + 0000 + 0001 (source link-layer address option)
#   = 0x3b4b9; folded 0xb4b9 + 0x3 = 0xb4bc; one's complement 0x4b43.
NS_BYTES = bytes.fromhex(
    "3333ff000010"  # RFC 2464 7: 33:33 + low 32 bits of ff02::1:ff00:10
    "020000000001"  # Ethernet source
    "86dd"  # EtherType IPv6
    "60000000"  # version 6, traffic class 0, flow label 0
    "0020 3a ff"  # payload length 32, next header ICMPv6, hop limit 255
    "fe800000000000000000000000000001"  # source fe80::1
    "ff0200000000000000000001ff000010"  # solicited-node group of 2001:db8::10
    "87 00 4b43"  # type 135, code 0, checksum
    "00000000"  # reserved
    "20010db8000000000000000000000010"  # target 2001:db8::10
    "01 01 020000000001"  # source link-layer address option, 1 x 8 octets
)


def test_solicitation_frame_matches_hand_checked_bytes() -> None:
    """The NS builder emits exactly the bytes above, checksum included."""
    assert ndp.solicitation_frame(CLIENT_MAC, CLIENT_LL, VIP) == NS_BYTES


def test_decode_hand_checked_solicitation() -> None:
    """Every field of the hand-written NS decodes, and its checksum verifies."""
    frame = ndp.decode_ndp_frame(NS_BYTES)
    assert frame.ethernet == EthernetHeader(
        MacAddress.parse("33:33:ff:00:00:10"), CLIENT_MAC, ETHERTYPE_IPV6
    )
    assert frame.ipv6 == ndp.Ipv6Header(
        src=CLIENT_LL, dst=IPv6Address("ff02::1:ff00:10"), hop_limit=255, payload_length=32
    )
    assert (frame.icmp_type, frame.icmp_code, frame.checksum_ok) == (135, 0, True)
    assert frame.message == ndp.NeighborSolicitation(VIP, (ndp.NdpOption(1, CLIENT_MAC.octets),))
    assert isinstance(frame.message, ndp.NeighborSolicitation)
    assert frame.message.source_link_layer_address == CLIENT_MAC


def test_checksum_of_hand_checked_message() -> None:
    """icmpv6_checksum over the zeroed message gives the hand-computed 0x4b43."""
    icmp = bytearray(NS_BYTES[54:])
    icmp[2:4] = b"\x00\x00"
    assert ndp.icmpv6_checksum(CLIENT_LL, IPv6Address("ff02::1:ff00:10"), bytes(icmp)) == 0x4B43


def test_corrupted_checksum_is_reported_not_raised() -> None:
    """A flipped checksum bit decodes, with checksum_ok False (the responder drops it)."""
    frame = bytearray(NS_BYTES)
    frame[57] ^= 0x01
    assert ndp.decode_ndp_frame(bytes(frame)).checksum_ok is False


@pytest.mark.parametrize(
    ("address", "group"),
    [
        pytest.param("4037::01:800:200e:8c6c", "ff02::1:ff0e:8c6c", id="RFC 4291 2.7.1 example"),
        pytest.param("2001:db8::10", "ff02::1:ff00:10", id="short"),
        pytest.param("fe80::1234:5678:9abc", "ff02::1:ff78:9abc", id="only the low 24 bits"),
    ],
)
def test_solicited_node_address(address: str, group: str) -> None:
    """ff02::1:ff00:0/104 plus the low 24 bits of the address (RFC 4291 2.7.1)."""
    assert ndp.solicited_node_address(IPv6Address(address)) == IPv6Address(group)


def test_multicast_mac() -> None:
    """33:33 plus the low 32 bits of the group (RFC 2464 7); unicast is refused."""
    assert str(ndp.multicast_mac(IPv6Address("ff02::1"))) == "33:33:00:00:00:01"
    assert str(ndp.multicast_mac(IPv6Address("ff02::1:ff0e:8c6c"))) == "33:33:ff:0e:8c:6c"
    with pytest.raises(ValueError, match="not a multicast"):
        ndp.multicast_mac(VIP)


def test_unsolicited_advertisement_is_override_to_all_nodes() -> None:
    """The takeover NA: all-nodes group and MAC, O=1 S=0 R=0, TLLA = our MAC, hop limit 255."""
    frame = ndp.unsolicited_advertisement_frame(NODE_MAC, NODE_LL, VIP)
    assert frame[:6] == bytes.fromhex("333300000001")
    assert frame[54] == 136
    assert frame[58] == 0x20  # RFC 4861 4.4: R=0x80, S=0x40, O=0x20 in the first octet
    decoded = ndp.decode_ndp_frame(frame)
    assert decoded.ipv6.src == NODE_LL
    assert decoded.ipv6.dst == IPv6Address("ff02::1")
    assert decoded.ipv6.hop_limit == 255
    assert decoded.checksum_ok
    assert decoded.message == ndp.NeighborAdvertisement(
        VIP, override=True, options=(ndp.NdpOption(2, NODE_MAC.octets),)
    )


def test_advertisement_flags_round_trip() -> None:
    """Each NA flag lands in its own bit and decodes back."""
    for flags in ((True, False, False), (False, True, False), (False, False, True)):
        message = ndp.NeighborAdvertisement(
            VIP, router=flags[0], solicited=flags[1], override=flags[2]
        )
        icmp_type, body = ndp.encode_message(message)
        assert icmp_type == 136
        assert ndp.decode_message(icmp_type, body) == message


def test_options_are_padded_to_eight_octets_and_round_trip() -> None:
    """Option lengths count 8-octet units (RFC 4861 4.6); unknown options survive."""
    options = (ndp.NdpOption(14, b"\x01\x02\x03\x04\x05\x06"), ndp.NdpOption(99, b"x" * 7))
    _, body = ndp.encode_message(ndp.NeighborSolicitation(VIP, options))
    assert body[20:22] == b"\x0e\x01"
    assert body[28:30] == b"\x63\x02"
    assert len(body) == 20 + 8 + 16
    decoded = ndp.decode_message(135, body)
    assert decoded == ndp.NeighborSolicitation(
        VIP, (options[0], ndp.NdpOption(99, b"x" * 7 + bytes(7)))
    )
    with pytest.raises(ValueError, match="too long"):
        ndp.encode_message(ndp.NeighborSolicitation(VIP, (ndp.NdpOption(1, bytes(2100)),)))


def _with_icmp(icmp: bytes, *, next_header: int = 58, version: int = 6) -> bytes:
    """NS_BYTES's Ethernet and IPv6 headers around another ICMPv6 body."""
    ipv6 = struct.pack("!IHBB", version << 28, len(icmp), next_header, 255) + NS_BYTES[22:54]
    return NS_BYTES[:14] + ipv6 + icmp


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        pytest.param(_with_icmp(NS_BYTES[54:-8] + b"\x01\x00" + bytes(6)), "length zero", id="0"),
        pytest.param(
            _with_icmp(NS_BYTES[54:-8] + b"\x01\x02" + bytes(6)), "past the end", id="run"
        ),
        pytest.param(_with_icmp(NS_BYTES[54:-8] + b"\x01"), "truncated", id="half option"),
        pytest.param(_with_icmp(NS_BYTES[54:70]), "shorter than 20", id="short body"),
        pytest.param(_with_icmp(b"\x87\x00"), "ICMPv6 message", id="short icmp"),
        pytest.param(_with_icmp(NS_BYTES[54:], next_header=6), "not ICMPv6", id="tcp"),
        pytest.param(_with_icmp(NS_BYTES[54:], version=4), "IP version", id="version"),
        pytest.param(NS_BYTES[:-1], "exceeds", id="payload length past the frame"),
        pytest.param(NS_BYTES[:50], "shorter than its header", id="short IPv6"),
        pytest.param(NS_BYTES[:12] + b"\x08\x06" + NS_BYTES[14:], "not IPv6", id="ethertype"),
    ],
)
def test_malformed_frames_raise_frame_error(frame: bytes, why: str) -> None:
    """Each structural defect raises FrameError naming it."""
    with pytest.raises(FrameError, match=why):
        ndp.decode_ndp_frame(frame)


def test_other_icmpv6_types_decode_without_message() -> None:
    """An echo request decodes (type 128) but carries no NDP message."""
    frame = ndp.decode_ndp_frame(_with_icmp(b"\x80\x00\x00\x00" + bytes(8)))
    assert (frame.icmp_type, frame.message) == (128, None)


def test_trailing_padding_after_the_ipv6_payload_is_ignored() -> None:
    """Bytes past the IPv6 payload length (Ethernet padding) are not read as options."""
    assert (
        ndp.decode_ndp_frame(NS_BYTES + b"\xff" * 6).message
        == ndp.decode_ndp_frame(NS_BYTES).message
    )


# --- scapy as an independent oracle -------------------------------------------------


ipv6s = st.integers(0, 2**128 - 1).map(IPv6Address)
macs = st.binary(min_size=6, max_size=6).map(MacAddress)


@settings(max_examples=150, deadline=None)
@given(src_mac=macs, src=ipv6s, target=ipv6s)
def test_scapy_agrees_with_our_solicitations(
    src_mac: MacAddress, src: IPv6Address, target: IPv6Address
) -> None:
    """scapy parses our NS and recomputes the same checksum."""
    frame = ndp.solicitation_frame(src_mac, src, target)
    pkt = Ether(frame)
    assert IPv6Address(pkt[IPv6].dst) == ndp.solicited_node_address(target)
    assert pkt[IPv6].hlim == 255
    assert IPv6Address(pkt[ICMPv6ND_NS].tgt) == target
    assert pkt[ICMPv6NDOptSrcLLAddr].lladdr == str(src_mac)
    ours = pkt[ICMPv6ND_NS].cksum
    del pkt[ICMPv6ND_NS].cksum
    assert Ether(bytes(pkt))[ICMPv6ND_NS].cksum == ours


@settings(max_examples=150, deadline=None)
@given(
    mac=macs, src=ipv6s, dst=ipv6s, target=ipv6s, solicited=st.booleans(), override=st.booleans()
)
def test_scapy_agrees_with_our_advertisements(
    mac: MacAddress,
    src: IPv6Address,
    dst: IPv6Address,
    *,
    target: IPv6Address,
    solicited: bool,
    override: bool,
) -> None:
    """scapy parses our NA flags and option, and recomputes the same checksum."""
    frame = ndp.advertisement_frame(
        src_mac=mac,
        src_ip=src,
        dst_mac=mac,
        dst_ip=dst,
        target=target,
        solicited=solicited,
        override=override,
    )
    pkt = Ether(frame)
    na = pkt[ICMPv6ND_NA]
    assert (0, int(solicited), int(override)) == (na.R, na.S, na.O)
    assert IPv6Address(na.tgt) == target
    assert pkt[ICMPv6NDOptDstLLAddr].lladdr == str(mac)
    ours = na.cksum
    del na.cksum
    assert Ether(bytes(pkt))[ICMPv6ND_NA].cksum == ours


@settings(max_examples=150, deadline=None)
@given(src_mac=macs, src=ipv6s, dst=ipv6s, target=ipv6s, mtu=st.none() | st.integers(0, 2**32 - 1))
def test_scapy_built_solicitations_decode_in_ours(
    src_mac: MacAddress,
    src: IPv6Address,
    dst: IPv6Address,
    *,
    target: IPv6Address,
    mtu: int | None,
) -> None:
    """Any NS scapy builds (optionally with an MTU option first) decodes with a valid sum."""
    icmp = ICMPv6ND_NS(tgt=str(target))
    if mtu is not None:
        icmp = icmp / ICMPv6NDOptMTU(mtu=mtu)
    icmp = icmp / ICMPv6NDOptSrcLLAddr(lladdr=str(src_mac))
    # Explicit MACs: left unset, scapy would resolve them by sending real packets.
    ether = Ether(dst=str(NODE_MAC), src=str(src_mac))
    built = bytes(ether / IPv6(src=str(src), dst=str(dst)) / icmp)
    decoded = ndp.decode_ndp_frame(built)
    assert decoded.checksum_ok
    assert isinstance(decoded.message, ndp.NeighborSolicitation)
    assert decoded.message.target == target
    assert decoded.message.source_link_layer_address == src_mac
    assert len(decoded.message.options) == (1 if mtu is None else 2)


def test_scapy_echo_request_is_not_ndp() -> None:
    """A scapy ping decodes as ICMPv6 type 128 with a valid checksum and no message."""
    ether = Ether(dst=str(NODE_MAC), src=str(CLIENT_MAC))
    built = bytes(ether / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest())
    decoded = ndp.decode_ndp_frame(built)
    assert (decoded.icmp_type, decoded.checksum_ok, decoded.message) == (128, True, None)


# --- fuzzing ---------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_decoder_raises_only_frame_error_on_random_bytes(data: bytes) -> None:
    """Arbitrary bytes either decode or raise FrameError, never anything else."""
    with contextlib.suppress(FrameError):
        ndp.decode_ndp_frame(data)


@settings(max_examples=400, deadline=None)
@given(icmp_type=st.sampled_from([135, 136, 128, 0]), body=st.binary(max_size=80))
def test_decoder_raises_only_frame_error_on_random_icmp_bodies(icmp_type: int, body: bytes) -> None:
    """Well-framed IPv6 carrying random NS/NA bodies and options fail only with FrameError."""
    with contextlib.suppress(FrameError):
        ndp.decode_ndp_frame(_with_icmp(bytes((icmp_type, 0, 0, 0)) + body))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_decoder_raises_only_frame_error_on_mutated_solicitations(data: st.DataObject) -> None:
    """A valid NS with random bytes overwritten or cut off fails only with FrameError."""
    frame = bytearray(NS_BYTES)
    for _ in range(data.draw(st.integers(1, 4))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(FrameError):
        ndp.decode_ndp_frame(bytes(frame[: data.draw(st.integers(0, len(frame)))]))
