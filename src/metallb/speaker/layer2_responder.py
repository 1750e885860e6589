"""The Layer 2 responders' decisions: answer a frame or name why not, and when to announce.

The AF_PACKET loop in :mod:`metallb.net` only moves bytes: it hands each received frame
to :func:`decide_arp` or :func:`decide_ndp` and sends the returned reply, or counts the
returned :class:`DropReason`. The reasons are upstream's (``dropReason`` in
``internal/layer2/announcer.go``, returned by ``processRequest`` in ``arp.go`` and
``ndp.go``) plus a few that upstream leaves to its libraries and the kernel (malformed
frames, RFC 4861 validity, our own transmissions echoed back on a packet socket).

:class:`GratuitousSchedule` is the pure half of the takeover announcements: which IPs are
due a gratuitous ARP or unsolicited NA burst now, given a clock the caller passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Protocol

from metallb.codec import arp, ndp
from metallb.codec.ethernet import (
    BROADCAST,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV6,
    FrameError,
    MacAddress,
    decode_ethernet,
)
from metallb.config.addresses import IPAddress

# Upstream issue 172: after a takeover the burst repeats every 1.1 s rather than every
# 1 s, because a Linux neighbour entry ignores updates for `locktime` (1 s by default)
# after its last change; a packet landing inside that window is lost, and the next one
# 1.1 s later is sure to land after it. The burst lasts 5 s after the last time the IP
# was (re)confirmed, so about five rounds (t = 0, 1.1, 2.2, 3.3, 4.4 s).
GRATUITOUS_INTERVAL_SECONDS = 1.1
GRATUITOUS_DURATION_SECONDS = 5.0


class DropReason(StrEnum):
    """Why a responder did not answer a frame; values are stable names for logs/metrics."""

    ERROR = "error"  # reading the socket failed (set by the I/O loop)
    MALFORMED = "malformed"  # the frame could not be decoded
    WRONG_PROTOCOL = "wrongProtocol"  # not ARP (ARP responder) / not IPv6 ICMPv6 (NDP)
    OWN_FRAME = "ownFrame"  # sent by this interface; packet sockets see outgoing frames
    ARP_REPLY = "arpReply"  # an ARP operation other than request
    MESSAGE_TYPE = "messageType"  # an ICMPv6 message other than a Neighbor Solicitation
    INVALID = "invalid"  # fails the RFC 4861 7.1.1 validity checks
    NO_SOURCE_LL = "noSourceLL"  # NS without a source link-layer address option
    ETHERNET_DESTINATION = "ethernetDestination"  # not broadcast/multicast nor to our MAC
    ANNOUNCE_IP = "announceIP"  # the target IP is not announced by this node
    NOT_MATCH_INTERFACE = "notMatchInterface"  # announced, but not on this interface


@dataclass(frozen=True, slots=True)
class Interface:
    """The interface a responder listens on: its name, MAC and (for NDP) link-local IP."""

    name: str
    mac: MacAddress
    link_local: IPv6Address | None = None


class Ownership(Protocol):
    """The announce table as the responders see it (``shouldAnnounce`` upstream)."""

    def check(self, ip: IPAddress, interface: str) -> DropReason | None:
        """None if ``ip`` is announced on ``interface``, else the reason not to answer."""
        ...


@dataclass(frozen=True)
class OwnedIPs:
    """A frozen announce table: IP to the interfaces it is announced on (None = all).

    Several Services may share an IP with different L2Advertisement interfaces; the
    builder passes the union, or None when any of them allows every interface.
    """

    entries: Mapping[IPAddress, frozenset[str] | None] = field(default_factory=dict)

    def check(self, ip: IPAddress, interface: str) -> DropReason | None:
        """Upstream order: unknown IP first, then the interface restriction."""
        if ip not in self.entries:
            return DropReason.ANNOUNCE_IP
        interfaces = self.entries[ip]
        if interfaces is None or interface in interfaces:
            return None
        return DropReason.NOT_MATCH_INTERFACE


@dataclass(frozen=True, slots=True)
class Reply:
    """A frame to send back, and the service IP it answers for (the metrics label)."""

    frame: bytes
    ip: IPAddress


def decide_arp(frame: bytes, iface: Interface, owned: Ownership) -> Reply | DropReason:
    """Answer an ARP request for an owned IPv4 address with this interface's MAC."""
    try:
        header, _ = decode_ethernet(frame)
        if header.ethertype != ETHERTYPE_ARP:
            return DropReason.WRONG_PROTOCOL
        decoded = arp.decode_arp_frame(frame)
    except FrameError:
        return DropReason.MALFORMED
    packet = decoded.packet
    if header.src == iface.mac:
        return DropReason.OWN_FRAME
    # Only requests are answered; replies (including other nodes' gratuitous replies)
    # are not questions.
    if packet.operation != arp.ArpOperation.REQUEST:
        return DropReason.ARP_REPLY
    # As upstream: a request must be broadcast or sent to this interface, so a request
    # unicast to another node (seen through a bridge or promiscuous mode) is ignored.
    if header.dst not in (BROADCAST, iface.mac):
        return DropReason.ETHERNET_DESTINATION
    reason = owned.check(packet.target_ip, iface.name)
    if reason is not None:
        return reason
    return Reply(arp.reply_frame(packet, iface.mac), packet.target_ip)


