"""The Layer 2 adapter without privileges: the responder loop over a socketpair, the
announcer's table, multicast groups, gratuitous bursts and interface reconciliation
against a fake link list, the eligibility rule and the BPF programs' jump layout."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

import pytest

from metallb.codec import arp, ndp
from metallb.codec.ethernet import MacAddress
from metallb.net import bpf
from metallb.net.announcer import Announcer
from metallb.net.links import (
    DEFAULT_EXCLUDE,
    IFF_BROADCAST,
    IFF_NOARP,
    IFF_UP,
    Link,
    compile_exclude,
    eligible,
)
from metallb.net.responder import Kind, L2Stats, Responder
from metallb.speaker.layer2_responder import DropReason, Interface, OwnedIPs

NODE_MAC = MacAddress.parse("02:00:00:00:00:aa")
CLIENT_MAC = MacAddress.parse("02:00:00:00:00:01")
CLIENT_IP = IPv4Address("192.0.2.1")
VIP = IPv4Address("192.0.2.100")
VIP6 = IPv6Address("2001:db8::100")
LL = IPv6Address("fe80::aa")
UP = IFF_UP | IFF_BROADCAST


@dataclass
class PairIO:
    """A FrameIO over an AF_UNIX datagram socketpair; ``peer`` is the far side."""

    ours: socket.socket = field(init=False)
    peer: socket.socket = field(init=False)
    joined: list[MacAddress] = field(default_factory=list)
    closed: bool = False

    def __post_init__(self) -> None:
        self.ours, self.peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ours.setblocking(False)
        self.peer.setblocking(False)

    async def recv(self) -> bytes:
        return await asyncio.get_running_loop().sock_recv(self.ours, 65535)

    def send(self, frame: bytes) -> None:
        self.ours.send(frame)

    def join(self, mac: MacAddress) -> None:
        self.joined.append(mac)

    def leave(self, mac: MacAddress) -> None:
        self.joined.remove(mac)

    def close(self) -> None:
        self.closed = True
        self.ours.close()

    async def next_frame(self) -> bytes:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(self.peer, 65535), 2.0)

    def pending(self) -> list[bytes]:
        frames = []
        while True:
            try:
                frames.append(self.peer.recv(65535))
            except BlockingIOError:
                return frames


def request(target: IPv4Address = VIP) -> bytes:
    return arp.request_frame(CLIENT_MAC, CLIENT_IP, target)


@pytest.mark.asyncio
async def test_responder_answers_owned_ip_and_counts_drops() -> None:
    """The loop sends decide_arp's reply for an owned IP and counts a drop otherwise."""
    io, stats = PairIO(), L2Stats()
    owned = OwnedIPs({VIP: None})
    responder = Responder(Kind.ARP, Interface("eth0", NODE_MAC), io, owned, stats)
    responder.start()
    try:
        io.peer.send(request())
        reply = arp.decode_arp_frame(await io.next_frame())
        assert reply.packet.operation == arp.ArpOperation.REPLY
        assert reply.packet.sender_mac == NODE_MAC
        assert reply.packet.sender_ip == VIP
        assert reply.ethernet.dst == CLIENT_MAC
        io.peer.send(request(IPv4Address("192.0.2.101")))
        io.peer.send(b"\x00" * 5)
        for _ in range(100):  # bounded: the loop handles both within a few iterations
            if stats.frames == 3:
                break
            await asyncio.sleep(0.01)
        assert io.pending() == []
        assert stats.frames == 3
        assert stats.requests_received == {VIP: 1}
        assert stats.responses_sent == {VIP: 1}
        assert stats.drops == {DropReason.ANNOUNCE_IP: 1, DropReason.MALFORMED: 1}
    finally:
        await responder.close()
    assert io.closed


@dataclass
class FakeLinks:
    """A mutable link list standing in for netlink, and the PairIOs the announcer opened."""

    links: list[Link]
    opened: dict[tuple[str, Kind], PairIO] = field(default_factory=dict)

    async def discover(self) -> list[Link]:
        return list(self.links)

    def open_io(self, link: Link, kind: Kind) -> PairIO:
        io = PairIO()
        self.opened[(link.name, kind)] = io
        return io


def eth(name: str, index: int, *, flags: int = UP, ll: IPv6Address | None = LL) -> Link:
    mac = MacAddress(NODE_MAC.octets[:5] + bytes([index]))
    return Link(name, index, mac, flags, link_local=ll)


def announcer_for(fake: FakeLinks, now: list[float]) -> Announcer:
    return Announcer(
        discover=fake.discover,
        open_io=fake.open_io,
        clock=lambda: now[0],
        scan_interval=3600,  # scans are driven by the tests
        link_events=None,
    )


