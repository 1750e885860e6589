"""Codec, envelope and precedence: round trips, byte layout, fuzzed decoders that raise only
WireError, AES-GCM that refuses wrong keys and tampering, and merge-order independence."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.speaker.membership import Record, State, WireError, derive_key, supersedes
from metallb.speaker.membership.crypto import DATAGRAM, OVERHEAD, STREAM, Envelope
from metallb.speaker.membership.wire import (
    Ack,
    DropReason,
    Message,
    Packet,
    Ping,
    PingReq,
    PushPull,
    decode_packet,
    encode_packet,
)

names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=60
).filter(lambda s: 0 < len(s.encode()) <= 253)
addresses = st.tuples(
    st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str)),
    st.integers(0, 65535),
)
u32 = st.integers(0, 2**32 - 1)
records = st.builds(Record, names, addresses, u32, st.sampled_from(State))
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Ping, u32, names),
    st.builds(Ack, u32),
    st.builds(PingReq, u32, names, addresses),
    records,
    st.builds(PushPull, st.lists(records, max_size=5).map(tuple), st.booleans(), st.booleans()),
)
packets = st.builds(Packet, names, st.lists(messages, max_size=6).map(tuple))


@given(packets)
def test_packets_round_trip(packet: Packet) -> None:
    """Every encodable packet decodes back to itself."""
    assert decode_packet(encode_packet(packet)) == packet


def test_byte_layout_of_a_ping_with_gossip() -> None:
    """The documented layout, byte for byte."""
    rec = Record("b", ("192.0.2.2", 7946), 7, State.SUSPECT)
    data = encode_packet(Packet("a", (Ping(258, "b"), rec)))
    assert data.hex(" ") == (
        "01 01 61 02"  # version 1, sender "a", 2 messages
        " 01 00 00 01 02 01 62"  # PING seq 258 target "b"
        " 04 01 62 04 c0 00 02 02 1f 0a 00 00 00 07 01"  # RECORD b 192.0.2.2:7946 inc 7 SUSPECT
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", DropReason.MALFORMED, id="empty"),
        pytest.param(b"\x02\x01a\x00", DropReason.VERSION, id="future version"),
        pytest.param(b"\x01\x00\x00", DropReason.MALFORMED, id="empty sender"),
        pytest.param(b"\x01\x01a\x01\x09", DropReason.MALFORMED, id="unknown kind"),
        pytest.param(b"\x01\x01a\x01\x02\x00\x00", DropReason.MALFORMED, id="truncated ack"),
        pytest.param(b"\x01\x01a\x00\x00", DropReason.MALFORMED, id="trailing byte"),
        pytest.param(b"\x01\x02\xff\xfe\x00", DropReason.MALFORMED, id="sender not UTF-8"),
        pytest.param(b"\x01\x01a\x01\x04\x01b\x05" + bytes(6), DropReason.MALFORMED, id="family 5"),
        pytest.param(
            b"\x01\x01a\x01\x04\x01b\x04" + bytes(10) + b"\x09",
            DropReason.MALFORMED,
            id="state 9",
        ),
        pytest.param(b"\x01\x01a\x01\x05\x04\x00\x00", DropReason.MALFORMED, id="pp flags"),
    ],
)
def test_decode_errors_name_their_reason(data: bytes, reason: DropReason) -> None:
    """Each malformation raises WireError with the reason the adapter counts."""
    with pytest.raises(WireError) as info:
        decode_packet(data)
    assert info.value.reason is reason


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_decoder_raises_only_wire_error_on_random_bytes(data: bytes) -> None:
    """Arbitrary input either decodes or raises WireError, nothing else."""
    with contextlib.suppress(WireError):
        decode_packet(data)


@settings(max_examples=500)
@given(packets, st.data())
def test_decoder_raises_only_wire_error_on_mutated_packets(
    packet: Packet, data: st.DataObject
) -> None:
    """Valid packets with a byte flipped, cut or inserted (reaching deep into the body)."""
    raw = bytearray(encode_packet(packet))
    pos = data.draw(st.integers(0, len(raw)))
    op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if op == "flip" and pos < len(raw):
        raw[pos] ^= data.draw(st.integers(1, 255))
    elif op == "cut":
        del raw[pos:]
    else:
        raw.insert(pos, data.draw(st.integers(0, 255)))
    try:
        decoded = decode_packet(bytes(raw))
    except WireError:
        return
    assert decode_packet(encode_packet(decoded)) == decoded


KEY = derive_key(b"c2VjcmV0LWtleS0xMjM0NQ")


def test_key_derivation_is_stable_and_separates_secrets() -> None:
    """Same secret, same 32-byte key; another secret, another key; empty is refused."""
    assert derive_key(b"c2VjcmV0LWtleS0xMjM0NQ") == KEY
    assert len(KEY) == 32
    assert derive_key(b"c2VjcmV0LWtleS0xMjM0NR") != KEY
    with pytest.raises(ValueError, match="empty"):
        derive_key(b"")


def test_envelope_round_trip_unique_nonces_and_overhead() -> None:
    """A sealed packet opens under the same key; nonces never repeat; overhead is fixed."""
    a, b = Envelope(KEY), Envelope(KEY)
    sealed = [a.seal(b"hello", DATAGRAM) for _ in range(100)]
    assert all(b.open(s, DATAGRAM) == b"hello" for s in sealed)
    assert len({s[17:29] for s in sealed}) == 100
    assert len(sealed[0]) == len(b"hello") + OVERHEAD
    assert sealed[0][5:] != sealed[1][5:]  # ciphertext differs


@pytest.mark.parametrize(
    "attack",
    ["wrong key", "flip ciphertext", "flip salt", "flip nonce", "other channel", "short"],
)
def test_envelope_refuses_wrong_key_tampering_and_channel_swaps(attack: str) -> None:
    """Every forgery fails authentication with reason AUTH (VERSION for the version byte)."""
    sealed = bytearray(Envelope(KEY).seal(b"payload", DATAGRAM))
    opener, channel = Envelope(KEY), DATAGRAM
    if attack == "wrong key":
        opener = Envelope(derive_key(b"another secret"))
    elif attack == "flip ciphertext":
        sealed[-1] ^= 1
    elif attack == "flip salt":
        sealed[3] ^= 1
    elif attack == "flip nonce":
        sealed[20] ^= 1
    elif attack == "other channel":
        channel = STREAM
    else:
        del sealed[OVERHEAD - 1 :]
    with pytest.raises(WireError) as info:
        opener.open(bytes(sealed), channel)
    assert info.value.reason is DropReason.AUTH
    sealed[0] = 9
    with pytest.raises(WireError) as info:
        Envelope(KEY).open(bytes(sealed), DATAGRAM)
    assert info.value.reason in (DropReason.VERSION, DropReason.AUTH)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_envelope_open_raises_only_wire_error(data: bytes) -> None:
    """Arbitrary bytes never open, and never raise anything but WireError."""
    with pytest.raises(WireError):
        Envelope(KEY).open(data, DATAGRAM)


ALIVE, SUSPECT, DEAD, LEFT = State.ALIVE, State.SUSPECT, State.DEAD, State.LEFT


@pytest.mark.parametrize(
    ("new", "old", "wins"),
    [
        ((ALIVE, 2), (SUSPECT, 1), True),
        ((ALIVE, 1), (SUSPECT, 1), False),  # only a higher incarnation refutes
        ((ALIVE, 2), (DEAD, 1), True),
        ((ALIVE, 1), (DEAD, 1), False),
        ((SUSPECT, 1), (ALIVE, 1), True),
        ((SUSPECT, 0), (ALIVE, 1), False),  # stale suspicion
        ((SUSPECT, 1), (SUSPECT, 1), False),
        ((SUSPECT, 1), (DEAD, 1), False),
        ((DEAD, 1), (ALIVE, 1), True),
        ((DEAD, 1), (SUSPECT, 1), True),
        ((DEAD, 0), (ALIVE, 1), False),
        ((LEFT, 1), (ALIVE, 1), True),
        ((ALIVE, 0), None, True),
        ((SUSPECT, 0), None, True),
        ((DEAD, 0), None, True),  # a tombstone, so a late older "alive" cannot revive it
        ((LEFT, 0), None, True),
    ],
)
def test_precedence_table(
    new: tuple[State, int], old: tuple[State, int] | None, wins: bool
) -> None:
    """SWIM's precedence rules, one row each."""
    addr = ("192.0.2.1", 7946)
    old_rec = Record("n", addr, old[1], old[0]) if old else None
    assert supersedes(Record("n", addr, new[1], new[0]), old_rec) is wins


@given(st.lists(st.tuples(st.sampled_from(State), st.integers(0, 4)), min_size=1, max_size=6))
def test_merge_result_does_not_depend_on_message_order(updates: list[tuple[State, int]]) -> None:
    """Merging the same records in any order, with repeats, leaves the same record."""
    recs = [Record("n", ("192.0.2.1", 7946), inc, state) for state, inc in updates]
    results = set()
    for perm in itertools.islice(itertools.permutations(recs + recs[:1]), 50):
        cur: Record | None = None
        for r in perm:
            if supersedes(r, cur):
                cur = r
        results.add(cur)
    assert len(results) == 1