def _ns_invalid(decoded: ndp.NdpFrame, ns: ndp.NeighborSolicitation) -> bool:
    """RFC 4861 7.1.1: the checks a node MUST apply before acting on a solicitation.

    The ICMP length >= 24 and the zero-length option checks are made by the decoder.
    """
    ipv6 = decoded.ipv6
    if ipv6.hop_limit != ndp.NDP_HOP_LIMIT or decoded.icmp_code != 0:
        return True
    if not decoded.checksum_ok or ns.target.is_multicast:
        return True
    if ipv6.src.is_unspecified:
        # A duplicate address detection probe: it must go to a solicited-node group and
        # must not carry a source link-layer address option.
        solicited = ipv6.dst == ndp.solicited_node_address(ns.target)
        return not solicited or ns.source_link_layer_address is not None
    return False


def decide_ndp(frame: bytes, iface: Interface, owned: Ownership) -> Reply | DropReason:
    """Answer a Neighbor Solicitation for an owned IPv6 address with this interface's MAC.

    The advertisement is unicast to the solicitor (RFC 4861 7.2.4), from the interface's
    link-local address as upstream does, with Solicited set and Override clear (upstream
    keeps Override for its unsolicited takeover announcements). Raises ValueError if
    ``iface`` has no link-local address: upstream runs no NDP responder there.
    """
    if iface.link_local is None:
        raise ValueError(f"interface {iface.name} has no IPv6 link-local address")
    try:
        header, payload = decode_ethernet(frame)
        if header.ethertype != ETHERTYPE_IPV6:
            return DropReason.WRONG_PROTOCOL
        ipv6, _ = ndp.decode_ipv6(payload)
        if ipv6.next_header != ndp.NEXT_HEADER_ICMPV6:
            return DropReason.WRONG_PROTOCOL
        decoded = ndp.decode_ndp_frame(frame)
    except FrameError:
        return DropReason.MALFORMED
    if header.src == iface.mac:
        return DropReason.OWN_FRAME
    ns = decoded.message
    if not isinstance(ns, ndp.NeighborSolicitation):
        return DropReason.MESSAGE_TYPE
    if _ns_invalid(decoded, ns):
        return DropReason.INVALID
    # Upstream answers only solicitations that say where to send the answer; this also
    # skips duplicate address detection probes, which have none (RFC 4862 5.4.2).
    solicitor_mac = ns.source_link_layer_address
    if solicitor_mac is None:
        return DropReason.NO_SOURCE_LL
    # RFC 2464 7: a frame for an IPv6 multicast group goes to that group's MAC; a
    # unicast solicitation (neighbour unreachability detection) goes to our MAC.
    expected = ndp.multicast_mac(ipv6.dst) if ipv6.dst.is_multicast else iface.mac
    if header.dst != expected:
        return DropReason.ETHERNET_DESTINATION
    reason = owned.check(ns.target, iface.name)
    if reason is not None:
        return reason
    # Sourced from the service IP itself, as Linux answers for its own addresses. Upstream
    # uses the link-local address; kernels accept both, but ndisc6 (and other tools that
    # match the reply to the question) only accept a reply from the address asked about.
    reply = ndp.advertisement_frame(
        src_mac=iface.mac,
        src_ip=ns.target,
        dst_mac=solicitor_mac,
        dst_ip=ipv6.src,
        target=ns.target,
        solicited=True,
        override=False,
    )
    return Reply(reply, ns.target)


def gratuitous_frames(iface: Interface, ip: IPAddress) -> tuple[bytes, ...]:
    """One round of takeover announcements for ``ip`` on ``iface``.

    IPv4: the gratuitous ARP request and reply (upstream sends both, see
    :func:`metallb.codec.arp.gratuitous_frames`). IPv6: one unsolicited NA to all-nodes
    with Override set.
    """
    if isinstance(ip, IPv4Address):
        return arp.gratuitous_frames(iface.mac, ip)
    if iface.link_local is None:
        raise ValueError(f"interface {iface.name} has no IPv6 link-local address")
    return (ndp.unsolicited_advertisement_frame(iface.mac, iface.link_local, ip),)


@dataclass
class GratuitousSchedule:
    """When to send takeover bursts, driven by the caller's clock (monotonic seconds).

    Mirrors upstream's spam loop: a newly announced IP is announced at once; every IP
    is then announced on a shared tick every :data:`GRATUITOUS_INTERVAL_SECONDS` until
    :data:`GRATUITOUS_DURATION_SECONDS` after its last (re)announcement.
    """

    _until: dict[IPAddress, float] = field(default_factory=dict)
    next_tick: float | None = None

    def announce(self, ip: IPAddress, now: float) -> bool:
        """Record a (re)announcement; True if a round must be sent right away."""
        new = ip not in self._until
        if not self._until:
            # Upstream resets its shared ticker when the first IP enters an empty table.
            self.next_tick = now + GRATUITOUS_INTERVAL_SECONDS
        self._until[ip] = now + GRATUITOUS_DURATION_SECONDS
        return new

    def tick(self, now: float) -> tuple[IPAddress, ...]:
        """The IPs due a round at tick time ``now``; expired IPs are forgotten."""
        for ip in [ip for ip, until in self._until.items() if now > until]:
            del self._until[ip]
        due = tuple(self._until)
        self.next_tick = now + GRATUITOUS_INTERVAL_SECONDS if due else None
        return due

    def forget(self, ips: Iterable[IPAddress]) -> None:
        """Stop announcing ``ips`` (the node no longer owns them)."""
        for ip in ips:
            self._until.pop(ip, None)

    @property
    def active(self) -> frozenset[IPAddress]:
        """The IPs still inside their announcement window."""
        return frozenset(self._until)
