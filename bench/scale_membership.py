"""bench/scale.py, part (b): membership at scale: detection of a dead member, bytes per member.

``simulated``: N cores of :class:`metallb.membership.Membership` (the real
protocol, encryption included) on a discrete-event LAN with explicit time: a heap of
packet deliveries (0.5 ms latency) and of each core's next deadline, so a step costs
O(log N) and 1,000 members fit in one process. The cluster joins through one seed and
converges; then the bytes every member sends per second are counted over a quiet
window; then one member crashes and the bench records when the first and the last
survivor declare it dead. Everything is bounded in simulated time and in steps.

``udp``: M :class:`metallb.net.membership.MembershipNode` on real UDP/TCP sockets, on the
loopback of a network namespace made for the run (``unshare --net``; nothing outside it
sees a packet), all in one asyncio process. Bytes per member come from the namespace's
``lo`` counters (IP and UDP headers included); the dead member's sockets are closed
without a goodbye (as SIGKILL would). Bounded: convergence and detection each have a
deadline, after which the figures say what was not reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

from metallb.membership import (
    Address,
    EventKind,
    MemberEvent,
    Membership,
    MembershipConfig,
    Step,
    derive_key,
)
from metallb.net.membership import MembershipNode

LATENCY = 0.0005
KEY = derive_key(b"c2VjcmV0LWtleS0xMjM0NQ")
Emit = Callable[..., None]


class Sim:
    """N membership cores on a simulated LAN (see the module docstring)."""

    def __init__(self, config: MembershipConfig, seed: int = 7) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.now = 0.0
        self.cores: dict[str, Membership] = {}
        self.by_addr: dict[Address, str] = {}
        self.crashed: set[str] = set()
        self.deadline: dict[str, float] = {}
        self.sent_bytes = 0
        self.downs: dict[str, dict[str, float]] = {}  # dead member -> observer -> time
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self.steps = 0

    def add(self, name: str) -> None:
        i = len(self.cores)
        # Canonical text: the wire carries addresses as bytes and decodes them so.
        address = (str(IPv6Address("2001:db8::1") + i), 7946)
        rng = random.Random(self.rng.random())
        core = Membership(name, address, KEY, now=self.now, config=self.config, rng=rng)
        seeds = [c.address for c in self.cores.values()][:1]
        self.cores[name] = core
        self.by_addr[address] = name
        self._schedule(name)
        if seeds:
            self._apply(name, core.join(seeds, self.now))

    def _schedule(self, name: str) -> None:
        at = self.cores[name].next_deadline()
        if self.deadline.get(name) != at:
            self.deadline[name] = at
            heapq.heappush(self._heap, (at, next(self._seq), "timer", name))

    def _apply(self, name: str, step: Step, reply_to: Address | None = None) -> None:
        for ev in step.events:
            if ev.kind == EventKind.DOWN:
                self.downs.setdefault(ev.name, {}).setdefault(name, self.now)
        at = self.now + LATENCY
        for s in step.sends:
            self.sent_bytes += len(s.payload)
            item = (name, s.to, s.payload, s.stream, False)
            heapq.heappush(self._heap, (at, next(self._seq), "packet", item))
        if step.reply is not None and reply_to is not None:
            self.sent_bytes += len(step.reply)
            item = (name, reply_to, step.reply, True, True)
            heapq.heappush(self._heap, (at, next(self._seq), "packet", item))
        self._schedule(name)

    def _deliver(self, item: tuple[str, Address, bytes, bool, bool]) -> None:
        src, to, payload, stream, is_reply = item
        dst = self.by_addr.get(to)
        if dst is None or dst in self.crashed or src in self.crashed:
            return
        core, src_addr = self.cores[dst], self.cores[src].address
        if not stream:
            self._apply(dst, core.receive(payload, src_addr, self.now))
        else:
            step = core.receive_stream(payload, src_addr, self.now, reply=is_reply)
            self._apply(dst, step, None if is_reply else src_addr)

    def run(self, seconds: float, max_steps: int = 20_000_000) -> None:
        end = self.now + seconds
        while self._heap and self._heap[0][0] <= end:
            self.steps += 1
            if self.steps > max_steps:
                raise RuntimeError("simulation step bound reached")
            at, _, kind, x = heapq.heappop(self._heap)
            self.now = max(self.now, at)
            if kind == "packet":
                self._deliver(x)
            elif x not in self.crashed and self.deadline.get(x) == at:
                del self.deadline[x]  # so the next deadline is queued even if equal
                self._apply(x, self.cores[x].tick(self.now))
        self.now = end

    def converged(self) -> bool:
        live = len(self.cores) - len(self.crashed)
        return all(len(c.members()) == live for n, c in self.cores.items() if n not in self.crashed)


def simulated(
    n: int,
    emit: Emit,
    progress: Callable[[str], None],
    *,
    drain: float | None = None,
    window: float = 5.0,
) -> None:
    """Part (b) on the simulated LAN for ``n`` members (see the module docstring).

    ``drain``: simulated seconds between convergence and the byte count (default one
    push-pull interval, so the join's gossip is over); ``window``: the byte count's."""
    config = MembershipConfig()
    sim = Sim(config)
    c0 = time.process_time()
    for i in range(n):
        sim.add(f"node-{i:04d}")
    params = {"members": n, "transport": "simulated"}
    joined = None
    while sim.now < 120.0:
        sim.run(1.0)
        if sim.converged():
            joined = sim.now
            break
    if joined is None:
        emit("converged", 0.0, "bool", **params)
        return
    emit("join_converged_after", joined, "s", **params)
    progress(f"membership: {n} simulated members converged at t={joined:.0f} s")
    sim.run(config.push_pull_interval if drain is None else drain)  # the join's gossip
    start = sim.sent_bytes
    sim.run(window)
    emit(
        "bytes_per_member", (sim.sent_bytes - start) / n / window, "B/s", **params, window_s=window
    )
    victim = sim.rng.choice(sorted(sim.cores)[1:])
    sim.crashed.add(victim)
    crashed_at = sim.now
    bound = config.detection_bound(n) + 5.0
    while sim.now < crashed_at + bound:
        sim.run(0.1)
        if len(sim.downs.get(victim, {})) == n - 1:
            break
    seen = sorted(t - crashed_at for t in sim.downs.get(victim, {}).values())
    emit("detected_by", len(seen) / (n - 1), "fraction", **params, bound_s=round(bound, 2))
    if seen:
        emit("detection_first", seen[0], "s", **params)
        emit("detection_median_survivor", statistics.median(seen), "s", **params)
        emit("detection_last", seen[-1], "s", **params)
    emit("simulation_cpu", time.process_time() - c0, "s", **params, steps=sim.steps)


# -- real sockets ---------------------------------------------------------------------------


def _lo_bytes() -> int:
    """Bytes sent on this network namespace's loopback. /proc/self/net/dev, not /sys:
    sysfs shows the namespace of whoever mounted it (the host's)."""
    for line in Path("/proc/self/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "lo":
            return int(counters.split()[8])  # transmit bytes
    raise RuntimeError("no loopback in /proc/self/net/dev")


async def _udp_run(m: int) -> dict[str, Any]:
    base = 17000
    seed = ("127.0.0.1", base)
    nodes = [
        MembershipNode(f"node-{i:04d}", "127.0.0.1", b"c2NhbGUtYmVuY2g=", port=base + i)
        for i in range(m)
    ]
    downs: dict[str, float] = {}
    out: dict[str, Any] = {"members": m}
    try:
        for i, node in enumerate(nodes):
            await node.start()
            if i:
                node.join([seed])
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            if all(len(n.members()) == m for n in nodes):
                break
            await asyncio.sleep(0.2)
        else:
            out["converged"] = False
            return out
        out["join_converged_after"] = time.monotonic() - t0
        await asyncio.sleep(MembershipConfig().push_pull_interval)
        b0, w0 = _lo_bytes(), time.monotonic()
        c0 = [(n.core.counters.indirect_probes_sent, n.core.counters.suspicions) for n in nodes]
        await asyncio.sleep(5.0)
        out["bytes_per_member"] = (_lo_bytes() - b0) / m / (time.monotonic() - w0)
        # Probes that needed help, and suspicions, in the window: a starved process (all
        # members share this one) makes more of them, and with them more traffic.
        out["indirect_probes_in_window"] = sum(
            n.core.counters.indirect_probes_sent - c[0] for n, c in zip(nodes, c0, strict=True)
        )
        out["suspicions_in_window"] = sum(
            n.core.counters.suspicions - c[1] for n, c in zip(nodes, c0, strict=True)
        )
        victim = nodes[m // 2]
        everyone = asyncio.Event()

        def listener(who: str) -> Callable[[MemberEvent], None]:
            def on_event(ev: MemberEvent) -> None:
                if ev.kind == EventKind.DOWN and ev.name == victim.core.name:
                    downs.setdefault(who, time.monotonic())
                    if len(downs) == m - 1:
                        everyone.set()

            return on_event

        for node in nodes:
            if node is not victim:
                node.add_listener(listener(node.core.name))
        crashed_at = time.monotonic()
        await victim.stop(leave=False)
        bound = MembershipConfig().detection_bound(m) + 5.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), bound)
        seen = sorted(t - crashed_at for t in downs.values())
        out["detected_by"] = len(seen) / (m - 1)
        if seen:
            out["detection_first"] = seen[0]
            out["detection_median_survivor"] = statistics.median(seen)
            out["detection_last"] = seen[-1]
        return out
    finally:
        # Bounded: a server may wait for a push-pull connection to the dead member to end;
        # the namespace, and every socket in it, goes with this process anyway.
        stops = asyncio.gather(*(n.stop(leave=False) for n in nodes), return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stops, 5.0)


def udp_child(m: int) -> None:
    """Runs inside ``unshare --net``: bring this namespace's loopback up, measure."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    print(json.dumps(asyncio.run(_udp_run(m))), flush=True)


def udp(m: int, emit: Emit, progress: Callable[[str], None]) -> None:
    progress(f"membership: {m} members on loopback sockets in a private namespace")
    cmd = ["unshare", "--net", sys.executable, "-m", "bench.scale", "--udp-child", str(m)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    params = {"members": m, "transport": "udp-loopback"}
    for metric, unit in (
        ("join_converged_after", "s"),
        ("bytes_per_member", "B/s"),
        ("detected_by", "fraction"),
        ("detection_first", "s"),
        ("detection_median_survivor", "s"),
        ("detection_last", "s"),
        ("indirect_probes_in_window", "count"),
        ("suspicions_in_window", "count"),
    ):
        if metric in figures:
            emit(metric, figures[metric], unit, **params)
    if figures.get("converged") is False:
        emit("converged", 0.0, "bool", **params)