@pytest.mark.asyncio
async def test_set_owned_sends_gratuitous_pair_only_where_allowed() -> None:
    """A new IPv4 IP gets the gratuitous request and reply at once, on allowed interfaces."""
    fake = FakeLinks([eth("eth0", 2), eth("eth1", 3)])
    async with announcer_for(fake, [0.0]) as announcer:
        announcer.set_owned(VIP, frozenset({"eth1"}))
        assert fake.opened[("eth0", Kind.ARP)].pending() == []
        frames = fake.opened[("eth1", Kind.ARP)].pending()
        assert frames == list(
            arp.gratuitous_frames(announcer.responders[("eth1", Kind.ARP)].iface.mac, VIP)
        )
        assert announcer.stats.gratuitous_sent == {VIP: 2}
        # Re-confirming the same value is a no-op: no second burst from the table.
        announcer.set_owned(VIP, ["eth1"])
        assert fake.opened[("eth1", Kind.ARP)].pending() == []
        assert announcer.check(VIP, "eth0") == DropReason.NOT_MATCH_INTERFACE
        announcer.remove(VIP)
        assert announcer.check(VIP, "eth1") == DropReason.ANNOUNCE_IP


@pytest.mark.asyncio
async def test_ipv6_joins_and_leaves_solicited_node_group_and_sends_unsolicited_na() -> None:
    """An owned IPv6 IP joins its solicited-node group and announces; remove leaves it."""
    fake = FakeLinks([eth("eth0", 2)])
    group = ndp.multicast_mac(ndp.solicited_node_address(VIP6))
    async with announcer_for(fake, [0.0]) as announcer:
        io = fake.opened[("eth0", Kind.NDP)]
        announcer.set_owned(VIP6)
        assert io.joined == [group]
        (frame,) = io.pending()
        na = ndp.decode_ndp_frame(frame)
        assert isinstance(na.message, ndp.NeighborAdvertisement)
        assert na.message.override
        assert not na.message.solicited
        assert na.ipv6.dst == ndp.ALL_NODES
        announcer.remove(VIP6)
        assert io.joined == []


@pytest.mark.asyncio
async def test_burst_repeats_on_the_schedule_then_stops() -> None:
    """Rounds follow at 1.1 s ticks and end 5 s after the announcement (fake clock)."""
    fake = FakeLinks([eth("eth0", 2, ll=None)])
    now = [100.0]
    async with announcer_for(fake, now) as announcer:
        io = fake.opened[("eth0", Kind.ARP)]
        announcer.set_owned(VIP)
        assert len(io.pending()) == 2
        rounds = 0
        # Steps of 1.2 s land just after each 1.1 s tick (the ticker re-arms from the
        # time it fired): t = 1.2, 2.4, 3.6, 4.8 are inside the 5 s window, 6.0+ are not.
        for step in range(1, 7):
            now[0] = 100.0 + 1.2 * step
            announcer._wake.set()  # the ticker sleeps on real time; wake it to re-read the clock
            for _ in range(50):
                await asyncio.sleep(0.002)
            got = len(io.pending())
            assert got in (0, 2)
            rounds += got // 2
        assert rounds == 4
        assert announcer.stats.gratuitous_sent[VIP] == 10


@pytest.mark.asyncio
async def test_scan_starts_and_stops_responders_as_links_change() -> None:
    """Link down, NOARP, enslaved or excluded interfaces lose their responders."""
    fake = FakeLinks([eth("eth0", 2), eth("veth9", 3), eth("eth1", 4, ll=None)])
    async with announcer_for(fake, [0.0]) as announcer:
        assert set(announcer.responders) == {
            ("eth0", Kind.ARP),
            ("eth0", Kind.NDP),
            ("eth1", Kind.ARP),
        }
        announcer.set_owned(VIP)
        fake.links = [eth("eth0", 2, flags=IFF_BROADCAST), eth("eth1", 4, ll=None)]
        await announcer.scan()
        assert set(announcer.responders) == {("eth1", Kind.ARP)}
        assert fake.opened[("eth0", Kind.ARP)].closed
        # A link coming back inside the burst window is announced on at once.
        fake.links.append(eth("eth2", 5, ll=None))
        await announcer.scan()
        assert len(fake.opened[("eth2", Kind.ARP)].pending()) == 2
    assert all(io.closed for io in fake.opened.values())


EXCLUDE = compile_exclude(DEFAULT_EXCLUDE)


