"""hashicorp/memberlist v0.5.1's wire format, as pure functions on bytes.

Upstream MetalLB's speakers find each other with hashicorp/memberlist
(``internal/speakerlist/speakerlist.go``); speaking its format lets our speakers and
upstream's form one membership. Modules: :mod:`.msgpack` (the subset of MessagePack
go-msgpack writes), :mod:`.messages` (the message structs), :mod:`.lzw` (Go's LZW),
:mod:`.packet` (label, CRC, compound and compression framing), :mod:`.errors`.
Encryption is the speaker's (:mod:`metallb.membership.crypto`): it needs the key.
"""

from metallb.codec.memberlist.errors import DropReason, WireError
from metallb.codec.memberlist.messages import (
    VSN,
    Ack,
    Alive,
    Dead,
    ErrResp,
    HostPort,
    IndirectPing,
    Message,
    MsgType,
    Nack,
    NodeState,
    Ping,
    PushNode,
    PushPull,
    Suspect,
    User,
    encode,
)
from metallb.codec.memberlist.packet import (
    decode_packet,
    decode_stream,
    encode_packet,
    encode_stream,
    strip_label,
)

__all__ = [
    "VSN",
    "Ack",
    "Alive",
    "Dead",
    "DropReason",
    "ErrResp",
    "HostPort",
    "IndirectPing",
    "Message",
    "MsgType",
    "Nack",
    "NodeState",
    "Ping",
    "PushNode",
    "PushPull",
    "Suspect",
    "User",
    "WireError",
    "decode_packet",
    "decode_stream",
    "encode",
    "encode_packet",
    "encode_stream",
    "strip_label",
]
