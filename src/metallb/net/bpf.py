"""Classic BPF socket filters for the Layer 2 responders (Linux ``SO_ATTACH_FILTER``).

A responder's AF_PACKET socket would otherwise wake Python for every ARP frame (replies,
gratuitous announcements from other nodes) or every IPv6 frame on the link (all of its
traffic). The kernel runs these filters before queueing a frame, so only what a
responder can answer reaches user space:

ARP (:data:`ARP_REQUESTS`; jump targets shown as instruction numbers)::

    0: ld  #pkttype                 ; skb->pkt_type, a Linux ancillary load
    1: jeq #PACKET_OUTGOING  jt 7   ; packet sockets also see our own transmissions
    2: ldh [12]                     ; Ethernet type
    3: jeq #0x0806           jf 7   ; ARP
    4: ldh [20]                     ; ARP operation (14 + 6)
    5: jeq #1                jf 7   ; request
    6: ret #ACCEPT_BYTES            ; the whole frame
    7: ret #0                       ; drop

NDP (:data:`NEIGHBOR_SOLICITATIONS`): not outgoing, Ethernet type 0x86dd, IPv6 next
header (byte 20 = 14 + 6) 58 (ICMPv6), ICMPv6 type (byte 54 = 14 + 40) 135. Frames with
IPv6 extension headers before ICMPv6 are dropped; RFC 4861 messages carry none.

The decision functions still check everything (the filter is an optimisation and a
defence against load, not the validator), which keeps them testable without a kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct
from dataclasses import dataclass

# <linux/filter.h> and <linux/bpf_common.h>
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_ABS, BPF_JEQ, BPF_K = 0x20, 0x10, 0x00
SKF_AD_OFF = -0x1000
SKF_AD_PKTTYPE = 4
PACKET_OUTGOING = 4  # <linux/if_packet.h>
SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
SO_GET_FILTER = SO_ATTACH_FILTER  # same option number, read side
# Keep whole frames: the largest Ethernet frame fits easily; libpcap uses the same value.
ACCEPT_BYTES = 0x40000

_INSN = struct.Struct("=HBBI")


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct sock_filter``: opcode, jump-if-true, jump-if-false, constant."""

    code: int
    jt: int
    jf: int
    k: int

    def pack(self) -> bytes:
        return _INSN.pack(self.code, self.jt, self.jf, self.k & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class Check:
    """Load ``size`` bytes at ``offset`` and require them to equal (or differ from) ``value``."""

    size: int  # BPF_W, BPF_H or BPF_B
    offset: int
    value: int
    equal: bool = True


def _program(checks: tuple[Check, ...]) -> tuple[Insn, ...]:
    """A load and a conditional jump per check, then "accept" and "drop".

    A failed check jumps straight to the final drop; jumps count instructions after the
    jump itself. The jump distances are computed, not hand-counted, so checks can be
    added without breaking the program.
    """
    drop = 2 * len(checks) + 1
    insns: list[Insn] = []
    for check in checks:
        insns.append(Insn(BPF_LD | check.size | BPF_ABS, 0, 0, check.offset))
        skip = drop - (len(insns) + 1)
        jt, jf = (0, skip) if check.equal else (skip, 0)
        insns.append(Insn(BPF_JMP | BPF_JEQ | BPF_K, jt, jf, check.value))
    insns.append(Insn(BPF_RET | BPF_K, 0, 0, ACCEPT_BYTES))
    insns.append(Insn(BPF_RET | BPF_K, 0, 0, 0))
    return tuple(insns)


_NOT_OUTGOING = Check(BPF_W, SKF_AD_OFF + SKF_AD_PKTTYPE, PACKET_OUTGOING, equal=False)

ARP_REQUESTS = _program(
    (
        _NOT_OUTGOING,
        Check(BPF_H, 12, 0x0806),  # EtherType ARP
        Check(BPF_H, 20, 1),  # ar$op = request (RFC 826)
    )
)

NEIGHBOR_SOLICITATIONS = _program(
    (
        _NOT_OUTGOING,
        Check(BPF_H, 12, 0x86DD),  # EtherType IPv6
        Check(BPF_B, 20, 58),  # IPv6 next header = ICMPv6
        Check(BPF_B, 54, 135),  # ICMPv6 type = Neighbor Solicitation (RFC 4861 4.3)
    )
)


def pack(program: tuple[Insn, ...]) -> bytes:
    """The program as the kernel stores it: an array of ``struct sock_filter``."""
    return b"".join(insn.pack() for insn in program)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def attach(sock: socket.socket, program: tuple[Insn, ...]) -> None:
    """Attach ``program`` to ``sock``; the kernel copies it, so the buffer may go after."""
    code = ctypes.create_string_buffer(pack(program))
    fprog = _SockFprog(len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def attached(sock: socket.socket, max_insns: int = 64) -> bytes:
    """The filter attached to ``sock`` (``SO_GET_FILTER``), as :func:`pack` would give it.

    Python's ``getsockopt`` cannot read it: the kernel returns the instruction count as
    the option length, so the bytes are read through libc.
    """
    buf = ctypes.create_string_buffer(max_insns * _INSN.size)
    # The kernel reads and writes this length in instructions, not bytes.
    length = ctypes.c_uint(max_insns)
    rc = _libc.getsockopt(
        sock.fileno(), socket.SOL_SOCKET, SO_GET_FILTER, buf, ctypes.byref(length)
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return buf.raw[: length.value * _INSN.size]