@pytest.mark.parametrize(
    ("link", "kinds"),
    [
        pytest.param(eth("eth0", 2), {Kind.ARP, Kind.NDP}, id="up, broadcast, link-local"),
        pytest.param(eth("eth0", 2, ll=None), {Kind.ARP}, id="no link-local: no NDP"),
        pytest.param(eth("eth0", 2, flags=IFF_UP), {Kind.NDP}, id="no BROADCAST: no ARP"),
        pytest.param(eth("eth0", 2, flags=IFF_BROADCAST), set(), id="down"),
        pytest.param(eth("eth0", 2, flags=UP | IFF_NOARP), set(), id="NOARP"),
        pytest.param(Link("eth0", 2, NODE_MAC, UP, master=7), set(), id="bridge port"),
        pytest.param(Link("eth0", 2, None, UP), set(), id="no MAC"),
        pytest.param(eth("lo", 1), set(), id="lo excluded"),
        pytest.param(eth("lo0", 1), {Kind.ARP, Kind.NDP}, id="lo0 is not ^lo$"),
        pytest.param(eth("veth1234", 2), set(), id="veth excluded"),
        pytest.param(eth("kube-ipvs0", 2), set(), id="kube-ipvs excluded"),
        pytest.param(eth("cni0", 2), set(), id="cni excluded"),
        pytest.param(eth("br0", 2), {Kind.ARP, Kind.NDP}, id="a bridge answers"),
    ],
)
def test_eligibility(link: Link, kinds: set[Kind]) -> None:
    """Upstream's rule: name not excluded, up, not enslaved, not NOARP; ARP/NDP by caps."""
    assert eligible(link, EXCLUDE) == kinds


def test_custom_exclusion_list_replaces_default() -> None:
    """The exclusion list is configurable: an empty one lets veth interfaces answer."""
    assert eligible(eth("veth0", 2), ()) == {Kind.ARP, Kind.NDP}
    assert eligible(eth("eth0", 2), compile_exclude([r"^eth"])) == set()


@pytest.mark.parametrize("program", [bpf.ARP_REQUESTS, bpf.NEIGHBOR_SOLICITATIONS])
def test_bpf_failed_checks_jump_to_the_final_drop(program: tuple[bpf.Insn, ...]) -> None:
    """Every conditional jump lands on the accept (fall-through) or the final ``ret #0``."""
    drop, accept = len(program) - 1, len(program) - 2
    assert program[drop] == bpf.Insn(bpf.BPF_RET | bpf.BPF_K, 0, 0, 0)
    assert program[accept].k == bpf.ACCEPT_BYTES
    for i, insn in enumerate(program[:accept]):
        if insn.code & 0x07 == bpf.BPF_JMP:
            targets = {i + 1 + insn.jt, i + 1 + insn.jf}
            assert drop in targets
            assert (i + 1) in targets


@pytest.mark.asyncio
async def test_a_link_event_rescans_at_once() -> None:
    """With the periodic scan an hour away, a netlink event alone brings a new interface
    its responders, and a link going down loses them (no 10 s wait as upstream)."""
    fake = FakeLinks([eth("eth0", 2)])
    events: asyncio.Queue[None] = asyncio.Queue()

    async def link_events() -> AsyncIterator[None]:
        while True:
            await events.get()
            yield None

    announcer = Announcer(
        discover=fake.discover,
        open_io=fake.open_io,
        scan_interval=3600,
        link_events=link_events,
    )
    async with announcer:
        assert set(announcer.responders) == {("eth0", Kind.ARP), ("eth0", Kind.NDP)}
        fake.links.append(eth("eth1", 3))
        events.put_nowait(None)
        for _ in range(100):
            if ("eth1", Kind.ARP) in announcer.responders:
                break
            await asyncio.sleep(0.01)
        assert ("eth1", Kind.ARP) in announcer.responders
        fake.links[0] = eth("eth0", 2, flags=0)  # administratively down
        events.put_nowait(None)
        for _ in range(100):
            if ("eth0", Kind.ARP) not in announcer.responders:
                break
            await asyncio.sleep(0.01)
        assert set(announcer.responders) == {("eth1", Kind.ARP), ("eth1", Kind.NDP)}
        assert announcer.scans == 3


@pytest.mark.asyncio
async def test_reannounce_sends_a_burst_for_owned_ips_only() -> None:
    """After its window ended, reannounce() of an owned IP sends a round at once (a
    healed partition's winner confirming itself); an IP not owned stays silent."""
    fake = FakeLinks([eth("eth0", 2, ll=None)])
    now = [100.0]
    async with announcer_for(fake, now) as announcer:
        io = fake.opened[("eth0", Kind.ARP)]
        announcer.set_owned(VIP)
        assert len(io.pending()) == 2
        now[0] = 200.0  # long after the 5 s window: the ticker forgets the IP
        announcer._wake.set()
        for _ in range(50):
            await asyncio.sleep(0.002)
        assert len(io.pending()) == 0
        announcer.reannounce(VIP)
        assert len(io.pending()) == 2
        assert announcer.stats.gratuitous_sent == {VIP: 4}
        announcer.reannounce(IPv4Address("192.0.2.99"))
        assert io.pending() == []
