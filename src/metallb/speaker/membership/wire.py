"""Plaintext wire format of membership packets: compact, versioned, struct-based. Pure.

A packet is one datagram (UDP) or one frame (TCP), before encryption (:mod:`.crypto`)::

    u8 version (1) | name sender | u8 count | count x message

    message = u8 kind | body
      PING      1: u32 seq | name target        ack me, if you are `target`
      ACK       2: u32 seq
      PING_REQ  3: u32 seq | name target | addr target   ping `target` for me
      RECORD    4: record                       piggybacked gossip
      PUSH_PULL 5: u8 flags (1 join, 2 reply) | u16 count | count x record   (TCP only)

    record = name | addr | u32 incarnation | u8 state
    name   = u8 length | UTF-8 bytes (1..253: a Kubernetes node name)
    addr   = u8 family (4 or 6) | 4 or 16 bytes | u16 port

All integers are big-endian. The first message of a UDP packet is the protocol message
(ping, ack or ping-req); the RECORDs after it are gossip. A version byte leads so a
future format can be told apart; this decoder refuses other versions.
:func:`decode_packet` raises only :class:`WireError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address

from metallb.speaker.membership.records import Address, Record, State

VERSION = 1
MAX_NAME = 253
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class DropReason(StrEnum):
    """Why a received packet changed nothing; stable names for counters and metrics."""

    AUTH = "auth"  # wrong key, tampered, or not encrypted by a member
    MALFORMED = "malformed"  # authenticated but undecodable (a bug, or a newer peer)
    VERSION = "version"  # an envelope or format version we do not speak
    WRONG_TARGET = "wrongTarget"  # a ping for another member (a stale address)
    UNEXPECTED = "unexpected"  # a valid message on the wrong channel or in a bad place
    LEFT = "left"  # we have left the cluster


class WireError(ValueError):
    """A packet could not be decoded (or opened); ``reason`` says how to count it."""

    def __init__(self, message: str, reason: DropReason = DropReason.MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason


class Kind(IntEnum):
    PING = 1
    ACK = 2
    PING_REQ = 3
    RECORD = 4
    PUSH_PULL = 5


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int
    target: str


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int


@dataclass(frozen=True, slots=True)
class PingReq:
    seq: int
    target: str
    address: Address


@dataclass(frozen=True, slots=True)
class PushPull:
    records: tuple[Record, ...]
    join: bool = False
    reply: bool = False


Message = Ping | Ack | PingReq | Record | PushPull


@dataclass(frozen=True, slots=True)
class Packet:
    sender: str
    messages: tuple[Message, ...]


def _name(name: str) -> bytes:
    raw = name.encode()
    if not 0 < len(raw) <= MAX_NAME:
        raise ValueError(f"member name must be 1..{MAX_NAME} bytes: {name!r}")
    return bytes([len(raw)]) + raw


def _addr(address: Address) -> bytes:
    ip = ip_address(address[0])
    return bytes([ip.version]) + ip.packed + _U16.pack(address[1])


def encode_record(r: Record) -> bytes:
    return _name(r.name) + _addr(r.address) + _U32.pack(r.incarnation) + bytes([r.state])


def encode_message(m: Message) -> bytes:
    match m:
        case Ping(seq, target):
            return bytes([Kind.PING]) + _U32.pack(seq) + _name(target)
        case Ack(seq):
            return bytes([Kind.ACK]) + _U32.pack(seq)
        case PingReq(seq, target, address):
            return bytes([Kind.PING_REQ]) + _U32.pack(seq) + _name(target) + _addr(address)
        case Record():
            return bytes([Kind.RECORD]) + encode_record(m)
        case PushPull(records, join, reply):
            flags = (1 if join else 0) | (2 if reply else 0)
            body = b"".join(encode_record(r) for r in records)
            return bytes([Kind.PUSH_PULL, flags]) + _U16.pack(len(records)) + body


def encode_packet(packet: Packet) -> bytes:
    """Encode a packet; raises ValueError for values the format cannot carry."""
    if len(packet.messages) > 255:
        raise ValueError("at most 255 messages per packet")
    head = bytes([VERSION]) + _name(packet.sender) + bytes([len(packet.messages)])
    return head + b"".join(encode_message(m) for m in packet.messages)


class _Reader:
    """A cursor over a buffer whose reads raise WireError instead of running off the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise WireError(f"truncated at byte {self.pos} (need {n} more)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def name(self) -> str:
        n = self.u8()
        if n == 0:
            raise WireError("empty name")
        try:
            return self.take(n).decode()
        except UnicodeDecodeError as exc:
            raise WireError("name is not UTF-8") from exc

    def addr(self) -> Address:
        family = self.u8()
        ip: IPv4Address | IPv6Address
        if family == 4:
            ip = IPv4Address(self.take(4))
        elif family == 6:
            ip = IPv6Address(self.take(16))
        else:
            raise WireError(f"address family {family}")
        return (str(ip), self.u16())

    def record(self) -> Record:
        name, addr, inc, state = self.name(), self.addr(), self.u32(), self.u8()
        if state > max(State):
            raise WireError(f"member state {state}")
        return Record(name, addr, inc, State(state))


def _message(r: _Reader) -> Message:
    kind = r.u8()
    if kind == Kind.PING:
        return Ping(r.u32(), r.name())
    if kind == Kind.ACK:
        return Ack(r.u32())
    if kind == Kind.PING_REQ:
        return PingReq(r.u32(), r.name(), r.addr())
    if kind == Kind.RECORD:
        return r.record()
    if kind == Kind.PUSH_PULL:
        flags = r.u8()
        if flags & ~3:
            raise WireError(f"push-pull flags {flags:#x}")
        records = tuple(r.record() for _ in range(r.u16()))
        return PushPull(records, join=bool(flags & 1), reply=bool(flags & 2))
    raise WireError(f"message kind {kind}")


def decode_packet(data: bytes) -> Packet:
    """Decode one plaintext packet; raises only :class:`WireError`."""
    r = _Reader(data)
    version = r.u8()
    if version != VERSION:
        raise WireError(f"format version {version}", DropReason.VERSION)
    sender = r.name()
    messages = tuple(_message(r) for _ in range(r.u8()))
    if r.pos != len(data):
        raise WireError(f"{len(data) - r.pos} trailing bytes")
    return Packet(sender, messages)
