"""memberlist's messages: one type byte, then a msgpack-encoded Go struct. Pure.

The structs, their field names and Go types follow ``net.go`` of hashicorp/memberlist
v0.5.1 (``ping``, ``indirectPingReq``, ``ackResp``, ``nackResp``, ``errResp``,
``suspect``, ``alive``, ``dead``, ``pushPullHeader``, ``pushNodeState``, ``compress``)
and the type numbers its ``messageType`` constants. Addresses are raw IP bytes (4 for
IPv4, as Go's listener reports them, 16 for IPv6); ``Vsn`` is a ``[]uint8`` and so goes
as a byte string: ``[PMin, PMax, PCur, DMin, DMax, DCur]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, ip_address

from metallb.codec.memberlist import msgpack as mp
from metallb.codec.memberlist.errors import WireError


class MsgType(IntEnum):
    PING = 0
    INDIRECT_PING = 1
    ACK = 2
    SUSPECT = 3
    ALIVE = 4
    DEAD = 5
    PUSH_PULL = 6
    COMPOUND = 7
    USER = 8
    COMPRESS = 9
    ENCRYPT = 10
    NACK = 11
    HAS_CRC = 12
    ERR = 13
    HAS_LABEL = 244


class NodeState(IntEnum):
    """``NodeStateType`` of state.go, as carried in a push-pull."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


# Protocol 1..5, speaking 2 (DefaultLANConfig's ProtocolVersion), no delegate: 0, 0, 0.
VSN = bytes([1, 5, 2, 0, 0, 0])

# A (host, port) pair: an IP address in text form and a UDP/TCP port.
HostPort = tuple[str, int]


def pack_ip(host: str) -> bytes:
    return ip_address(host).packed


def unpack_ip(data: bytes, field: str) -> str:
    ip: IPv4Address | IPv6Address
    if len(data) == 4:
        ip = IPv4Address(data)
    elif len(data) == 16:
        ip = IPv6Address(data)
        if ip.ipv4_mapped is not None:  # Go's net.IP prints a mapped address as IPv4
            ip = ip.ipv4_mapped
    else:
        raise WireError(f"{field}: an IP address of {len(data)} bytes")
    return str(ip)


def _source(addr: bytes, port: int, node: str) -> tuple[HostPort | None, str]:
    if addr and port:
        return (unpack_ip(addr, "SourceAddr"), port), node
    return None, node


def _source_fields(source: HostPort | None, node: str) -> list[tuple[str, bytes]]:
    # omitempty: Go leaves out a zero SourceAddr, SourcePort and SourceNode.
    out: list[tuple[str, bytes]] = []
    if source is not None:
        out += [("SourceAddr", mp.raw(pack_ip(source[0]))), ("SourcePort", mp.uint(source[1]))]
    if node:
        out.append(("SourceNode", mp.text(node)))
    return out


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int
    node: str  # the member this ping is for ("" for any)
    source: HostPort | None = None  # where to send the ack (else: the packet's source)
    source_node: str = ""


@dataclass(frozen=True, slots=True)
class IndirectPing:
    seq: int
    target: HostPort
    node: str
    nack: bool
    source: HostPort | None = None
    source_node: str = ""


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class Nack:
    seq: int


@dataclass(frozen=True, slots=True)
class ErrResp:
    error: str


@dataclass(frozen=True, slots=True)
class Suspect:
    incarnation: int
    node: str
    sender: str  # Go's From: who suspects


@dataclass(frozen=True, slots=True)
class Alive:
    incarnation: int
    node: str
    address: HostPort
    meta: bytes = b""
    vsn: bytes = VSN


@dataclass(frozen=True, slots=True)
class Dead:
    incarnation: int
    node: str
    sender: str  # Go's From; equal to node: the member left


@dataclass(frozen=True, slots=True)
class PushNode:
    name: str
    address: HostPort
    incarnation: int
    state: NodeState
    meta: bytes = b""
    vsn: bytes = VSN


@dataclass(frozen=True, slots=True)
class PushPull:
    join: bool
    nodes: tuple[PushNode, ...]
    user_state: bytes = b""


@dataclass(frozen=True, slots=True)
class User:
    """A delegate's message: carried, never interpreted (upstream's speaker has none)."""

    data: bytes


Message = Ping | IndirectPing | Ack | Nack | ErrResp | Suspect | Alive | Dead | PushPull | User


def _vsn(vsn: bytes) -> bytes:
    if len(vsn) != 6:
        raise ValueError("Vsn is 6 bytes")
    return mp.raw(vsn)


def _node_fields(n: PushNode) -> bytes:
    return mp.struct_map(
        [
            ("Name", mp.text(n.name)),
            ("Addr", mp.raw(pack_ip(n.address[0]))),
            ("Port", mp.uint(n.address[1])),
            ("Meta", mp.raw(n.meta or None)),
            ("Incarnation", mp.uint(n.incarnation)),
            ("State", mp.sint(n.state)),
            ("Vsn", _vsn(n.vsn)),
        ]
    )


