"""BGP advertisement benchmark: how fast a BIRD peer holds 10,000 service prefixes.

Run `python -m bench.bgp_advertise` (as root: it builds network namespaces). Prints
JSON lines `{"bench", "metric", "value", "unit", ...params}`; never asserts a time.

A BIRD 2 router and one node share a LAN in namespaces; the node runs the native
speaker (`python -m bench.bgp_demo`) over iBGP. Two measurements per run:

- `start=established`: the speaker starts with all N prefixes desired; seconds from the
  session reaching Established (the speaker's own log) until `birdc show route
  protocol peer0 count` reports N.
- `start=set`: the session is up with nothing desired, then the prefixes file is
  replaced; seconds from the speaker's set() call until BIRD holds all N.
  `withdraw_seconds` then times an empty set() until BIRD holds none.

Both processes stamp CLOCK_MONOTONIC, which the whole machine shares. Prefixes are
IPv6 /128s from 2001:db8:100::/48: the IPv4 documentation ranges hold only 768
addresses. BIRD is polled as fast as `birdc` answers (a few ms), which bounds the
resolution.

The FRR-backend columns (`speaker=frr`): the node runs FRR (zebra, bgpd) configured only
through :class:`metallb.net.frr.FRRBackend` (incremental vtysh deltas, no debounce) over
the same iBGP session to BIRD. Each apply() is timed (`apply_seconds`, with the `mode`
it took; `render_seconds` is the rendering before it, which the speaker does in the
backend's task), and each phase from the apply() call until BIRD holds the expected
count (`seconds_to_bird`):

- `phase=initial`: session up with nothing to send, then one apply() of all N prefixes;
- `phase=add_one` / `phase=remove_one`: one prefix more, then one less, on the full table;
- `phase=restart`: a new backend (a restarted speaker, FRR still holding the N
  prefixes) applies the same N: it reads and diffs bgpd's running configuration;
- `phase=withdraw`: one apply() of the empty state until BIRD holds none.

The rendering is the shipped one (:func:`metallb.frr.render.render`): each
`network` statement sets a route tag through a route map, and the outbound route map
matches the tag. (The earlier layout, a prefix list per attribute set, cost O(N^2) in
FRR 8.4, which adds a prefix-list entry in time linear in the list's length: 16 s for
1,000 prefixes, 63 s for 2,000, 154 s for 3,000, about 27 min extrapolated for 10,000.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv6Address, ip_network
from pathlib import Path

from metallb.frr import render as frr_render
from metallb.lab.netlab import Host, Netlab
from metallb.lab.routers import BIRD, FRR_BIN, FRR_RUN, Neighbor, remove_frr_rundirs, wait_for
from metallb.net.frr import FRRBackend, FRRTarget
from metallb.speaker.bgp_decision import Route

BENCH = "bgp_advertise"
ASN = 64512
ROUTER, NODE = "192.0.2.1", "192.0.2.10"
POLL_LIMIT = 60.0  # seconds any phase may take before the run is abandoned


def emit(metric: str, value: float, unit: str, **params: object) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": value, "unit": unit, **params}))


def prefixes(count: int) -> list[str]:
    """The same /128s the demo's --generate-v6 produces."""
    base = int(IPv6Address("2001:db8:100::"))
    return [f"{IPv6Address(base + i + 1)}/128" for i in range(count)]


def received(bird: BIRD) -> int:
    out = bird.birdc("show", "route", "protocol", "peer0", "count")
    match = re.search(r"Total: (\d+) of", out)
    return int(match.group(1)) if match else 0


def wait_count(bird: BIRD, target: int) -> float:
    """Poll until BIRD holds ``target`` routes from the speaker; the monotonic time then."""
    deadline = time.monotonic() + POLL_LIMIT
    while time.monotonic() < deadline:
        if received(bird) == target:
            return time.monotonic()
    raise TimeoutError(f"BIRD did not reach {target} routes in {POLL_LIMIT} s")


