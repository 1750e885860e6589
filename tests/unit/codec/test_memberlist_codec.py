"""memberlist's wire format: bytes a Go peer wrote, our encoder's bytes, and fuzzed decoders."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.codec.memberlist import (
    Ack,
    Alive,
    Dead,
    ErrResp,
    IndirectPing,
    Message,
    Nack,
    NodeState,
    Ping,
    PushNode,
    PushPull,
    Suspect,
    WireError,
    decode_packet,
    decode_stream,
    encode,
    encode_packet,
    lzw,
    strip_label,
)
from metallb.codec.memberlist import msgpack as mp
from metallb.codec.memberlist.errors import DropReason
from metallb.codec.memberlist.packet import compound, compressed, encode_stream

_DATA = Path(__file__).parent / "data" / "memberlist_v0.5.1.txt"
GO = {
    name: bytes.fromhex(hexa)
    for name, hexa in (
        line.split() for line in _DATA.read_text().splitlines() if not line.startswith("#")
    )
}
IP4, IP6 = "192.0.2.1", "2001:db8::7"

# The values the Go side encoded, by golden name.
VALUES: dict[str, Message] = {
    "ping": Ping(7, "node-b", (IP4, 7946), "node-a"),
    "ping_bare": Ping(300, ""),
    "indirect": IndirectPing(70000, (IP6, 7946), "node-c", True, (IP4, 7946), "node-a"),
    "ack": Ack(4294967295),
    "nack": Nack(128),
    "suspect": Suspect(3, "node-b", "node-a"),
    "dead": Dead(256, "node-b", "node-b"),
    "alive": Alive(1, "a-node-name-that-is-longer-than-31-bytes", (IP4, 7946)),
}
PUSH = PushPull(
    True,
    (
        PushNode("node-a", (IP4, 7946), 2, NodeState.ALIVE),
        PushNode("node-b", (IP6, 7946), 200, NodeState.LEFT),
    ),
)


def _big() -> bytes:
    big = bytearray(b"memberlist-lzw-" * 600)
    for i in range(len(big)):
        big[i] ^= i * 7 % 13
    return bytes(big)


def _random() -> bytes:
    out, x = bytearray(), 12345
    for _ in range(12000):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out.append((x >> 16) & 0x3F)
    return bytes(out)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_messages_encode_to_the_bytes_go_writes_and_decode_back(name: str) -> None:
    assert encode(VALUES[name]) == GO[name]
    assert decode_packet(GO[name]) == [VALUES[name]]


def test_go_field_order_integer_widths_and_raw_strings() -> None:
    # Keys sorted by name; a 40-byte name is str16 (go-msgpack writes no str8);
    # Vsn is a byte string; a nil Meta is nil; Go's int 200 is an int16.
    alive = GO["alive"]
    assert alive[1] == 0x86
    assert alive.index(b"Addr") < alive.index(b"Incarnation")
    assert b"\xda\x00\x28a-node-name" in alive
    assert b"\xa3Vsn\xa6\x01\x05\x02\x00\x00\x00" in alive
    assert b"\xa4Meta\xc0" in alive
    assert GO["pushpull_header_200"] == b"\x06" + mp.struct_map(
        [("Join", mp.boolean(True)), ("Nodes", mp.sint(200)), ("UserStateLen", mp.sint(0))]
    )
    assert b"\xd1\x00\xc8" in GO["pushpull_header_200"]


def test_push_pull_compound_and_errors() -> None:
    assert encode(PUSH) == GO["pushpull"]
    assert decode_stream(GO["pushpull"]) == PUSH
    parts = [encode(Ping(7, "node-b")), encode(Suspect(3, "node-b", "node-a"))]
    assert compound(parts) == GO["compound"]
    assert decode_packet(GO["compound"]) == [Ping(7, "node-b"), Suspect(3, "node-b", "node-a")]
    assert decode_stream(encode(ErrResp("boom"))) == ErrResp("boom")
    assert GO["err"] == encode(ErrResp("boom"))


def test_compression_matches_go_bit_for_bit() -> None:
    assert compressed(GO["compound"]) == GO["compress_compound"]
    assert decode_packet(GO["compress_compound"]) == decode_packet(GO["compound"])
    # A long repetitive text widens the codes; 12 kB of noise fills the table (clear codes).
    for plain, name in ((_big(), "big_compressed"), (_random(), "random_compressed")):
        assert compressed(plain) == GO[name]
        buf = mp.Reader(GO[name][1:]).struct().raw("Buf")
        assert lzw.decompress(buf, 1 << 20) == plain
    assert lzw.decompress(lzw.compress(b""), 10) == b""


def test_crc_frames_are_checked() -> None:
    framed = encode_packet([encode(Ack(5))], crc=True)
    assert framed[0] == 12
    assert decode_packet(framed) == [Ack(5)]
    broken = framed[:-1] + bytes([framed[-1] ^ 1])
    with pytest.raises(WireError, match="CRC"):
        decode_packet(broken)


def test_labels_are_parsed_and_user_messages_are_recognised() -> None:
    assert strip_label(b"\xf4\x03abc\x01\x02") == ("abc", b"\x01\x02")
    assert strip_label(b"\x01\x02") == ("", b"\x01\x02")
    with pytest.raises(WireError):
        strip_label(b"\xf4\x00")
    assert decode_packet(b"\x08hello")[0].__class__.__name__ == "User"


def test_push_pull_on_a_packet_is_unexpected() -> None:
    with pytest.raises(WireError) as err:
        decode_packet(GO["pushpull"])
    assert err.value.reason is DropReason.UNEXPECTED


def test_unknown_compression_is_a_version_error() -> None:
    body = mp.struct_map([("Algo", mp.uint(1)), ("Buf", mp.raw(b"x"))])
    with pytest.raises(WireError) as err:
        decode_packet(b"\x09" + body)
    assert err.value.reason is DropReason.VERSION


# -- properties and fuzzing --------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
ports = st.integers(1, 65535)
hosts = st.sampled_from([IP4, IP6, "198.51.100.7", "2001:db8::1:2"])
u32 = st.integers(0, 2**32 - 1)
addr = st.tuples(hosts, ports)
vsns = st.builds(
    lambda lo, hi, cur: bytes([lo, lo + hi, cur, 0, 0, 0]),
    st.integers(1, 5),
    st.integers(0, 3),
    st.integers(0, 9),
)
push_nodes = st.builds(
    PushNode, names, addr, u32, st.sampled_from(NodeState), st.binary(max_size=40), vsns
)
messages = st.one_of(
    st.builds(Ping, u32, names, st.none() | addr, names),
    st.builds(IndirectPing, u32, addr, names, st.booleans(), st.none() | addr, names),
    st.builds(Ack, u32, st.binary(max_size=80)),
    st.builds(Nack, u32),
    st.builds(Suspect, u32, names, names),
    st.builds(Dead, u32, names, names),
    st.builds(Alive, u32, names, addr, st.binary(max_size=40), vsns),
)


@settings(max_examples=300)
@given(st.lists(messages, min_size=1, max_size=6), st.booleans(), st.booleans())
def test_packets_round_trip(msgs: list[Message], crc: bool, squeeze: bool) -> None:
    payload = encode_packet([encode(m) for m in msgs], crc=False)
    if squeeze:
        payload = compressed(payload)
    if crc:
        payload = encode_packet([payload], crc=True)
    assert decode_packet(payload) == msgs


@settings(max_examples=100)
@given(st.lists(push_nodes, max_size=20), st.booleans(), st.binary(max_size=30), st.booleans())
def test_push_pull_streams_round_trip(
    nodes: list[PushNode], join: bool, user: bytes, squeeze: bool
) -> None:
    push = PushPull(join, tuple(nodes), user)
    assert decode_stream(encode_stream(push, compress=squeeze)) == push


@settings(max_examples=200)
@given(st.binary(max_size=3000))
def test_lzw_round_trips(data: bytes) -> None:
    assert lzw.decompress(lzw.compress(data), len(data)) == data


VALID = [*GO.values(), encode(PUSH), encode_packet([GO["ping"], GO["alive"]], crc=True)]


@settings(max_examples=1500)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_wire_errors(data: bytes) -> None:
    for decoder in (decode_packet, decode_stream):
        with contextlib.suppress(WireError):
            decoder(data)
    with contextlib.suppress(WireError):
        lzw.decompress(data, 1 << 16)


@settings(max_examples=1500)
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_frames_raise_only_wire_errors(frame: bytes, data: st.DataObject) -> None:
    buf = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del buf[pos:]
        else:
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    for decoder in (decode_packet, decode_stream):
        with contextlib.suppress(WireError):
            decoder(bytes(buf))
