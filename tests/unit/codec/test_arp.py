"""ARP codec: hand-checked bytes, scapy as an independent oracle, and decoder fuzzing."""

from __future__ import annotations

import contextlib
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.l2 import ARP, Ether

from metallb.codec import arp
from metallb.codec.ethernet import (
    BROADCAST,
    ETHERTYPE_ARP,
    MIN_FRAME_LEN,
    EthernetHeader,
    FrameError,
    MacAddress,
    decode_ethernet,
    encode_ethernet,
)

CLIENT_MAC = MacAddress.parse("02:00:00:00:00:01")
NODE_MAC = MacAddress.parse("02:00:00:00:00:aa")
CLIENT_IP = IPv4Address("192.0.2.1")
VIP = IPv4Address("192.0.2.10")

# A who-has 192.0.2.10 from 192.0.2.1 at 02:00:00:00:00:01, written out field by field
# from the RFC 826 packet format.
REQUEST_BYTES = bytes.fromhex(
    "ffffffffffff"  # Ethernet destination: broadcast
    "020000000001"  # Ethernet source
    "0806"  # EtherType ARP
    "0001"  # hrd: Ethernet
    "0800"  # pro: IPv4
    "06 04"  # hln, pln
    "0001"  # op: request
    "020000000001 c0000201"  # sha, spa 192.0.2.1
    "000000000000 c000020a"  # tha unknown, tpa 192.0.2.10
) + bytes(18)  # padding to the 60-byte minimum frame

REPLY_BYTES = bytes.fromhex(
    "020000000001"  # to the requester
    "0200000000aa"  # from the node's own MAC
    "0806 0001 0800 06 04"  # EtherType ARP, hrd, pro, hln, pln
    "0002"  # op: reply
    "0200000000aa c000020a"  # sha = node MAC, spa = the service IP
    "020000000001 c0000201"  # tha/tpa = the requester
) + bytes(18)


def test_request_frame_matches_hand_checked_bytes() -> None:
    """The who-has builder emits exactly the RFC 826 layout above, padded to 60 bytes."""
    assert arp.request_frame(CLIENT_MAC, CLIENT_IP, VIP) == REQUEST_BYTES


def test_decode_hand_checked_request() -> None:
    """Every field of the hand-written request decodes to its value."""
    frame = arp.decode_arp_frame(REQUEST_BYTES)
    assert frame.ethernet == EthernetHeader(BROADCAST, CLIENT_MAC, ETHERTYPE_ARP)
    assert frame.packet == arp.ArpPacket(
        arp.ArpOperation.REQUEST, CLIENT_MAC, CLIENT_IP, MacAddress(bytes(6)), VIP
    )


def test_reply_frame_matches_hand_checked_bytes() -> None:
    """The reply swaps fields as RFC 826 says and is unicast to the requester."""
    request = arp.decode_arp_frame(REQUEST_BYTES).packet
    assert arp.reply_frame(request, NODE_MAC) == REPLY_BYTES


def test_gratuitous_pair_is_request_then_reply_with_sender_equal_target() -> None:
    """Both gratuitous forms are broadcast with spa = tpa = the IP and tha = ff:..:ff."""
    request, reply = arp.gratuitous_frames(NODE_MAC, VIP)
    for frame, op in ((request, arp.ArpOperation.REQUEST), (reply, arp.ArpOperation.REPLY)):
        decoded = arp.decode_arp_frame(frame)
        assert decoded.ethernet.dst == BROADCAST
        assert decoded.ethernet.src == NODE_MAC
        assert decoded.packet == arp.ArpPacket(op, NODE_MAC, VIP, BROADCAST, VIP)
    assert request[20:22] == b"\x00\x01"
    assert reply[20:22] == b"\x00\x02"


def test_trailing_padding_and_trailer_bytes_are_ignored() -> None:
    """Frames longer than 42 bytes (padding, FCS) decode like the bare packet."""
    assert arp.decode_arp_frame(REQUEST_BYTES[:42] + b"\xde\xad" * 20).packet.target_ip == VIP


@pytest.mark.parametrize(
    ("offset", "value", "why"),
    [
        pytest.param(14, b"\x00\x06", "not Ethernet/IPv4", id="hrd IEEE 802"),
        pytest.param(16, b"\x86\xdd", "not Ethernet/IPv4", id="pro IPv6"),
        pytest.param(18, b"\x08", "address lengths", id="hln 8"),
        pytest.param(19, b"\x10", "address lengths", id="pln 16"),
    ],
)
def test_non_ethernet_ipv4_arp_is_rejected(offset: int, value: bytes, why: str) -> None:
    """Only Ethernet/IPv4 ARP decodes (RFC 826: check hrd and pro first)."""
    frame = REQUEST_BYTES[:offset] + value + REQUEST_BYTES[offset + len(value) :]
    with pytest.raises(FrameError, match=why):
        arp.decode_arp_frame(frame)