def events(log: Path, name: str) -> list[dict[str, object]]:
    lines = log.read_text().splitlines() if log.exists() else []
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in found if e.get("event") == name]


def established_at(log: Path) -> float | None:
    ups = [e for e in events(log, "transition") if e["new"] == "Established" != e["old"]]
    return float(str(ups[0]["monotonic"])) if ups else None


def start_speaker(node: Host, log: Path, *args: str) -> None:
    argv = [sys.executable, "-m", "bench.bgp_demo", "--peer", ROUTER]
    argv += ["--local-asn", str(ASN), "--peer-asn", str(ASN), "--lifetime", "300", *args]
    node.start(*argv, log=log)


def updates_sent(log: Path) -> int:
    reports = events(log, "updates")
    return int(str(reports[-1]["updates_sent"])) if reports else 0


def one_run(count: int, run: int, workdir: Path) -> None:
    workdir.mkdir(parents=True)
    with Netlab() as lab:
        lan = lab.add_lan("lan")
        router_host, node = lab.add_host("router"), lab.add_host("node")
        lab.connect(router_host, lan, "eth0", [f"{ROUTER}/24", "2001:db8::1/64"])
        lab.connect(node, lan, "eth0", [f"{NODE}/24", "2001:db8::10/64"])
        bird = BIRD(router_host, workdir, ASN, ROUTER, [Neighbor(NODE, ASN)], hold_time=90)
        bird.start()
        params = {"prefixes": count, "peer": "bird", "family": "ipv6", "run": run}

        # 1. Everything desired before the session exists.
        log = workdir / "established.log"
        start_speaker(node, log, "--generate-v6", str(count))
        done = wait_count(bird, count)
        t0 = wait_for("Established in the log", lambda: established_at(log), 10)
        updates = wait_for("the UPDATE count", lambda: updates_sent(log) or None, 10)
        emit("seconds_to_full_table", done - t0, "s", start="established", **params)
        emit("update_messages", updates, "count", start="established", **params)
        bird.stop()
        for proc in list(lab.processes):
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)

        # 2. Session up and empty, then one set() of everything, then one of nothing.
        bird.start()
        log = workdir / "set.log"
        listing = workdir / "prefixes.txt"
        start_speaker(node, log, "--prefixes-file", str(listing))
        wait_for("Established in the log", lambda: established_at(log), 20)
        staged = workdir / "prefixes.tmp"
        staged.write_text("\n".join(prefixes(count)) + "\n")
        staged.rename(listing)
        done = wait_count(bird, count)
        sets = wait_for("the set() stamp", lambda: events(log, "set")[1:] or None, 10)
        t0 = float(str(sets[0]["monotonic"]))
        emit("seconds_to_full_table", done - t0, "s", start="set", **params)
        emit("update_messages", updates_sent(log), "count", start="set", **params)
        before = updates_sent(log)
        staged.write_text("")
        staged.rename(listing)
        gone = wait_count(bird, 0)
        sets = wait_for("the empty set()", lambda: events(log, "set")[2:] or None, 10)
        emit("withdraw_seconds", gone - float(str(sets[0]["monotonic"])), "s", **params)
        withdrawals = wait_for(
            "the withdrawal count", lambda: (updates_sent(log) - before) or None, 10
        )
        emit("withdraw_update_messages", withdrawals, "count", **params)


def node_state(count: int, first: int = 0) -> frr_render.NodeConfig:
    """The node's FRR state: one iBGP neighbour (BIRD) carrying ``count`` /128s."""
    routes = tuple(Route(ip_network(p)) for p in prefixes(first + count)[first:])
    peer = frr_render.Neighbor(
        "bird", ROUTER, "", str(ASN), hold_time=90, dual_stack=True, routes=routes
    )
    return frr_render.NodeConfig("node", (frr_render.Router(ASN, "", NODE, (peer,)),))


