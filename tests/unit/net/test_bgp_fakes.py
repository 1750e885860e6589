"""Test doubles for BGP session tests: a peer played by the test over a socketpair (no TCP,
no namespace); the clock advanced by hand is :class:`metallb.k8s.clock.FakeClock`."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv6Address

from metallb.codec.bgp import (
    FULL,
    IPV4_UNICAST,
    IPV6_UNICAST,
    KEEPALIVE,
    FourOctetAS,
    Message,
    Multiprotocol,
    Negotiated,
    Open,
    decode_header,
    decode_message,
    encode_open,
)
from metallb.codec.bgp.header import HEADER_LEN
from metallb.net.bgp import Connection, PeerOptions

READ_TIMEOUT = 2.0
LOCAL_V4 = IPv4Address("192.0.2.10")
LOCAL_V6 = IPv6Address("2001:db8::10")
PEER_ID = IPv4Address("192.0.2.1")


class Peer:
    """The far end of one connection, driven by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_raw(self, within: float = READ_TIMEOUT) -> bytes:
        head = await asyncio.wait_for(self.reader.readexactly(HEADER_LEN), within)
        length = decode_header(head).length
        body = await asyncio.wait_for(self.reader.readexactly(length - HEADER_LEN), within)
        return head + body

    async def read(self, negotiated: Negotiated = FULL, within: float = READ_TIMEOUT) -> Message:
        return decode_message(await self.read_raw(within), negotiated)

    async def nothing(self, within: float = 0.1) -> bool:
        """True if no byte arrives within ``within`` seconds."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), within)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected bytes from the session: {data!r}")

    async def closed(self, within: float = READ_TIMEOUT) -> bool:
        """True once the session closed the connection (EOF)."""
        return await asyncio.wait_for(self.reader.read(), within) == b""

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def open_message(self, asn: int = 64512, hold: int = 90) -> bytes:
        caps = (Multiprotocol(IPV4_UNICAST), Multiprotocol(IPV6_UNICAST), FourOctetAS(asn))
        return encode_open(Open(asn, hold, PEER_ID, caps))

    async def handshake(self, asn: int = 64512, hold: int = 90) -> Open:
        """Read the session's OPEN, answer OPEN + KEEPALIVE, read its KEEPALIVE."""
        theirs = await self.read()
        assert isinstance(theirs, Open)
        self.send(self.open_message(asn, hold) + KEEPALIVE)
        assert await self.read_raw() == KEEPALIVE
        return theirs


class PairConnector:
    """Connects each attempt to a new :class:`Peer` over a socketpair; can refuse."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[Peer] = asyncio.Queue()
        self.attempts = 0
        self.refuse = 0  # how many of the next attempts fail

    async def __call__(self, options: PeerOptions) -> Connection:
        self.attempts += 1
        if self.refuse:
            self.refuse -= 1
            raise ConnectionRefusedError("refused by the test")
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        peer_reader, peer_writer = await asyncio.open_connection(sock=theirs)
        self.peers.put_nowait(Peer(peer_reader, peer_writer))
        return Connection(reader, writer, LOCAL_V4, LOCAL_V6)

    async def next_peer(self, within: float = READ_TIMEOUT) -> Peer:
        return await asyncio.wait_for(self.peers.get(), within)
