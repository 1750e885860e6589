"""The TCP side of a session: one outbound connection with BGP's socket options.

MetalLB's native speaker only dials out (upstream's internal/bgp/native), so this module opens a
socket, applies TCP-MD5 (RFC 2385), the TTL rule of RFC 4271 eBGP (1 unless
``ebgpMultiHop``) and the source address, connects, and hands asyncio streams to the
session together with the local addresses it needs for NEXT_HOP.

Sockets belong to the network namespace of the process that creates them, so a
session always runs in the namespace of the node it speaks for.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Protocol

from pyroute2 import AsyncIPRoute

from metallb.config.addresses import IPAddress
from metallb.net.bgp.options import PeerOptions

log = logging.getLogger(__name__)

# linux/tcp.h: TCP_MD5SIG and struct tcp_md5sig { struct sockaddr_storage tcpm_addr;
# u8 tcpm_flags; u8 tcpm_prefixlen; u16 tcpm_keylen; int tcpm_ifindex; u8 tcpm_key[80]; }
TCP_MD5SIG = 14
_SOCKADDR_STORAGE = 128
_MD5_KEY_MAX = 80
# RFC 4271 leaves TTL to implementations; directly connected eBGP uses 1 (so a spoofed
# peer more than one hop away cannot reach us), multihop the maximum.
TTL_DIRECT = 1
TTL_MULTIHOP = 255


@dataclass
class Connection:
    """An established TCP connection and what the session needs to know about it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    local_address: IPAddress
    local_v6: IPv6Address | None = None  # next hop for IPv6 routes
    local_v4: IPv4Address | None = None  # next hop for IPv4 routes, if not local_address


class Connector(Protocol):
    """Opens the connection for a session; unit tests pass one backed by a socketpair."""

    async def __call__(self, options: PeerOptions) -> Connection: ...


def md5sig(peer: IPAddress, key: bytes) -> bytes:
    """The ``struct tcp_md5sig`` that keys TCP-MD5 on ``peer`` (RFC 2385)."""
    if len(key) > _MD5_KEY_MAX:
        raise ValueError("TCP-MD5 key longer than 80 bytes")
    if isinstance(peer, IPv4Address):
        addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0) + peer.packed
    else:
        addr = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", 0, 0) + peer.packed
        addr += struct.pack("=I", 0)  # sin6_scope_id
    addr = addr.ljust(_SOCKADDR_STORAGE, b"\0")
    return addr + struct.pack("=BBHi", 0, 0, len(key), 0) + key.ljust(_MD5_KEY_MAX, b"\0")


def _make_socket(options: PeerOptions) -> socket.socket:
    peer = options.peer_address
    family = socket.AF_INET if peer.version == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        # KEEPALIVEs are small and time-critical: do not let Nagle hold them back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if options.password:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(peer, options.password.encode()))
        if not options.ibgp:
            ttl = TTL_MULTIHOP if options.ebgp_multihop else TTL_DIRECT
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        if options.source_address is not None:
            sock.bind((str(options.source_address), 0))
    except BaseException:
        sock.close()
        raise
    return sock


async def address_near(local: IPAddress, version: int) -> IPAddress | None:
    """A global address of IP ``version`` on the interface that holds ``local``: the
    next hop for routes of the other family than the session's transport (RFC 4760
    section 3 needs a next hop of the NLRI's family)."""
    family = {4: socket.AF_INET, 6: socket.AF_INET6}
    async with AsyncIPRoute() as ipr:
        index = None
        async for msg in await ipr.get_addr(family=family[local.version]):
            if msg.get("IFA_ADDRESS") == str(local):
                index = msg["index"]
        if index is None:
            return None
        found: IPAddress | None = None
        async for msg in await ipr.get_addr(family=family[version], index=index):
            addr = ip_address(msg.get("IFA_ADDRESS"))
            if found is None and not (addr.is_link_local or addr.is_loopback):
                found = addr
    return found


async def tcp_connect(options: PeerOptions) -> Connection:
    """Dial the peer with every socket option applied before the SYN leaves."""
    loop = asyncio.get_running_loop()
    sock = _make_socket(options)
    try:
        await loop.sock_connect(sock, (str(options.peer_address), options.peer_port))
        reader, writer = await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
    local = ip_address(writer.get_extra_info("sockname")[0])
    other: IPAddress | None = None
    configured = options.next_hop_v6 if local.version == 4 else options.next_hop_v4
    if configured is None:
        try:
            other = await address_near(local, 10 - local.version)
        except OSError as err:  # netlink refused: those routes wait for a next hop
            log.warning("peer %s: no next hop for the other family: %s", options.name, err)
    v4 = local if isinstance(local, IPv4Address) else options.next_hop_v4
    v6 = local if isinstance(local, IPv6Address) else options.next_hop_v6
    if isinstance(other, IPv4Address):
        v4 = other
    if isinstance(other, IPv6Address):
        v6 = other
    return Connection(reader, writer, local, v6, v4)
