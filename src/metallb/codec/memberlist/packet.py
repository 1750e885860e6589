"""Framing around memberlist messages: label, CRC, compound and compression. Pure.

A UDP packet, after decryption (``net.go`` ``ingestPacket`` / ``handleCommand``)::

    [hasCrc(12) | u32 CRC-32 (IEEE) of the rest]      only to nodes with PMax >= 5
    command = compound(7) | u8 n | n x u16 length | the n commands
            | compress(9) | msgpack compress{Algo: 0 (LZW), Buf}   -> a command
            | a message (type byte + msgpack struct, :mod:`.messages`)

A label header (``label.go``: ``hasLabel(244) | u8 size | label``) may precede the
encrypted bytes of a packet or stream; upstream's speaker sets no label, so a labelled
packet belongs to another cluster. All integers are big-endian.

A TCP stream carries one message each way (``readStream``): after decryption its
plaintext is a message, or ``compress(9)`` and a msgpack ``compress`` struct holding
one. A push-pull is its header, the node states and the user state back to back.

Decoders raise only :class:`WireError`.
"""

from __future__ import annotations

import zlib

from metallb.codec.memberlist import lzw
from metallb.codec.memberlist import msgpack as mp
from metallb.codec.memberlist.errors import DropReason, WireError
from metallb.codec.memberlist.messages import Message, MsgType, decode, encode

LZW = 0  # compressionType lzwAlgo
MAX_PARTS = 255  # a compound message counts its parts in one byte
MAX_DECOMPRESSED_PACKET = 1 << 20
MAX_STREAM = 20 * 1024 * 1024  # maxPushStateBytes: Go refuses larger states
_MAX_NESTING = 4  # compress(compound(...)) is the deepest Go sends


def strip_label(data: bytes) -> tuple[str, bytes]:
    """Split off a label header (``label.go``): the label ("" if none) and the rest."""
    if not data or data[0] != MsgType.HAS_LABEL:
        return "", data
    if len(data) < 2 or data[1] == 0 or len(data) < 2 + data[1]:
        # Before decryption nothing is authenticated: bad framing here is like a bad tag.
        raise WireError("label header empty or truncated", DropReason.AUTH)
    label = data[2 : 2 + data[1]].decode(errors="replace")
    return label, data[2 + data[1] :]


def compound(parts: list[bytes]) -> bytes:
    """One compound command of up to 255 encoded commands (``makeCompoundMessage``)."""
    if not 0 < len(parts) <= MAX_PARTS:
        raise ValueError(f"a compound message holds 1..{MAX_PARTS} parts")
    lengths = b"".join(len(p).to_bytes(2) for p in parts)
    return bytes([MsgType.COMPOUND, len(parts)]) + lengths + b"".join(parts)


def with_crc(payload: bytes) -> bytes:
    return bytes([MsgType.HAS_CRC]) + zlib.crc32(payload).to_bytes(4) + payload


def encode_packet(parts: list[bytes], *, crc: bool) -> bytes:
    """A UDP payload (before encryption) of one or more encoded messages."""
    payload = parts[0] if len(parts) == 1 else compound(parts)
    return with_crc(payload) if crc else payload


def compressed(payload: bytes) -> bytes:
    """``payload`` as a compress message (``compressPayload``)."""
    body = mp.struct_map([("Algo", mp.uint(LZW)), ("Buf", mp.raw(lzw.compress(payload)))])
    return bytes([MsgType.COMPRESS]) + body


def _decompress(body: bytes, limit: int) -> bytes:
    f = mp.Reader(body).struct()
    algo = f.uint("Algo", 8)
    if algo != LZW:
        raise WireError(f"compression algorithm {algo}", DropReason.VERSION)
    return lzw.decompress(f.raw("Buf"), limit)


def _split_compound(body: bytes) -> list[bytes]:
    if not body:
        raise WireError("compound: no part count")
    n, pos = body[0], 1 + 2 * body[0]
    if len(body) < pos:
        raise WireError("compound: truncated lengths")
    parts = []
    for i in range(n):
        size = int.from_bytes(body[1 + 2 * i : 3 + 2 * i])
        if pos + size > len(body):
            raise WireError(f"compound: part {i} of {n} truncated")
        parts.append(body[pos : pos + size])
        pos += size
    return parts


def _command(buf: bytes, depth: int, out: list[Message]) -> None:
    if not buf:
        raise WireError("empty command")
    if depth > _MAX_NESTING:
        raise WireError("commands nested too deep")
    kind, body = buf[0], buf[1:]
    if kind == MsgType.COMPOUND:
        for part in _split_compound(body):
            _command(part, depth + 1, out)
    elif kind == MsgType.COMPRESS:
        _command(_decompress(body, MAX_DECOMPRESSED_PACKET), depth + 1, out)
    elif kind in (MsgType.PUSH_PULL, MsgType.ERR):
        raise WireError(f"message type {kind} in a packet", DropReason.UNEXPECTED)
    else:
        out.append(decode(kind, body))


def decode_packet(data: bytes) -> list[Message]:
    """The messages of one decrypted UDP payload, in order."""
    if len(data) >= 5 and data[0] == MsgType.HAS_CRC:
        if zlib.crc32(data[5:]) != int.from_bytes(data[1:5]):
            raise WireError("CRC mismatch")
        data = data[5:]
    out: list[Message] = []
    _command(data, 0, out)
    return out


def encode_stream(message: Message, *, compress: bool) -> bytes:
    """The plaintext of one stream message; Go compresses every stream it sends."""
    plain = encode(message)
    return compressed(plain) if compress else plain


def decode_stream(plain: bytes) -> Message:
    """The message of one decrypted stream (``readStream``)."""
    if not plain:
        raise WireError("empty stream")
    if plain[0] == MsgType.COMPRESS:
        plain = _decompress(plain[1:], MAX_STREAM)
        if not plain:
            raise WireError("empty compressed stream")
    kind = plain[0]
    if kind not in (MsgType.PUSH_PULL, MsgType.PING, MsgType.ACK, MsgType.ERR, MsgType.USER):
        raise WireError(f"message type {kind} on a stream", DropReason.UNEXPECTED)
    return decode(kind, plain[1:])
