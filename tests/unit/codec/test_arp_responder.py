"""ARP responder decision (metallb.speaker.layer2_responder): one row per drop reason, the reply,
and the gratuitous-announcement schedule."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from scapy.layers.l2 import ARP, Ether

from metallb.codec import arp
from metallb.codec.ethernet import BROADCAST, ETHERTYPE_IPV4, MacAddress
from metallb.speaker.layer2_responder import (
    GRATUITOUS_DURATION_SECONDS,
    GRATUITOUS_INTERVAL_SECONDS,
    DropReason,
    GratuitousSchedule,
    Interface,
    OwnedIPs,
    Reply,
    decide_arp,
    gratuitous_frames,
)

CLIENT_MAC = MacAddress.parse("02:00:00:00:00:01")
NODE_MAC = MacAddress.parse("02:00:00:00:00:aa")
OTHER_MAC = MacAddress.parse("02:00:00:00:00:bb")
CLIENT_IP = IPv4Address("192.0.2.1")
VIP = IPv4Address("192.0.2.10")
OTHER_VIP = IPv4Address("192.0.2.11")
ETH0 = Interface("eth0", NODE_MAC)
OWNED = OwnedIPs({VIP: None, OTHER_VIP: frozenset({"eth1"})})


def _frame(
    *,
    op: int = arp.ArpOperation.REQUEST,
    dst: MacAddress = BROADCAST,
    src: MacAddress = CLIENT_MAC,
    target: IPv4Address = VIP,
) -> bytes:
    packet = arp.ArpPacket(op, src, CLIENT_IP, MacAddress(bytes(6)), target)
    return arp.encode_arp_frame(dst, src, packet)


REQUEST = _frame()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(REQUEST[:30], DropReason.MALFORMED, id="truncated ARP body"),
        pytest.param(b"\xff" * 10, DropReason.MALFORMED, id="shorter than Ethernet"),
        pytest.param(REQUEST[:16] + b"\x86\xdd" + REQUEST[18:], DropReason.MALFORMED, id="pro"),
        pytest.param(
            REQUEST[:12] + ETHERTYPE_IPV4.to_bytes(2, "big") + REQUEST[14:],
            DropReason.WRONG_PROTOCOL,
            id="IPv4 EtherType",
        ),
        pytest.param(_frame(src=NODE_MAC), DropReason.OWN_FRAME, id="our own transmission"),
        pytest.param(_frame(op=arp.ArpOperation.REPLY), DropReason.ARP_REPLY, id="reply"),
        pytest.param(_frame(op=3), DropReason.ARP_REPLY, id="RARP request"),
        pytest.param(_frame(dst=OTHER_MAC), DropReason.ETHERNET_DESTINATION, id="unicast else"),
        pytest.param(
            _frame(target=IPv4Address("192.0.2.99")), DropReason.ANNOUNCE_IP, id="not owned"
        ),
        pytest.param(
            _frame(target=OTHER_VIP), DropReason.NOT_MATCH_INTERFACE, id="owned on eth1 only"
        ),
    ],
)
def test_drop_reasons(frame: bytes, reason: DropReason) -> None:
    """Each kind of frame upstream ignores yields its own reason, not a reply."""
    assert decide_arp(frame, ETH0, OWNED) is reason


@pytest.mark.parametrize(
    ("frame", "iface"),
    [
        pytest.param(REQUEST, ETH0, id="broadcast request"),
        pytest.param(_frame(dst=NODE_MAC), ETH0, id="unicast to our MAC (cache refresh)"),
        pytest.param(_frame(target=OTHER_VIP), Interface("eth1", NODE_MAC), id="allowed iface"),
    ],
)
def test_requests_for_owned_ips_are_answered(frame: bytes, iface: Interface) -> None:
    """A request for an owned IP gets the RFC 826 reply built from the request."""
    request = arp.decode_arp_frame(frame).packet
    assert decide_arp(frame, iface, OWNED) == Reply(
        arp.reply_frame(request, NODE_MAC), request.target_ip
    )


def test_reply_parses_in_scapy_as_our_mac_for_the_vip() -> None:
    """The client (scapy here) learns VIP is-at the node's own MAC, sent only to it."""
    decision = decide_arp(REQUEST, ETH0, OWNED)
    assert isinstance(decision, Reply)
    pkt = Ether(decision.frame)
    assert (pkt[Ether].dst, pkt[Ether].src) == (str(CLIENT_MAC), str(NODE_MAC))
    assert (pkt[ARP].op, pkt[ARP].hwsrc, pkt[ARP].psrc) == (2, str(NODE_MAC), str(VIP))
    assert (pkt[ARP].hwdst, pkt[ARP].pdst) == (str(CLIENT_MAC), str(CLIENT_IP))


