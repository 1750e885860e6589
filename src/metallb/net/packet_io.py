"""Frame I/O for one responder: an AF_PACKET socket on one interface, behind a small port.

:class:`FrameIO` is everything a responder does with the link: receive a frame, send a
frame, join and leave link-layer multicast groups, close. :class:`PacketSocketIO` is the
real one; tests of the responder loop substitute a socketpair (the way upstream's
``arp_test.go`` uses UDP on localhost), so the loop is exercised without privileges.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Protocol

from metallb.codec.ethernet import MacAddress
from metallb.net import bpf

# <linux/if_packet.h>
SOL_PACKET = getattr(socket, "SOL_PACKET", 263)
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_MR_MULTICAST = 0
_MREQ = struct.Struct("=iHH8s")  # struct packet_mreq
# The largest frame a responder could be handed; anything bigger is not ARP or an NS.
RECV_BYTES = 65535


class FrameIO(Protocol):
    """What a responder needs from the link."""

    async def recv(self) -> bytes:
        """The next frame the kernel passed to us (after the BPF filter)."""
        ...

    def send(self, frame: bytes) -> None:
        """Transmit ``frame`` as is; raises OSError if the kernel refuses it."""
        ...

    def join(self, mac: MacAddress) -> None:
        """Receive frames sent to the multicast ``mac`` on this interface."""
        ...

    def leave(self, mac: MacAddress) -> None:
        """Undo :meth:`join`."""
        ...

    def close(self) -> None: ...


class PacketSocketIO:
    """A non-blocking ``AF_PACKET``/``SOCK_RAW`` socket bound to one interface.

    The socket is created with protocol 0 (it receives nothing), the filter is attached,
    and only then is it bound to the interface and EtherType: frames arriving between
    ``socket()`` and ``SO_ATTACH_FILTER`` would otherwise be queued unfiltered.
    """

    def __init__(self, sock: socket.socket, ifindex: int) -> None:
        self.sock = sock
        self.ifindex = ifindex

    @classmethod
    def open(
        cls, ifname: str, ifindex: int, ethertype: int, program: tuple[bpf.Insn, ...]
    ) -> PacketSocketIO:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            bpf.attach(sock, program)
            sock.bind((ifname, ethertype))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return cls(sock, ifindex)

    async def recv(self) -> bytes:
        return await asyncio.get_running_loop().sock_recv(self.sock, RECV_BYTES)

    def send(self, frame: bytes) -> None:
        # A packet socket hands the frame to the driver queue and does not block in
        # practice; if the queue is full the kernel says so (ENOBUFS/EAGAIN) and the
        # caller counts the loss rather than waiting: a late ARP reply is worthless.
        self.sock.send(frame)

    def _membership(self, option: int, mac: MacAddress) -> None:
        mreq = _MREQ.pack(self.ifindex, PACKET_MR_MULTICAST, 6, mac.octets)
        self.sock.setsockopt(SOL_PACKET, option, mreq)

    def join(self, mac: MacAddress) -> None:
        # The kernel reference-counts memberships per socket and drops them on close.
        self._membership(PACKET_ADD_MEMBERSHIP, mac)

    def leave(self, mac: MacAddress) -> None:
        self._membership(PACKET_DROP_MEMBERSHIP, mac)

    def close(self) -> None:
        self.sock.close()
