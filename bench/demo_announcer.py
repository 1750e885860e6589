"""A stand-alone Layer 2 announcer for tests, benchmarks and the lab.

Raw sockets belong to the network namespace of the process that opens them, so tests
run this module inside a node's namespace (``ip netns exec NS python -m
bench.demo_announcer --ip 192.0.2.100 --ip 2001:db8::100=eth0``) instead of
switching namespaces in the test process. It announces a fixed set of IPs until
SIGTERM/SIGINT and reports on stdout, one JSON object per line:

- ``{"event": "ready", "responders": ["eth0/arp", ...]}`` once the IPs are announced;
- ``{"event": "responders", "responders": [...]}`` whenever the set of running
  responders changes;
- ``{"event": "stats", ...}`` on SIGUSR1 and at exit: :meth:`L2Stats.as_json`, with the
  joined multicast groups per NDP interface.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from metallb.net.announcer import DEFAULT_SCAN_INTERVAL, Announcer
from metallb.net.links import DEFAULT_EXCLUDE


def _parse_ip(text: str) -> tuple[str, frozenset[str] | None]:
    ip, _, ifaces = text.partition("=")
    return ip, frozenset(ifaces.split(",")) if ifaces else None


def _emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    announcer: Announcer | None = None

    def report_responders() -> None:
        assert announcer is not None
        names = sorted(f"{name}/{kind}" for name, kind in announcer.responders)
        _emit("responders", responders=names)

    def report_stats() -> None:
        assert announcer is not None
        groups = {
            name: sorted(str(m) for m in r.groups)
            for (name, _), r in announcer.responders.items()
            if r.groups
        }
        _emit("stats", groups=groups, **announcer.stats.as_json())

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, report_stats)
    announcer = Announcer(
        exclude=args.exclude if args.exclude is not None else DEFAULT_EXCLUDE,
        scan_interval=args.scan_interval,
        on_change=report_responders,
    )
    async with announcer:
        for text in args.ip:
            ip, ifaces = _parse_ip(text)
            announcer.set_owned(ip, ifaces)
        _emit("ready", responders=sorted(f"{n}/{k}" for n, k in announcer.responders))
        await stop.wait()
        report_stats()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.demo_announcer")
    parser.add_argument(
        "--ip",
        action="append",
        default=[],
        help="IP to announce, optionally =IFACE[,IFACE...] to restrict it (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=None,
        help="interface-name regex to skip (repeatable; replaces upstream's default list)",
    )
    parser.add_argument("--scan-interval", type=float, default=DEFAULT_SCAN_INTERVAL)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