def test_scapy_built_request_is_answered() -> None:
    """A who-has built by scapy, not by our encoder, is answered."""
    built = bytes(
        Ether(dst="ff:ff:ff:ff:ff:ff", src=str(CLIENT_MAC))
        / ARP(op=1, hwsrc=str(CLIENT_MAC), psrc=str(CLIENT_IP), pdst=str(VIP))
    )
    decision = decide_arp(built, ETH0, OWNED)
    assert isinstance(decision, Reply)
    assert decision.ip == VIP


def test_owned_ips_check_order() -> None:
    """Unknown IP beats interface mismatch; an explicit interface list is honoured."""
    owned = OwnedIPs({VIP: frozenset({"eth0", "bond0"})})
    assert owned.check(VIP, "bond0") is None
    assert owned.check(VIP, "eth1") is DropReason.NOT_MATCH_INTERFACE
    assert owned.check(OTHER_VIP, "eth1") is DropReason.ANNOUNCE_IP


def test_gratuitous_frames_per_family() -> None:
    """IPv4: the ARP request and reply pair; IPv6: one NA, and it needs a link-local."""
    assert gratuitous_frames(ETH0, VIP) == arp.gratuitous_frames(NODE_MAC, VIP)
    with_ll = Interface("eth0", NODE_MAC, IPv6Address("fe80::aa"))
    (na,) = gratuitous_frames(with_ll, IPv6Address("2001:db8::10"))
    assert na[:6] == bytes.fromhex("333300000001")
    with pytest.raises(ValueError, match="link-local"):
        gratuitous_frames(ETH0, IPv6Address("2001:db8::10"))


def test_gratuitous_timing_constants_are_upstreams() -> None:
    """1.1 s between rounds (upstream issue 172), for 5 s after the last announcement."""
    assert (GRATUITOUS_INTERVAL_SECONDS, GRATUITOUS_DURATION_SECONDS) == (1.1, 5.0)


def test_gratuitous_schedule_sends_five_rounds_after_takeover() -> None:
    """Announced at t=0: a round at once, then at 1.1, 2.2, 3.3, 4.4 s and none after."""
    schedule = GratuitousSchedule()
    rounds = [0.0] if schedule.announce(VIP, 0.0) else []
    while schedule.next_tick is not None and len(rounds) < 20:
        now = schedule.next_tick
        if schedule.tick(now):
            rounds.append(now)
    assert rounds == pytest.approx([0.0, 1.1, 2.2, 3.3, 4.4])
    assert schedule.active == frozenset()


def test_gratuitous_schedule_reconfirmation_extends_without_an_extra_round() -> None:
    """Re-announcing an IP in its window sends nothing at once but extends the window."""
    schedule = GratuitousSchedule()
    assert schedule.announce(VIP, 0.0)
    assert not schedule.announce(VIP, 3.0)
    assert schedule.tick(7.9) == (VIP,)
    assert schedule.tick(8.1) == ()
    assert schedule.next_tick is None


def test_gratuitous_schedule_forget_and_independent_windows() -> None:
    """Each IP has its own window; forgotten IPs stop at once."""
    schedule = GratuitousSchedule()
    schedule.announce(VIP, 0.0)
    assert schedule.announce(OTHER_VIP, 2.0)
    assert schedule.tick(5.5) == (OTHER_VIP,)
    schedule.forget([OTHER_VIP])
    assert schedule.tick(6.6) == ()