def start_node_frr(node: Host, workdir: Path) -> None:
    """zebra and bgpd in the node namespace, with a path space of their own."""
    rundir = FRR_RUN / node.netns
    rundir.mkdir(parents=True, exist_ok=True)
    shutil.chown(rundir, "frr", "frr")
    conf = rundir / "frr.conf"
    conf.write_text("frr defaults traditional\nhostname node\n")
    conf.chmod(0o644)
    for daemon in ("zebra", "bgpd"):
        argv = [str(FRR_BIN / daemon), "-N", node.netns, "-f", str(conf)]
        node.start(*argv, "-i", str(rundir / f"{daemon}.pid"), log=workdir / "frr.out")
        if daemon == "zebra":
            wait_for("zebra socket", (rundir / "zserv.api").exists, 10)
    wait_for("bgpd socket", (rundir / "bgpd.vty").exists, 10)


class FRRColumn:
    """One FRR-backend measurement: a backend and BIRD."""

    def __init__(self, backend: FRRBackend, bird: BIRD, params: dict[str, object]):
        self.backend, self.bird = backend, bird
        self.params = {**params, "speaker": "frr"}

    def text(self, state: frr_render.NodeConfig) -> str:
        return frr_render.render(state)

    def phase(self, phase: str, state: frr_render.NodeConfig, count: int) -> None:
        """Apply ``state`` now; report the apply and the time until BIRD holds ``count``."""
        t0 = time.monotonic()
        text = self.text(state)
        t1 = time.monotonic()
        asyncio.run(self.backend.apply(text))
        applied = time.monotonic() - t1
        done = wait_count(self.bird, count)
        p = {**self.params, "phase": phase, "mode": self.backend.mode}
        emit("render_seconds", round(t1 - t0, 4), "s", **p)
        emit("apply_seconds", round(applied, 4), "s", **p)
        emit("seconds_to_bird", round(done - t1, 4), "s", **p)


def frr_run(count: int, run: int, workdir: Path) -> None:
    """An FRR-backend column: same LAN, same BIRD, FRR on the node."""
    workdir.mkdir(parents=True)
    with Netlab() as lab:
        try:
            lan = lab.add_lan("lan")
            router_host, node = lab.add_host("router"), lab.add_host("node")
            lab.connect(router_host, lan, "eth0", [f"{ROUTER}/24", "2001:db8::1/64"])
            lab.connect(node, lan, "eth0", [f"{NODE}/24", "2001:db8::10/64"])
            bird = BIRD(router_host, workdir, ASN, ROUTER, [Neighbor(NODE, ASN)], hold_time=90)
            bird.start()
            start_node_frr(node, workdir)
            params = {"prefixes": count, "peer": "bird", "family": "ipv6", "run": run}
            target = FRRTarget(workdir / "backend", node.netns, timeout=3600)
            target.workdir.mkdir()
            target.prepare()
            col = FRRColumn(FRRBackend(target, debounce=0), bird, params)
            asyncio.run(col.backend.apply(col.text(node_state(0))))
            wait_for("BIRD session", lambda: bird.established(NODE), 30)
            col.phase("initial", node_state(count), count)
            col.phase("add_one", node_state(count + 1), count + 1)
            col.phase("remove_one", node_state(count, first=1), count)
            col.backend = FRRBackend(target, debounce=0)  # a restarted speaker
            col.phase("restart", node_state(count, first=1), count)
            col.phase("withdraw", node_state(0), 0)
        finally:
            lab.close()
            remove_frr_rundirs(lab.tag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefixes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-frr", action="store_true", help="skip the FRR-backend columns")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bgp-") as tmp:
        Path(tmp).chmod(0o755)
        for run in range(args.runs):
            try:
                one_run(args.prefixes, run, Path(tmp) / f"run{run}")
            except (TimeoutError, subprocess.SubprocessError) as err:
                emit("error", 1, "count", run=run, reason=str(err))
            if args.no_frr:
                continue
            try:
                frr_run(args.prefixes, run, Path(tmp) / f"frr{run}")
            except (TimeoutError, subprocess.SubprocessError, OSError) as err:
                emit("error", 1, "count", run=run, speaker="frr", reason=str(err))


if __name__ == "__main__":
    main()