def encode(m: Message) -> bytes:
    """One message with its type byte, exactly as memberlist's ``encode`` writes it."""
    match m:
        case Ping(seq, node, source, source_node):
            fields = [("SeqNo", mp.uint(seq)), ("Node", mp.text(node))]
            return bytes([MsgType.PING]) + mp.struct_map(
                fields + _source_fields(source, source_node)
            )
        case IndirectPing(seq, target, node, nack, source, source_node):
            fields = [
                ("SeqNo", mp.uint(seq)),
                ("Target", mp.raw(pack_ip(target[0]))),
                ("Port", mp.uint(target[1])),
                ("Node", mp.text(node)),
                ("Nack", mp.boolean(nack)),
            ]
            return bytes([MsgType.INDIRECT_PING]) + mp.struct_map(
                fields + _source_fields(source, source_node)
            )
        case Ack(seq, payload):
            fields = [("SeqNo", mp.uint(seq)), ("Payload", mp.raw(payload or None))]
            return bytes([MsgType.ACK]) + mp.struct_map(fields)
        case Nack(seq):
            return bytes([MsgType.NACK]) + mp.struct_map([("SeqNo", mp.uint(seq))])
        case ErrResp(error):
            return bytes([MsgType.ERR]) + mp.struct_map([("Error", mp.text(error))])
        case Suspect(inc, node, sender) | Dead(inc, node, sender):
            kind = MsgType.SUSPECT if isinstance(m, Suspect) else MsgType.DEAD
            fields = [("Incarnation", mp.uint(inc)), ("Node", mp.text(node))]
            return bytes([kind]) + mp.struct_map([*fields, ("From", mp.text(sender))])
        case Alive(inc, node, address, meta, vsn):
            fields = [
                ("Incarnation", mp.uint(inc)),
                ("Node", mp.text(node)),
                ("Addr", mp.raw(pack_ip(address[0]))),
                ("Port", mp.uint(address[1])),
                ("Meta", mp.raw(meta or None)),
                ("Vsn", _vsn(vsn)),
            ]
            return bytes([MsgType.ALIVE]) + mp.struct_map(fields)
        case PushPull(join, nodes, user_state):
            header = mp.struct_map(
                [
                    ("Nodes", mp.sint(len(nodes))),
                    ("UserStateLen", mp.sint(len(user_state))),
                    ("Join", mp.boolean(join)),
                ]
            )
            body = b"".join(_node_fields(n) for n in nodes)
            return bytes([MsgType.PUSH_PULL]) + header + body + user_state
        case User(data):
            return bytes([MsgType.USER]) + data
    raise TypeError(f"not a memberlist message: {m!r}")


def _host_port(f: mp.Fields, addr: str, port: str) -> HostPort:
    return (unpack_ip(f.raw(addr), addr), f.uint(port, 16))


def _vsn_field(f: mp.Fields) -> bytes:
    vsn = f.raw("Vsn")
    if not vsn:
        return VSN  # a peer older than protocol 1 sends none; Go keeps its defaults
    if len(vsn) != 6 or vsn[0] == 0 or vsn[1] == 0 or vsn[0] > vsn[1]:
        raise WireError(f"Vsn {vsn.hex()} is not a valid version range")
    return vsn


def _push_node(f: mp.Fields) -> PushNode:
    state = f.sint("State")
    if state not in NodeState._value2member_map_:
        raise WireError(f"pushNodeState: State {state}")
    return PushNode(
        f.text("Name"),
        _host_port(f, "Addr", "Port"),
        f.uint("Incarnation", 32),
        NodeState(state),
        f.raw("Meta"),
        _vsn_field(f),
    )


def _push_pull(r: mp.Reader) -> PushPull:
    header = r.struct()
    count, user_len = header.sint("Nodes"), header.sint("UserStateLen")
    if count < 0 or user_len < 0 or count > len(r.data):
        raise WireError(f"pushPullHeader: Nodes {count}, UserStateLen {user_len}")
    nodes = tuple(_push_node(r.struct()) for _ in range(count))
    return PushPull(header.boolean("Join"), nodes, r.take(user_len))


def decode(kind: int, body: bytes) -> Message:
    """The message of type ``kind`` from ``body`` (after the type byte).

    Framing types (compound, compress, crc, encrypt, label) are :mod:`.packet`'s.
    Trailing bytes after the struct are ignored, as Go's decoder does.
    """
    r = mp.Reader(body)
    match kind:
        case MsgType.PING:
            f = r.struct()
            source, node = _source(
                f.raw("SourceAddr"), f.uint("SourcePort", 16), f.text("SourceNode")
            )
            return Ping(f.uint("SeqNo", 32), f.text("Node"), source, node)
        case MsgType.INDIRECT_PING:
            f = r.struct()
            source, node = _source(
                f.raw("SourceAddr"), f.uint("SourcePort", 16), f.text("SourceNode")
            )
            target = _host_port(f, "Target", "Port")
            return IndirectPing(
                f.uint("SeqNo", 32), target, f.text("Node"), f.boolean("Nack"), source, node
            )
        case MsgType.ACK:
            f = r.struct()
            return Ack(f.uint("SeqNo", 32), f.raw("Payload"))
        case MsgType.NACK:
            return Nack(r.struct().uint("SeqNo", 32))
        case MsgType.ERR:
            return ErrResp(r.struct().text("Error"))
        case MsgType.SUSPECT | MsgType.DEAD:
            f = r.struct()
            cls = Suspect if kind == MsgType.SUSPECT else Dead
            return cls(f.uint("Incarnation", 32), f.text("Node"), f.text("From"))
        case MsgType.ALIVE:
            f = r.struct()
            return Alive(
                f.uint("Incarnation", 32),
                f.text("Node"),
                _host_port(f, "Addr", "Port"),
                f.raw("Meta"),
                _vsn_field(f),
            )
        case MsgType.PUSH_PULL:
            return _push_pull(r)
        case MsgType.USER:
            return User(body)
    raise WireError(f"message type {kind} is not a memberlist message")
