"""The Layer 2 announcer: a declarative announce table, responders, takeover bursts.

The speaker tells the :class:`Announcer` which IPs this node owns and on which
interfaces (``set_owned`` / ``remove``, plain methods: no ``await`` can interleave with
a table update). The announcer keeps:

- the frozen :class:`~metallb.speaker.layer2_responder.OwnedIPs` table every responder consults
  (it is replaced, never mutated, so a responder always sees one consistent table);
- one :class:`~metallb.net.responder.Responder` per eligible interface and protocol,
  started and stopped by an interface scan that runs on every netlink link or IPv6
  address event (:func:`metallb.net.links.changes`) and every ``scan_interval`` seconds
  (upstream only rescans every 10 s, so a link that flaps between two scans can leave
  the owner mute, or a new interface silent, for up to 10 s);
- the IPv6 solicited-node multicast groups of the owned IPv6 addresses, joined on the
  NDP responders' sockets (RFC 4861 7.2.1: solicitations for an address go to its
  solicited-node group, RFC 4291 2.7.1), and left when the IP goes;
- the gratuitous ARP / unsolicited NA bursts that move clients' neighbour caches on
  takeover, timed by the pure :class:`~metallb.speaker.layer2_responder.GratuitousSchedule`.

Unlike upstream's ``SetBalancer``, calling ``set_owned`` again with the same value is a
no-op and does not extend the burst: the API is declarative, and a reconcile that merely
re-confirms ownership (an endpoint change, say) should not keep a LAN busy. Where
upstream's repeated bursts matter, after membership or Node changes that may end a
split brain, the speaker calls :meth:`Announcer.reannounce`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from types import MappingProxyType, TracebackType
from typing import Self

from metallb.codec import ndp
from metallb.codec.ethernet import ETHERTYPE_ARP, ETHERTYPE_IPV6, MacAddress
from metallb.config.addresses import IPAddress
from metallb.net import bpf, links
from metallb.net.packet_io import FrameIO, PacketSocketIO
from metallb.net.responder import Kind, L2Stats, Responder
from metallb.speaker.layer2_responder import (
    DropReason,
    GratuitousSchedule,
    Interface,
    OwnedIPs,
    gratuitous_frames,
)

log = logging.getLogger(__name__)

DEFAULT_SCAN_INTERVAL = 10.0  # upstream's interface rescan period

Key = tuple[str, Kind]
Discover = Callable[[], Awaitable[list[links.Link]]]
OpenIO = Callable[[links.Link, Kind], FrameIO]
LinkEvents = Callable[[], AsyncIterator[None]]  # yields once per burst of link changes


def open_packet_io(link: links.Link, kind: Kind) -> FrameIO:
    """The real link: a filtered AF_PACKET socket for ``kind`` on ``link``."""
    if kind is Kind.ARP:
        return PacketSocketIO.open(link.name, link.index, ETHERTYPE_ARP, bpf.ARP_REQUESTS)
    return PacketSocketIO.open(link.name, link.index, ETHERTYPE_IPV6, bpf.NEIGHBOR_SOLICITATIONS)


def _identity(link: links.Link) -> tuple[int, MacAddress | None, IPv6Address | None]:
    # Flags such as RUNNING/LOWER_UP flap with carrier; only these need a new socket.
    return link.index, link.mac, link.link_local


class Announcer:
    """Announces owned IPs on this node's eligible interfaces; use ``async with``."""

    def __init__(
        self,
        *,
        exclude: Iterable[str] = links.DEFAULT_EXCLUDE,
        scan_interval: float = DEFAULT_SCAN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        discover: Discover = links.discover,
        open_io: OpenIO = open_packet_io,
        on_change: Callable[[], None] | None = None,
        link_events: LinkEvents | None = links.changes,
    ) -> None:
        self.stats = L2Stats()
        self._exclude = links.compile_exclude(exclude)
        self._scan_interval = scan_interval
        self._clock = clock
        self._discover = discover
        self._open_io = open_io
        self._on_change = on_change
        self._link_events = link_events
        self._scan_lock = asyncio.Lock()  # the event and periodic scans never interleave
        self.scans = 0
        self._entries: dict[IPAddress, frozenset[str] | None] = {}
        self._owned = OwnedIPs()
        self._schedule = GratuitousSchedule()
        self._responders: dict[Key, Responder] = {}
        self._links: dict[Key, links.Link] = {}
        self._interfaces: frozenset[str] = frozenset()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the declarative table (synchronous) ------------------------------------------

    @property
    def owned(self) -> OwnedIPs:
        """The current announce table (a frozen value)."""
        return self._owned

    def check(self, ip: IPAddress, interface: str) -> DropReason | None:
        """The :class:`~metallb.speaker.layer2_responder.Ownership` the responders consult."""
        return self._owned.check(ip, interface)

    def set_owned(self, ip: IPAddress | str, interfaces: Iterable[str] | None = None) -> None:
        """Announce ``ip`` on ``interfaces`` (None: every eligible interface)."""
        addr = ip_address(ip) if isinstance(ip, str) else ip
        allowed = None if interfaces is None else frozenset(interfaces)
        if addr in self._entries and self._entries[addr] == allowed:
            return
        self._entries[addr] = allowed
        self._publish()
        if self._schedule.announce(addr, self._clock()):
            self._send_round(addr)
        self._wake.set()

    def reannounce(self, ip: IPAddress | str) -> None:
        """Confirm ownership of an owned ``ip``: a burst as on takeover (at once if its
        window had ended, else the window is extended), as upstream's ``doSpam`` on every
        ``SetBalancer``. The speaker calls it after membership or Node changes, when two
        nodes may both have announced the IP (a healed partition)."""
        addr = ip_address(ip) if isinstance(ip, str) else ip
        if addr not in self._entries:
            return
        if self._schedule.announce(addr, self._clock()):
            self._send_round(addr)
        self._wake.set()

    def remove(self, ip: IPAddress | str) -> None:
        """Stop announcing ``ip``. As upstream, nothing is sent: the new owner announces."""
        addr = ip_address(ip) if isinstance(ip, str) else ip
        if self._entries.pop(addr, ...) is ...:
            return
        self._schedule.forget((addr,))
        self._publish()

    def _publish(self) -> None:
        self._owned = OwnedIPs(MappingProxyType(dict(self._entries)))
        for (name, kind), responder in self._responders.items():
            if kind is Kind.NDP:
                responder.sync_groups(self._groups_for(name))

    def _groups_for(self, name: str) -> frozenset[MacAddress]:
        return frozenset(
            ndp.multicast_mac(ndp.solicited_node_address(ip))
            for ip in self._entries
            if isinstance(ip, IPv6Address) and self._owned.check(ip, name) is None
        )

    # -- gratuitous announcements -----------------------------------------------------

    def _send_round(self, ip: IPAddress, only: Responder | None = None) -> None:
        kind = Kind.ARP if isinstance(ip, IPv4Address) else Kind.NDP
        for (name, rkind), responder in self._responders.items():
            if rkind is not kind or (only is not None and responder is not only):
                continue
            if self._owned.check(ip, name) is not None:
                continue
            for frame in gratuitous_frames(responder.iface, ip):
                if responder.send(frame):
                    self.stats.gratuitous_sent[ip] += 1

    async def _tick_loop(self) -> None:
        while True:
            self._wake.clear()
            due = self._schedule.next_tick
            if due is None:
                await self._wake.wait()
                continue
            delay = due - self._clock()
            if delay > 0:
                # Woken early by set_owned (which may have moved the next tick): recompute.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            for ip in self._schedule.tick(self._clock()):
                if ip in self._entries:
                    self._send_round(ip)

    # -- responders -------------------------------------------------------------------

    @property
    def responders(self) -> Mapping[Key, Responder]:
        """Running responders by (interface name, protocol)."""
        return MappingProxyType(self._responders)

    async def scan(self) -> None:
        """Reconcile responders with the interfaces that are eligible right now."""
        async with self._scan_lock:
            await self._scan()

    @property
    def interfaces(self) -> frozenset[str]:
        """The node's interfaces at the last scan, excluded ones left out (down ones
        kept), as upstream's ``GetInterfaces``: what an L2Advertisement may name."""
        return self._interfaces

    async def _scan(self) -> None:
        self.scans += 1
        wanted: dict[Key, links.Link] = {}
        found = await self._discover()
        names = frozenset(x.name for x in found if not links.excluded(x.name, self._exclude))
        changed = names != self._interfaces
        self._interfaces = names
        for link in found:
            for kind in links.eligible(link, self._exclude):
                wanted[(link.name, kind)] = link
        for key in list(self._responders):
            now = wanted.get(key)
            # A responder whose socket failed (the link went down) is replaced even if
            # the link is back up by now: a flap shorter than the scan period would
            # otherwise leave the interface without a responder for good.
            stale = not self._responders[key].running
            if now is None or stale or _identity(now) != _identity(self._links[key]):
                changed = True
                await self._stop(key)
        for key, link in wanted.items():
            if key not in self._responders:
                changed = self._start(key, link) or changed
        if changed and self._on_change is not None:
            self._on_change()

    def _start(self, key: Key, link: links.Link) -> bool:
        name, kind = key
        assert link.mac is not None  # eligible() guarantees it
        try:
            io = self._open_io(link, kind)
        except OSError as exc:
            # The interface may have gone between the dump and the bind; next scan retries.
            log.warning("cannot open %s responder on %s: %s", kind, name, exc)
            return False
        iface = Interface(name, link.mac, link.link_local)
        responder = Responder(kind, iface, io, self, self.stats)
        self._responders[key] = responder
        self._links[key] = link
        responder.start()
        if kind is Kind.NDP:
            responder.sync_groups(self._groups_for(name))
        # An interface that (re)appears inside an IP's burst window is told at once, so a
        # link coming back up does not wait for the next tick to move clients' caches.
        for ip in self._schedule.active:
            if ip in self._entries:
                self._send_round(ip, only=responder)
        log.info("%s responder on %s started", kind, name)
        return True

    async def _stop(self, key: Key) -> None:
        responder = self._responders.pop(key)
        self._links.pop(key, None)
        await responder.close()
        log.info("%s responder on %s stopped", key[1], key[0])

    async def _scan_loop(self) -> None:
        while True:
            await asyncio.sleep(self._scan_interval)
            try:
                await self.scan()
            except (OSError, re.error) as exc:
                log.warning("interface scan failed: %s", exc)

    async def _event_loop(self, events: LinkEvents) -> None:
        try:
            async for _ in events():
                try:
                    await self.scan()
                except (OSError, re.error) as exc:
                    log.warning("interface scan failed: %s", exc)
        except OSError as exc:  # no netlink here: the periodic scans still run
            log.warning(
                "no netlink link events (%s): rescanning every %s s only", exc, self._scan_interval
            )

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.scan()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._scan_loop(), name="l2-scan"),
            loop.create_task(self._tick_loop(), name="l2-gratuitous"),
        ]
        if self._link_events is not None:
            self._tasks.append(
                loop.create_task(self._event_loop(self._link_events), name="l2-link-events")
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the loops and every responder (closing their sockets)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for key in list(self._responders):
            await self._stop(key)
