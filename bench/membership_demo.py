"""A membership node on its own, printing changes as JSON lines: for tests and the benchmark.

``python -m bench.membership_demo --name N --advertise IP --secret-file F
[--seed IP[:PORT] ...]`` runs one :class:`MembershipNode` until SIGTERM or SIGINT (then
leaves gracefully). Each line on stdout is one JSON object with ``"type"``:

* ``ready``: sockets are bound;
* ``up`` / ``down`` / ``update``: a membership change (``name``, ``state``, ``address``);
* ``stats``: the counters, every ``--stats-interval`` seconds and on exit.

Every line carries ``mono`` (``time.monotonic()``, shared by processes on one machine:
the benchmark subtracts the moment it killed a member) and ``node`` (this member).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

from metallb.membership import DEFAULT_PORT, Address, MemberEvent, MembershipConfig
from metallb.net.membership import MembershipNode


def _seed(text: str) -> Address:
    """``IP``, ``IPv4:PORT`` or ``[IPv6]:PORT``."""
    if text.startswith("[") and "]:" in text:
        host, port = text[1:].split("]:")
        return (host, int(port))
    if text.count(":") == 1:
        host, port = text.split(":")
        return (host, int(port))
    return (text.strip("[]"), DEFAULT_PORT)


def emit(node: str, kind: str, **fields: object) -> None:
    line = {"type": kind, "node": node, "mono": time.monotonic(), **fields}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def add_member_arguments(p: argparse.ArgumentParser) -> None:
    """The member's flags (also those of ``bench/l2_member.py``, which adds an announcer)."""
    p.add_argument("--name", required=True, help="member name (the node name)")
    p.add_argument("--advertise", required=True, help="address other members reach us on")
    p.add_argument("--bind", default=None, help="address to bind (default: --advertise)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--secret-file", required=True, help="file holding the secretkey value")
    p.add_argument("--seed", action="append", default=[], help="IP or IP:PORT to join through")
    defaults = MembershipConfig()
    p.add_argument("--probe-interval", type=float, default=defaults.probe_interval)
    p.add_argument("--probe-timeout", type=float, default=defaults.probe_timeout)
    p.add_argument("--suspicion-mult", type=float, default=defaults.suspicion_mult)
    p.add_argument("--push-pull-interval", type=float, default=defaults.push_pull_interval)
    p.add_argument(
        "--reconnect-interval",
        type=float,
        default=defaults.reconnect_interval,
        help="seconds between push-pulls with a dead member (0: never)",
    )
    p.add_argument("--stats-interval", type=float, default=1.0)


def node_from_args(args: argparse.Namespace) -> MembershipNode:
    """The membership node the flags describe."""
    config = MembershipConfig(
        probe_interval=args.probe_interval,
        probe_timeout=args.probe_timeout,
        suspicion_mult=args.suspicion_mult,
        push_pull_interval=args.push_pull_interval,
        reconnect_interval=args.reconnect_interval,
    )
    return MembershipNode(
        args.name,
        args.advertise,
        Path(args.secret_file).read_bytes().strip(),
        port=args.port,
        bind=args.bind,
        seeds=[_seed(s) for s in args.seed],
        config=config,
    )


def emit_event(node: str, event: MemberEvent) -> None:
    """One ``up``/``down``/``update`` line."""
    emit(
        node,
        event.kind.value,
        name=event.name,
        state=event.state.name.lower(),
        address=list(event.address),
    )


def emit_stats(node: MembershipNode, name: str) -> None:
    emit(name, "stats", members=[r.name for r in node.members()], **node.stats())


async def _run(args: argparse.Namespace) -> None:
    node = node_from_args(args)
    node.add_listener(lambda event: emit_event(args.name, event))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with node:
        emit(args.name, "ready", address=[args.advertise, args.port])
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.stats_interval)
            emit_stats(node, args.name)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_member_arguments(p)
    asyncio.run(_run(p.parse_args(argv)))


if __name__ == "__main__":
    main()
