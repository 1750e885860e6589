"""Which interfaces get a responder: netlink discovery and upstream's eligibility rules.

Upstream (``internal/layer2/announcer.go``, rescanning every 10 s) answers on every
interface whose name does not match the exclusion list, that is administratively up,
is not enslaved to a bridge or bond (the bridge itself answers), and does not have
NOARP; ARP where the interface has BROADCAST, NDP where it has an IPv6 link-local
address. :func:`eligible` is that rule as a pure function of :class:`Link` values;
:func:`discover` reads the links of the calling process's network namespace over
netlink with pyroute2's ``AsyncIPRoute`` (the variant that works inside an event loop);
:func:`changes` wakes whoever awaits it on every link or IPv6 address event.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address

from pyroute2 import AsyncIPRoute

from metallb.codec.ethernet import MacAddress
from metallb.net.responder import Kind

# Upstream's default exclusion list (speaker flag/ConfigMap ``interfaceExcludeRegexp``
# defaults): container and virtual plumbing that must never answer for a service IP.
DEFAULT_EXCLUDE = (
    r"^docker.*",
    r"^cbr.*",
    r"^dummy.*",
    r"^virbr.*",
    r"^lxcbr.*",
    r"^veth.*",
    r"^lo$",
    r"^cali.*",
    r"^tunl.*",
    r"^flannel.*",
    r"^kube-ipvs.*",
    r"^cni.*",
    r"^nodelocaldns.*",
    r"^lxc.*",
)

# <linux/rtnetlink.h> multicast groups: link changes (up/down, flags, new, deleted) and
# IPv6 address changes (a link-local address decides whether NDP runs on a link).
RTMGRP_LINK = 0x1
RTMGRP_IPV6_IFADDR = 0x100
SETTLE = 0.05  # seconds to let a burst of events (one `ip link set up` sends several) end

# <linux/if.h>
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_NOARP = 0x80


@dataclass(frozen=True, slots=True)
class Link:
    """What the eligibility rule and a responder need to know about one interface."""

    name: str
    index: int
    mac: MacAddress | None
    flags: int
    master: int | None = None
    link_local: IPv6Address | None = None


def compile_exclude(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Compile exclusion regexes; raises ``re.error`` on a bad pattern."""
    return tuple(re.compile(p) for p in patterns)


def excluded(name: str, exclude: Sequence[re.Pattern[str]]) -> bool:
    """True if ``name`` matches any pattern (``re.search`` semantics, as Go's MatchString)."""
    return any(p.search(name) for p in exclude)


def eligible(link: Link, exclude: Sequence[re.Pattern[str]]) -> frozenset[Kind]:
    """The responders ``link`` should run, empty if none."""
    if excluded(link.name, exclude) or link.mac is None:
        return frozenset()
    if not link.flags & IFF_UP or link.flags & IFF_NOARP or link.master is not None:
        return frozenset()
    kinds = set()
    if link.flags & IFF_BROADCAST:
        kinds.add(Kind.ARP)
    if link.link_local is not None:
        kinds.add(Kind.NDP)
    return frozenset(kinds)


def _mac(text: str | None) -> MacAddress | None:
    if not text:
        return None
    try:
        mac = MacAddress.parse(text)
    except ValueError:
        return None  # not Ethernet (a tunnel, say): no responder there
    return None if mac.octets == bytes(6) else mac


async def discover() -> list[Link]:
    """The links of this network namespace with their first link-local IPv6 address."""
    async with AsyncIPRoute() as ipr:
        link_msgs = [msg async for msg in await ipr.link("dump")]
        addr_msgs = [msg async for msg in await ipr.addr("dump", family=socket.AF_INET6)]
    link_local: dict[int, IPv6Address] = {}
    for msg in addr_msgs:
        text = msg.get("address")
        if not text:
            continue
        ip = IPv6Address(text)
        # Upstream keeps the first link-local address; responders send from it over a
        # packet socket, so a still-tentative address (RFC 4862 5.4) does not block them.
        if ip.is_link_local and msg["index"] not in link_local:
            link_local[msg["index"]] = ip
    links = []
    for msg in link_msgs:
        index = msg["index"]
        links.append(
            Link(
                name=msg.get("ifname"),
                index=index,
                mac=_mac(msg.get("address")),
                flags=msg["flags"],
                master=msg.get("master") or None,
                link_local=link_local.get(index),
            )
        )
    return links


async def changes() -> AsyncIterator[None]:
    """Yield once per burst of link or IPv6-address events in this network namespace.

    The messages themselves are not parsed: a rescan (:func:`discover`) reads the truth,
    and an overflowed socket (``ENOBUFS``: events were lost) is just another reason to
    rescan. Waiting :data:`SETTLE` seconds and draining what came meanwhile turns the
    several messages of one change into one wake-up.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 0)
    try:
        sock.bind((0, RTMGRP_LINK | RTMGRP_IPV6_IFADDR))
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.sock_recv(sock, 65536)
            except OSError as err:
                if err.errno != errno.ENOBUFS:
                    raise
            await asyncio.sleep(SETTLE)
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while sock.recv(65536):
                    pass
            yield None
    finally:
        sock.close()
