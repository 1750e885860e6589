"""Encryption and key as upstream's speaker sets them, the wire seen from a member, and
memberlist's rules for alive, suspect and dead, checked on a core fed crafted packets."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.codec.memberlist import (
    VSN,
    Ack,
    Alive,
    Dead,
    IndirectPing,
    Message,
    Nack,
    NodeState,
    Ping,
    PushNode,
    PushPull,
    Suspect,
    decode_packet,
    decode_stream,
    encode,
)
from metallb.membership import DropReason, Membership, State, WireError, derive_key
from metallb.membership.crypto import OVERHEAD, Cipher
from metallb.membership.wire import Wire

_GO = Path(__file__).parents[1] / "codec" / "data" / "memberlist_v0.5.1.txt"
GO = {
    k: bytes.fromhex(v)
    for k, v in (line.split() for line in _GO.read_text().splitlines() if line[:1] != "#")
}
GO_KEY = b"0123456789abcdef0123456789abcdef"
SECRET = b"c2VjcmV0LWtleS0xMjM0NQ"
KEY = derive_key(SECRET)
A, B, C = ("192.0.2.1", 7946), ("192.0.2.2", 7946), ("192.0.2.3", 7946)


def test_key_is_derived_as_upstreams_speaker_derives_it() -> None:
    # sha256.New().Sum(secret)[:32], printed by Go for these two secrets.
    assert KEY.hex() == "6332566a636d56304c57746c655330784d6a4d304e51e3b0c44298fc1c149afb"
    long = derive_key(b"a-secret-that-is-longer-than-thirty-two-bytes")
    assert long == b"a-secret-that-is-longer-than-thi"
    with pytest.raises(ValueError, match="empty"):
        derive_key(b"")


def test_go_encrypted_packets_and_streams_open() -> None:
    cipher = Cipher(GO_KEY)
    assert cipher.open_packet(GO["encrypted_packet_v1"]) == GO["compound"]
    assert cipher.open_packet(GO["encrypted_packet_v0"]) == GO["compound"]  # PKCS#7 padded
    assert decode_stream(cipher.open_stream(GO["encrypted_stream"])) == decode_stream(
        GO["pushpull"]
    )


def test_envelope_layout_and_channel_binding() -> None:
    cipher = Cipher(KEY)
    sealed = cipher.seal_packet(b"\x02hello")
    assert sealed[0] == 1
    assert len(sealed) == len(b"\x02hello") + OVERHEAD
    assert cipher.open_packet(sealed) == b"\x02hello"
    frame = cipher.seal_stream(b"\x02hello")
    assert frame[0] == 10
    assert int.from_bytes(frame[1:5]) == len(frame) - 5
    assert cipher.open_stream(frame) == b"\x02hello"
    # The stream header is authenticated: a packet envelope is not a stream message.
    with pytest.raises(WireError) as err:
        cipher.open_stream(frame[:5] + sealed[: len(frame) - 5].ljust(len(frame) - 5, b"\0"))
    assert err.value.reason is DropReason.AUTH


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", DropReason.AUTH, id="empty"),
        pytest.param(b"\x02" + bytes(40), DropReason.VERSION, id="encryption version 2"),
        pytest.param(b"\x01" + bytes(10), DropReason.AUTH, id="short"),
        pytest.param(b"\xf4\x03abc\x01" + bytes(40), DropReason.AUTH, id="labelled"),
    ],
)
def test_packets_that_do_not_open_name_their_reason(data: bytes, reason: DropReason) -> None:
    with pytest.raises(WireError) as err:
        Wire(KEY).open_packet(data)
    assert err.value.reason is reason


def test_a_wrong_key_is_auth() -> None:
    sealed = Wire(derive_key(b"another secret")).seal_packet([encode(Ack(1))], crc=True)
    with pytest.raises(WireError) as err:
        Wire(KEY).open_packet(sealed)
    assert err.value.reason is DropReason.AUTH
    assert Wire(KEY).open_packet(Wire(KEY).seal_packet([encode(Ack(1))], crc=True)) == [Ack(1)]


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_opening_random_bytes_raises_only_wire_error(data: bytes) -> None:
    wire = Wire(KEY)
    with contextlib.suppress(WireError):
        wire.open_packet(data)
    with contextlib.suppress(WireError):
        wire.open_stream(data)


# -- memberlist's rules, on a core ------------------------------------------------------


def _core() -> Membership:
    return Membership("a", A, KEY, now=0.0)


def _feed(core: Membership, *msgs: Message, now: float = 0.0) -> list[Message]:
    """Deliver ``msgs`` in one packet from B; the messages of what the core sent back."""
    step = core.receive(Wire(KEY).seal_packet([encode(m) for m in msgs], crc=False), B, now)
    return [m for s in step.sends for m in Wire(KEY).open_packet(s.payload)]


def test_alive_needs_a_higher_incarnation_and_suspect_applies_only_to_alive() -> None:
    core = _core()
    _feed(core, Alive(5, "b", B))
    assert core.record("b").state is State.ALIVE  # type: ignore[union-attr]
    _feed(core, Suspect(4, "b", "c"))  # older than what we know: ignored
    assert core.record("b").state is State.ALIVE  # type: ignore[union-attr]
    _feed(core, Suspect(5, "b", "c"))
    assert core.record("b").state is State.SUSPECT  # type: ignore[union-attr]
    _feed(core, Alive(5, "b", B))  # same incarnation does not refute
    assert core.record("b").state is State.SUSPECT  # type: ignore[union-attr]
    _feed(core, Alive(6, "b", B))
    assert core.record("b").state is State.ALIVE  # type: ignore[union-attr]
    _feed(core, Dead(6, "b", "c"))
    assert core.record("b").state is State.DEAD  # type: ignore[union-attr]
    _feed(core, Suspect(9, "b", "c"))  # a dead member is not revived by a suspicion
    assert core.record("b").state is State.DEAD  # type: ignore[union-attr]
    _feed(core, Suspect(1, "x", "c"), Dead(1, "y", "c"))  # unknown members: ignored
    assert core.record("x") is None
    assert core.record("y") is None


def test_dead_from_the_member_itself_is_a_leave_and_an_address_change_needs_it() -> None:
    core = _core()
    _feed(core, Alive(1, "b", B))
    _feed(core, Alive(2, "b", C))  # another address while not left: a conflict
    assert core.record("b").address == B  # type: ignore[union-attr]
    _feed(core, Dead(1, "b", "b"))
    assert core.record("b").state is State.LEFT  # type: ignore[union-attr]
    _feed(core, Alive(1, "b", C))  # a left name may come back elsewhere
    assert core.record("b") is not None
    assert core.record("b").address == C  # type: ignore[union-attr]
    assert core.counters.leaves == 1


def test_refutation_outbids_the_accusation_and_answers_the_ping() -> None:
    core = _core()
    sent = _feed(core, Suspect(7, "a", "b"), Ping(42, "a", C, "c"))
    assert core.incarnation == 8
    assert Ack(42) in sent
    assert Alive(8, "a", A, b"", VSN) in sent
    _feed(core, Dead(8, "a", "b"))
    assert core.incarnation == 9
    assert core.counters.refutations == 2


def test_ping_for_another_node_is_counted_and_acks_go_to_the_source_address() -> None:
    core = _core()
    assert _feed(core, Ping(1, "zz")) == []
    assert core.counters.dropped[DropReason.WRONG_TARGET] == 1
    step = core.receive(Wire(KEY).seal_packet([encode(Ping(2, "a", C, "c"))], crc=False), B, 0)
    assert [s.to for s in step.sends] == [C]


def test_indirect_ping_is_relayed_with_a_nack_when_no_ack_comes() -> None:
    core = _core()
    _feed(core, Alive(1, "c", C))
    step = core.receive(
        Wire(KEY).seal_packet([encode(IndirectPing(9, C, "c", True, B, "b"))], crc=False), B, 0
    )
    pings = [(s.to, Wire(KEY).open_packet(s.payload)[0]) for s in step.sends]
    assert pings[0][0] == C
    assert isinstance(pings[0][1], Ping)
    assert pings[0][1].node == "c"
    later = core.tick(core.config.probe_timeout + 0.001)
    nacks = [m for s in later.sends if s.to == B for m in Wire(KEY).open_packet(s.payload)]
    assert Nack(9) in nacks


def test_push_pull_is_answered_and_dead_entries_only_suspect() -> None:
    core = _core()
    _feed(core, Alive(3, "c", C))
    push = PushPull(
        True,
        (PushNode("b", B, 1, NodeState.ALIVE), PushNode("c", C, 3, NodeState.DEAD)),
    )
    step = core.receive_stream(Wire(KEY).seal_stream(push), B, 0.0)
    assert step.reply is not None
    answer = Wire(KEY).open_stream(step.reply)
    assert isinstance(answer, PushPull)
    assert answer.join
    assert {n.name for n in answer.nodes} == {"a", "b", "c"}
    assert all(n.vsn == VSN for n in answer.nodes)
    assert core.record("b").state is State.ALIVE  # type: ignore[union-attr]
    assert core.record("c").state is State.SUSPECT  # type: ignore[union-attr]


def test_a_go_tcp_ping_is_acked_on_the_stream() -> None:
    core = _core()
    step = core.receive_stream(Wire(KEY).seal_stream(Ping(77, "a", B, "b")), B, 0.0)
    assert step.reply is not None
    assert Wire(KEY).open_stream(step.reply) == Ack(77)


def test_packets_to_protocol_5_members_carry_a_crc() -> None:
    core = _core()
    _feed(core, Alive(1, "b", B))
    step = core.tick(1.0)
    pings = [s for s in step.sends if s.to == B]
    assert pings
    plain = Cipher(KEY).open_packet(pings[0].payload)
    assert plain[0] == 12
    assert any(isinstance(m, Ping) for m in decode_packet(plain))


def test_a_packet_a_go_peer_sealed_is_acked_and_its_suspicion_refuted() -> None:
    """Go's compound of ping(7, node-b) and suspect(3, node-b), sealed by Go's
    encryptPayload, makes node-b refute at incarnation 4 and ack seq 7 to the sender."""
    core = Membership("node-b", B, GO_KEY, now=0.0)
    step = core.receive(GO["encrypted_packet_v1"], A, 0.0)
    assert core.incarnation == 4
    sent = [(s.to, m) for s in step.sends for m in Wire(GO_KEY).open_packet(s.payload)]
    assert (A, Ack(7)) in sent
    assert (A, Alive(4, "node-b", B, b"", VSN)) in sent
