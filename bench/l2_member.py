"""One of our Layer 2 speakers without Kubernetes: membership, the election and the announcer.

``python -m bench.l2_member`` (from the repository root) with the membership demo's flags
(and its functions: the same node, the same lines) plus ``--vip IP`` (repeatable) runs our
:class:`~metallb.net.membership.MembershipNode` and our
:class:`~metallb.net.announcer.Announcer` in one process, and on every membership change
elects each VIP's owner among the live members with the speaker's ranking
(:func:`metallb.election.ranking.rank`, upstream's SHA-256 of ``"node#ip"``), announcing
the VIPs it wins and withdrawing the others, as the speaker does (``k8s/speaker.py``
re-elects on every membership event). Its JSON lines are the membership demo's
(``ready``, ``up``/``down``/``update``, ``stats``) plus ``announce``/``withdraw``, the
Go peer's (``tools/mlpeer --vip``), so :class:`bench.membership.MembershipLab` runs it as
one more kind of member. On SIGTERM it leaves first and answers ARP until the leave is
sent, as the speaker (``cli/speaker_cmd.py``) does.

Its first election waits, as the speaker's does, until its first join round is over
(every seed answered or failed, :meth:`~metallb.net.membership.MembershipNode.wait_joined`)
or ``--join-timeout`` passed: the members hear of it before it claims a VIP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from ipaddress import ip_address

from bench.membership_demo import (
    add_member_arguments,
    emit,
    emit_event,
    emit_stats,
    node_from_args,
)
from metallb.election.ranking import rank
from metallb.membership import MemberEvent
from metallb.net.announcer import Announcer


async def _run(args: argparse.Namespace) -> None:
    vips = [ip_address(v) for v in args.vip]
    node = node_from_args(args)
    joined = asyncio.Event()
    owned: set[object] = set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with Announcer(exclude=(), scan_interval=0.5) as announcer:

        def elect() -> None:
            if not joined.is_set():
                return
            live = [r.name for r in node.members()]
            for ip in vips:
                mine = rank(live, ip, {})[:1] == (args.name,)
                if mine and ip not in owned:
                    owned.add(ip)
                    announcer.set_owned(ip, [args.iface])
                    emit(args.name, "announce", ip=str(ip))
                elif not mine and ip in owned:
                    owned.discard(ip)
                    announcer.remove(ip)
                    emit(args.name, "withdraw", ip=str(ip))

        def on_change(event: MemberEvent) -> None:
            emit_event(args.name, event)
            elect()

        node.add_listener(on_change)
        async with node:
            emit(args.name, "ready", address=[args.advertise, args.port])
            # The speaker's own gate (metallb.k8s.speaker_seeds.wait_first_join).
            await node.wait_joined(args.join_timeout)
            joined.set()
            elect()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.stats_interval)
                emit_stats(node, args.name)
        # The node has left; the announcer answers until this block ends, as the speaker.
        for ip in sorted(owned, key=str):
            emit(args.name, "withdraw", ip=str(ip))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_member_arguments(p)
    p.add_argument("--vip", action="append", default=[], help="IP to announce when elected")
    p.add_argument("--iface", default="eth0", help="interface to answer on")
    p.add_argument("--join-timeout", type=float, default=5.0)
    asyncio.run(_run(p.parse_args(argv)))


if __name__ == "__main__":
    main()
