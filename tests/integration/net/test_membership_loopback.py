"""The asyncio transport in-process: two nodes on loopback exchange events through the
async iterator and listeners, publish counters, and a graceful stop is seen as a leave."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from metallb.codec.memberlist import Ack, Ping, encode
from metallb.membership import DropReason, EventKind, MemberEvent, State, derive_key
from metallb.membership.wire import Wire
from metallb.net.membership import MembershipNode

SECRET = b"bG9vcGJhY2stc2VjcmV0"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (bounded retries)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port")


async def next_event(events: asyncio.Queue[MemberEvent]) -> MemberEvent:
    async with asyncio.timeout(10):
        return await events.get()


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` every 20 ms for at most 10 s."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.asyncio
async def test_two_nodes_see_each_other_and_a_leave() -> None:
    """b joins a through its seed; both report up; stopping a is a leave b sees at once."""
    pa, pb = free_port(), free_port()
    a = MembershipNode("a", "127.0.0.1", SECRET, port=pa)
    b = MembershipNode("b", "127.0.0.1", SECRET, port=pb, seeds=[("127.0.0.1", pa)])
    heard: list[MemberEvent] = []
    b.add_listener(heard.append)
    b_events: asyncio.Queue[MemberEvent] = asyncio.Queue()

    async def pump() -> None:
        async for event in b.events():
            b_events.put_nowait(event)

    async with a, b:
        pump_task = asyncio.create_task(pump())
        await asyncio.sleep(0)  # let the iterator subscribe before anything happens
        up = await next_event(b_events)
        assert (up.kind, up.name, up.state) == (EventKind.UP, "a", State.ALIVE)
        await eventually(lambda: [r.name for r in a.members()] == ["a", "b"], "a to see b")
        await asyncio.sleep(0.5)  # a few probe rounds
        assert a.stats()["metallb_memberlist_acks_received_total"] > 0
        assert a.stats()["metallb_memberlist_members"] == 2
        await a.stop()
        down = await next_event(b_events)
        assert (down.kind, down.name, down.state) == (EventKind.DOWN, "a", State.LEFT)
        assert [(e.kind, e.name) for e in heard] == [(EventKind.UP, "a"), (EventKind.DOWN, "a")]
        pump_task.cancel()
        await asyncio.gather(pump_task, return_exceptions=True)


@pytest.mark.asyncio
async def test_garbage_datagrams_are_counted_and_ignored() -> None:
    """Datagrams that are not sealed with the cluster key only move the drop counters."""
    port = free_port()
    async with MembershipNode("solo", "127.0.0.1", SECRET, port=port) as node:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            # Envelope versions 1 and 0 (both accepted, neither authenticates), then 7.
            for payload in (b"\x01" + b"x" * 40, b"\x07" * 50, b"\x00" + b"y" * 50):
                s.sendto(payload, ("127.0.0.1", port))
        await eventually(lambda: sum(node.core.counters.dropped.values()) >= 3, "3 drops")
        stats = node.stats()
        assert stats["metallb_memberlist_dropped_packets_total{reason=auth}"] == 2
        assert stats["metallb_memberlist_dropped_packets_total{reason=version}"] == 1
        assert [r.name for r in node.members()] == ["solo"]


async def _exchange(port: int, payload: bytes) -> bytes:
    """Send one stream message on a new TCP connection; what comes back before close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.asyncio
async def test_streams_in_memberlist_framing() -> None:
    """A Go peer's TCP fallback ping is acked on the stream; an unencrypted stream and one
    under another key get no answer and count as auth drops."""
    port = free_port()
    async with MembershipNode("solo", "127.0.0.1", SECRET, port=port) as node:
        ping = Ping(31, "solo", ("127.0.0.1", 9), "go-peer")
        answer = await _exchange(port, Wire(derive_key(SECRET)).seal_stream(ping))
        assert Wire(derive_key(SECRET)).open_stream(answer) == Ack(31)
        assert await _exchange(port, encode(ping)) == b""
        assert await _exchange(port, Wire(derive_key(b"other")).seal_stream(ping)) == b""
        await eventually(lambda: node.core.counters.dropped[DropReason.AUTH] == 2, "two auth drops")


@pytest.mark.asyncio
async def test_wait_joined_returns_once_every_seed_has_heard_of_us() -> None:
    """When ``wait_joined`` returns True, each seed already counts the newcomer as a
    member (no gossip round needed); a seed that is down ends the round too, and a node
    whose only seed is itself has nothing to wait for."""
    pa, pb, pc, dead = free_port(), free_port(), free_port(), free_port()
    a = MembershipNode("a", "127.0.0.1", SECRET, port=pa)
    b = MembershipNode("b", "127.0.0.1", SECRET, port=pb)
    seeds = [("127.0.0.1", pa), ("127.0.0.1", pb), ("127.0.0.1", dead)]
    c = MembershipNode("c", "127.0.0.1", SECRET, port=pc, seeds=seeds)
    async with a, b:
        alone = MembershipNode("alone", "127.0.0.1", SECRET, port=dead, seeds=[("127.0.0.1", dead)])
        async with alone:
            assert await alone.wait_joined(5, settle=0)
        async with c:
            assert await c.wait_joined(5, settle=0)
            assert "c" in {r.name for r in a.members()}
            assert "c" in {r.name for r in b.members()}
            assert {"a", "b", "c"} <= {r.name for r in c.members()}