def test_wrong_ethertype_and_truncation_are_rejected() -> None:
    """An IPv4 EtherType, and a frame cut inside the ARP body, raise FrameError."""
    with pytest.raises(FrameError, match="not ARP"):
        arp.decode_arp_frame(REQUEST_BYTES[:12] + b"\x08\x00" + REQUEST_BYTES[14:])
    with pytest.raises(FrameError, match="shorter"):
        arp.decode_arp_frame(REQUEST_BYTES[:41])
    with pytest.raises(FrameError, match="Ethernet header"):
        decode_ethernet(b"\x00" * 13)


def test_unknown_operations_still_decode() -> None:
    """An InARP request (op 8) decodes with its raw operation number."""
    frame = REQUEST_BYTES[:20] + b"\x00\x08" + REQUEST_BYTES[22:]
    assert arp.decode_arp_frame(frame).packet.operation == 8


def test_mac_address_parse_format_and_errors() -> None:
    """MAC text round-trips; bad text and bad lengths are refused."""
    assert str(MacAddress.parse("02-00-00-00-00-AA")) == "02:00:00:00:00:aa"
    assert MacAddress.parse("01:00:5e:00:00:01").is_multicast
    assert not NODE_MAC.is_multicast
    for bad in ("02:00:00:00:00", "02:00:00:00:00:zz", "020000000000", "2:0:0:0:0:0"):
        with pytest.raises(ValueError, match="not a MAC"):
            MacAddress.parse(bad)
    with pytest.raises(ValueError, match="6 octets"):
        MacAddress(b"\x00" * 5)


def test_encode_ethernet_pads_only_short_frames() -> None:
    """Short payloads are padded to 60 bytes; long ones are left alone."""
    header = EthernetHeader(BROADCAST, NODE_MAC, 0x88B5)
    assert len(encode_ethernet(header, b"x")) == MIN_FRAME_LEN
    assert encode_ethernet(header, b"y" * 100)[14:] == b"y" * 100


# --- scapy as an independent oracle -------------------------------------------------


def test_scapy_parses_our_reply() -> None:
    """scapy reads our reply with the fields a client expects."""
    request = arp.decode_arp_frame(REQUEST_BYTES).packet
    pkt = Ether(arp.reply_frame(request, NODE_MAC))
    assert pkt[Ether].dst == str(CLIENT_MAC)
    assert pkt[Ether].src == str(NODE_MAC)
    assert pkt[ARP].op == 2
    assert pkt[ARP].hwsrc == str(NODE_MAC)
    assert pkt[ARP].psrc == str(VIP)
    assert pkt[ARP].hwdst == str(CLIENT_MAC)
    assert pkt[ARP].pdst == str(CLIENT_IP)


def test_scapy_parses_our_gratuitous_frames() -> None:
    """scapy sees one who-has and one is-at, both for the VIP from the VIP."""
    ops = []
    for frame in arp.gratuitous_frames(NODE_MAC, VIP):
        pkt = Ether(frame)
        assert pkt[Ether].dst == "ff:ff:ff:ff:ff:ff"
        assert pkt[ARP].psrc == pkt[ARP].pdst == str(VIP)
        assert pkt[ARP].hwdst == "ff:ff:ff:ff:ff:ff"
        ops.append(pkt[ARP].op)
    assert ops == [1, 2]


macs = st.binary(min_size=6, max_size=6).map(MacAddress)
ipv4s = st.integers(0, 2**32 - 1).map(IPv4Address)


@settings(max_examples=150, deadline=None)
@given(src=macs, dst=macs, op=st.integers(1, 65535), spa=ipv4s, tpa=ipv4s, tha=macs)
def test_scapy_built_frames_decode_in_ours(
    src: MacAddress,
    dst: MacAddress,
    op: int,
    *,
    spa: IPv4Address,
    tpa: IPv4Address,
    tha: MacAddress,
) -> None:
    """Any ARP frame scapy builds decodes to the same fields in our codec, and back."""
    built = bytes(
        Ether(dst=str(dst), src=str(src))
        / ARP(op=op, hwsrc=str(src), psrc=str(spa), hwdst=str(tha), pdst=str(tpa))
    )
    decoded = arp.decode_arp_frame(built)
    assert decoded.ethernet == EthernetHeader(dst, src, ETHERTYPE_ARP)
    assert decoded.packet == arp.ArpPacket(op, src, spa, tha, tpa)
    assert arp.encode_arp_frame(dst, src, decoded.packet)[:42] == built[:42]


# --- fuzzing ---------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_decoder_raises_only_frame_error_on_random_bytes(data: bytes) -> None:
    """Arbitrary bytes either decode or raise FrameError, never anything else."""
    with contextlib.suppress(FrameError):
        arp.decode_arp_frame(data)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_decoder_raises_only_frame_error_on_mutated_requests(data: st.DataObject) -> None:
    """Valid requests with random bytes overwritten or cut off fail only with FrameError."""
    frame = bytearray(REQUEST_BYTES)
    for _ in range(data.draw(st.integers(1, 4))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    try:
        arp.decode_arp_frame(bytes(frame[:cut]))
    except FrameError:
        return
    assert cut >= 42, "a frame shorter than Ethernet + ARP must not decode"
