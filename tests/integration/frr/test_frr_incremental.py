"""The FRR backend's incremental apply against real FRR: prefixes added to and removed
from a large table go as a few vtysh lines without resetting the router's session; a
deleted neighbour disappears; a new backend (a speaker restart) converges FRR that
holds a previous run's configuration; a delta FRR refuses falls back to a resync.

The router (an FRR) counts the node's session in ``connectionsEstablished`` and
``connectionsDropped``: a reset shows there even when it heals within a poll.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterable
from ipaddress import IPv6Address, ip_network
from pathlib import Path
from typing import Any

import pytest

from metallb.config.types import BFDProfile
from metallb.frr import render as frr_render
from metallb.frr.diff import delta, owned, parse
from metallb.lab.routers import FRR_BIN, FRR_RUN, wait_for
from metallb.net.frr import ApplyError, FRRBackend, FRRTarget
from metallb.speaker.bgp_decision import Route
from tests.integration.frr.conftest import ASN, BFD_MS, NODE_V4, ROUTER_V4, FrrNet

pytestmark = pytest.mark.timeout(240)

WAIT = 60.0  # seconds any convergence may take
TABLE = 500  # prefixes: enough to see that a change costs a small delta, quick to load
STRANGER = "192.0.2.99"  # a neighbour that never answers
FAST = BFDProfile("fast", BFD_MS, BFD_MS, 3, None, False, False, None)


def prefixes(first: int, last: int) -> list[str]:
    base = int(IPv6Address("2001:db8:100::"))
    return [f"{IPv6Address(base + i)}/128" for i in range(first, last)]


def state(
    routes: Iterable[str], *, stranger: bool = False, bfd: bool = True
) -> frr_render.NodeConfig:
    rs = tuple(sorted((Route(ip_network(p)) for p in routes), key=frr_render._route_key))
    router = frr_render.Neighbor(
        "router",
        ROUTER_V4,
        "",
        str(ASN),
        hold_time=9,
        keepalive_time=3,
        bfd_profile="fast" if bfd else "",
        dual_stack=True,
        routes=rs,
    )
    nbrs = [router]
    if stranger:
        nbrs.append(frr_render.Neighbor("stranger", STRANGER, "", "65000", routes=rs[:3]))
    r = frr_render.Router(ASN, "", NODE_V4, tuple(sorted(nbrs, key=lambda n: n.key)))
    return frr_render.NodeConfig("node", (r,), (FAST,) if bfd else ())


def backend(net: FrrNet) -> FRRBackend:
    return FRRBackend(FRRTarget(net.workdir, net.node.netns), debounce=0)


async def apply(b: FRRBackend, s: frr_render.NodeConfig) -> None:
    b.target.prepare()
    await b.apply(frr_render.render(s))


def session(net: FrrNet) -> dict[str, Any]:
    out = json.loads(net.router.vtysh(f"show bgp neighbors {NODE_V4} json") or "{}")
    info: dict[str, Any] = out.get(NODE_V4, {})
    return info


def received(net: FrrNet) -> set[str]:
    table = json.loads(net.router.vtysh("show bgp ipv6 unicast json") or "{}")
    return set(table.get("routes", {}))


def wait_table(net: FrrNet, want: Iterable[str]) -> None:
    goal = set(want)
    wait_for(f"{len(goal)} prefixes at the router", lambda: received(net) == goal, WAIT)


async def await_table(net: FrrNet, want: Iterable[str]) -> None:
    """wait_table that lets the event loop (the backend's task) run meanwhile."""
    goal = set(want)
    deadline = time.monotonic() + WAIT
    while (got := received(net)) != goal:
        assert time.monotonic() < deadline, f"router holds {len(got)}, not {len(goal)}"
        await asyncio.sleep(0.1)


def unchanged_session(net: FrrNet, before: dict[str, Any]) -> None:
    now = session(net)
    assert now["bgpState"] == "Established"
    assert now["connectionsEstablished"] == before["connectionsEstablished"]
    assert now.get("connectionsDropped", 0) == before.get("connectionsDropped", 0)


@pytest.mark.asyncio
async def test_large_table_single_changes_are_small_deltas(
    frrnet: FrrNet, record_property: Any
) -> None:
    b = backend(frrnet)
    table = prefixes(1, TABLE + 1)
    await apply(b, state(table))
    assert b.mode == "running"  # the first apply reads what FRR holds
    record_property("initial_apply_seconds", round(b.last_apply_seconds, 3))
    frrnet.router.wait_established(NODE_V4, WAIT)
    wait_table(frrnet, table)
    before = session(frrnet)
    assert before["connectionsEstablished"] == 1

    more = [*table, *prefixes(TABLE + 1, TABLE + 2)]
    await apply(b, state(more))
    assert b.mode == "delta"
    assert b.last_script_lines == 5  # one network line, in its router and family contexts
    record_property("add_one_apply_seconds", round(b.last_apply_seconds, 3))
    wait_table(frrnet, more)

    fewer = table[2:]
    await apply(b, state(fewer))
    assert b.mode == "delta"
    record_property("remove_three_apply_seconds", round(b.last_apply_seconds, 3))
    wait_table(frrnet, fewer)
    unchanged_session(frrnet, before)
    assert b.fallbacks == 0


@pytest.mark.asyncio
async def test_deleted_neighbour_disappears_others_untouched(frrnet: FrrNet) -> None:
    b = backend(frrnet)
    table = prefixes(1, 20)
    await apply(b, state(table, stranger=True))
    frrnet.router.wait_established(NODE_V4, WAIT)
    wait_table(frrnet, table)
    assert f"neighbor {STRANGER} remote-as 65000" in await b.show("show running-config")
    before = session(frrnet)

    await apply(b, state(table))
    assert b.mode == "delta"
    running = await b.show("show running-config")
    assert f"neighbor {STRANGER}" not in running
    assert "mlb-stranger" not in running  # its route maps and prefix lists went too
    await asyncio.sleep(1.0)
    unchanged_session(frrnet, before)


@pytest.mark.asyncio
async def test_restart_converges_a_stale_configuration(frrnet: FrrNet) -> None:
    """A previous speaker run left other prefixes, a neighbour and a BFD profile; a new
    backend removes them, adds what is missing and keeps the router's session."""
    old = backend(frrnet)
    await apply(old, state(prefixes(1, 200), stranger=True))
    frrnet.router.wait_established(NODE_V4, WAIT)
    wait_table(frrnet, prefixes(1, 200))
    before = session(frrnet)

    new = backend(frrnet)  # the restarted speaker knows nothing of the above
    want = state(prefixes(100, 300), bfd=True)
    await apply(new, want)
    assert new.mode == "running"
    assert new.fallbacks == 0
    wait_table(frrnet, prefixes(100, 300))
    running = await new.show("show running-config")
    assert f"neighbor {STRANGER}" not in running
    # What is left to do against FRR's own view is only what FRR does not show
    # (defaults, vtysh's hostname): nothing of ours is stale or missing.
    rest = delta(owned(parse(running)), parse(frr_render.render(want)))
    assert [line for line in rest if "prefix-list" in line or "network" in line] == []
    assert not [line for line in rest if "neighbor" in line]
    unchanged_session(frrnet, before)


@pytest.mark.asyncio
async def test_refused_delta_falls_back_to_a_resync(frrnet: FrrNet) -> None:
    """Someone removed a network behind the backend's back: the delta's ``no network``
    fails, and the backend resynchronises from FRR's running configuration."""
    b = backend(frrnet)
    table = prefixes(1, 30)
    await apply(b, state(table))
    frrnet.router.wait_established(NODE_V4, WAIT)
    wait_table(frrnet, table)
    victim = table[0]
    argv = [*b.target.vtysh_argv(), "-c", "configure terminal", "-c", f"router bgp {ASN}"]
    argv += ["-c", "address-family ipv6 unicast", "-c", f"no network {victim}"]
    frrnet.node.run(*argv)
    wait_table(frrnet, table[1:])

    await apply(b, state(table[1:-1]))  # removes the victim (again) and the last one
    assert b.fallbacks == 1
    assert b.mode == "running"
    wait_table(frrnet, table[1:-1])
    await apply(b, state(table[1:]))
    assert b.mode == "delta"
    wait_table(frrnet, table[1:])


@pytest.mark.asyncio
async def test_restarted_bgpd_gets_its_configuration_back(frrnet: FrrNet) -> None:
    """bgpd dies and comes back with only its startup file: the running backend notices
    (its pid file changed) and applies the whole configuration again, unasked."""
    b = FRRBackend(FRRTarget(frrnet.workdir, frrnet.node.netns), debounce=0, watch=0.5)
    table = prefixes(1, 50)
    async with b:
        b.set(state(table))
        async with asyncio.timeout(WAIT):
            await b.settled()
        frrnet.router.wait_established(NODE_V4, WAIT)
        wait_table(frrnet, table)

        bgpd = frrnet.node_procs[1]
        os.killpg(bgpd.pid, signal.SIGKILL)
        bgpd.wait(5)
        rundir = FRR_RUN / frrnet.node.netns
        argv = [str(FRR_BIN / "bgpd"), "-N", frrnet.node.netns, "-f", str(rundir / "frr.conf")]
        argv += ["-i", str(rundir / "bgpd.pid")]
        await await_table(frrnet, [])  # the session went with the old bgpd
        frrnet.node_procs[1] = frrnet.node.start(*argv, log=frrnet.workdir.parent / "bgpd.out")
        await await_table(frrnet, table)
        assert b.mode == "running"
        assert b.reloads >= 2


@pytest.mark.asyncio
async def test_configuration_frr_refuses_fails_then_recovers(frrnet: FrrNet) -> None:
    """A line FRR refuses fails the delta, the resync and frr-reload.py alike: apply()
    raises; the next good configuration goes through (from the running config)."""
    b = backend(frrnet)
    table = prefixes(1, 10)
    await apply(b, state(table))
    frrnet.router.wait_established(NODE_V4, WAIT)
    wait_table(frrnet, table)
    bad = frr_render.render(state(table[:5])) + "router bgp 64512\n no such command here\nexit\n"
    with pytest.raises(ApplyError):
        await b.apply(bad)
    assert b.fallbacks == 1
    assert b.mode == "reload"
    await apply(b, state(table[:3]))
    assert b.mode == "running"
    wait_table(frrnet, table[:3])


GOLDEN = Path(__file__).parents[2] / "unit" / "frr" / "golden"
# Lines FRR 8.4 accepts but does not show: BFD defaults, and the hostname (vtysh's own).
HIDDEN = {"detect-multiplier 3", "echo receive-interval 50", "echo transmit-interval 50"}


@pytest.mark.asyncio
async def test_every_golden_transition_leaves_exactly_the_target(frrnet: FrrNet) -> None:
    """From each golden rendering (VRFs, BFD profiles, passwords, timers, dual stack,
    communities) to each other one by deltas: bgpd and bfdd end up holding exactly the
    target, nothing stale and nothing missing."""
    b = backend(frrnet)
    goldens = sorted(GOLDEN.glob("frr_*.conf"))
    assert len(goldens) >= 5
    sequence = [g for first in goldens for g in (first, *goldens)]
    for path in sequence:
        text = path.read_text()
        b.target.prepare()
        await b.apply(text)
        assert b.failures == 0
        assert b.fallbacks == 0, f"{path.name}: {b.last_error}"
        bgpd = await b.show("show running-config bgpd")
        bfdd = await b.show("show running-config bfdd")
        got, want = owned(parse(bgpd), parse(bfdd)).model(), parse(text).model()
        for key in (set(got) | set(want)) - {()}:  # the top level: prefix lists below
            stale = got.get(key, frozenset()) - want.get(key, frozenset())
            missing = want.get(key, frozenset()) - got.get(key, frozenset())
            assert not stale, f"{path.name}: {key} still holds {sorted(stale)}"
            assert missing <= HIDDEN, f"{path.name}: {key} lacks {sorted(missing)}"
        plists = {line for line in parse(text).lines(()) if "prefix-list" in line}
        assert set(owned(parse(bgpd)).lines(())) == plists, path.name
