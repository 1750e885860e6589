"""A command-line speaker: for integration tests, the lab and benchmarks.

``python -m bench.bgp_demo --peer 192.0.2.1 --local-asn 64513 --peer-asn 64512
--prefix 198.51.100.10/32 --community 64512:100`` runs one :class:`Session` in the
network namespace it was started in (one per ``--peer`` when repeated, all with the
same options and routes, as the speaker runs one per BGPPeer in one process). The
desired set comes from the flags, or from ``--prefixes-file`` (one prefix per line;
re-read when it changes, so a test can withdraw a route), or ``--generate-v6 N`` (N
/128s for benchmarks). Each FSM transition (with its ``peer``) and each batch of
UPDATEs is printed as a JSON line with the monotonic time, which every process on the
machine shares. It exits after ``--lifetime``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from pathlib import Path

from metallb.codec.bgp import LargeCommunity, Prefix, community
from metallb.net.bgp.options import Advertisement, PeerOptions
from metallb.net.bgp.session import Session, TransitionRecord

POLL = 0.02  # seconds between looks at the session and the prefixes file


def _community(text: str) -> int:
    asn, value = (int(x) for x in text.split(":"))
    return community(asn, value)


def _large(text: str) -> LargeCommunity:
    a, b, c = (int(x) for x in text.split(":"))
    return LargeCommunity(a, b, c)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bgp_demo", description=__doc__)
    p.add_argument("--peer", required=True, type=ip_address, action="append")
    p.add_argument("--peer-port", type=int, default=179)
    p.add_argument("--local-asn", type=int, required=True)
    p.add_argument("--peer-asn", type=int, required=True)
    p.add_argument("--router-id", type=IPv4Address)
    p.add_argument("--hold-time", type=int, default=90)
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--source", type=ip_address)
    p.add_argument("--password")
    p.add_argument("--ebgp-multihop", action="store_true")
    p.add_argument("--next-hop-v6", type=IPv6Address)
    p.add_argument("--prefix", action="append", default=[], type=ip_network)
    p.add_argument("--prefixes-file", type=Path)
    p.add_argument("--generate-v6", type=int, default=0, metavar="N")
    p.add_argument("--community", action="append", default=[], type=_community)
    p.add_argument("--large-community", action="append", default=[], type=_large)
    p.add_argument("--local-pref", type=int)
    p.add_argument("--lifetime", type=float, default=600.0)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def _generated(count: int) -> list[Prefix]:
    """``count`` /128s in 2001:db8:100::/48 (documentation range, RFC 3849)."""
    base = int(IPv6Address("2001:db8:100::"))
    return [ip_network(IPv6Address(base + i + 1)) for i in range(count)]


def _from_file(path: Path) -> list[Prefix]:
    lines = path.read_text().split() if path.exists() else []
    return [ip_network(line) for line in lines]


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def run(args: argparse.Namespace) -> None:
    options = PeerOptions(
        peer_address=args.peer[0],
        peer_port=args.peer_port,
        local_asn=args.local_asn,
        peer_asn=args.peer_asn,
        router_id=args.router_id,
        hold_time=args.hold_time,
        source_address=args.source,
        password=args.password,
        ebgp_multihop=args.ebgp_multihop,
        next_hop_v6=args.next_hop_v6,
        connect_timeout=args.connect_timeout,
    )
    ad = Advertisement(
        communities=tuple(args.community),
        large_communities=tuple(args.large_community),
        local_pref=args.local_pref,
    )
    sessions = [Session(dataclasses.replace(options, peer_address=p)) for p in args.peer]
    prefixes = [*args.prefix, *_generated(args.generate_v6)]
    mtime: float | None = None
    if args.prefixes_file is None:
        for session in sessions:
            session.set(dict.fromkeys(prefixes, ad))
    loop = asyncio.get_running_loop()
    end = loop.time() + args.lifetime
    # SIGTERM ends the loop below, so leaving ``async with`` closes the session
    # gracefully (Cease / Administrative Shutdown) instead of dropping TCP.
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    last: dict[int, TransitionRecord | None] = dict.fromkeys(range(len(sessions)))
    updates = [0] * len(sessions)
    async with contextlib.AsyncExitStack() as stack:
        for session in sessions:
            await stack.enter_async_context(session)
        while loop.time() < end and not stop.is_set():
            if args.prefixes_file is not None:
                stamp = args.prefixes_file.stat().st_mtime if args.prefixes_file.exists() else 0.0
                if stamp != mtime:
                    mtime = stamp
                    chosen = [*prefixes, *_from_file(args.prefixes_file)]
                    for session in sessions:
                        session.set(dict.fromkeys(chosen, ad))
                    emit(event="set", prefixes=len(chosen), monotonic=loop.time())
            for i, session in enumerate(sessions):
                peer = str(session.options.peer_address)
                history = list(session.history)
                seen = last[i]
                fresh = history[history.index(seen) + 1 :] if seen in history else history
                for rec in fresh:
                    emit(
                        event="transition",
                        peer=peer,
                        old=rec.old.value,
                        new=rec.new.value,
                        on=rec.event.name,
                        reason=rec.reason,
                        monotonic=rec.at,
                    )
                last[i] = history[-1] if history else last[i]
                if session.counters.updates_sent != updates[i]:
                    updates[i] = session.counters.updates_sent
                    emit(
                        event="updates", peer=peer, **vars(session.counters), monotonic=loop.time()
                    )
            await asyncio.sleep(POLL)
        for session in sessions:
            await session.close("speaker stopping")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {os.getpid()} %(name)s %(levelname)s %(message)s",
    )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
