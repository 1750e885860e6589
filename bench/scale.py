"""Scale benchmark (issue 18): a speaker at 100-1,000 nodes and 1,000-10,000 Services.

Run ``python -m bench.scale [--nodes 100,300,1000] [--services 1000,10000] [--repeats N]
[--parts election,rss,membership,udp]`` from the repository root (``udp`` needs root: it
makes a network namespace of its own). Prints JSON lines ``{"bench": "scale", "metric",
"value", "unit", ...params}`` and, at the end, a Markdown table on stderr; never asserts
a time. The machine's CPUs may be shared: figures are medians, and ratios between two
paths measured in the same run are the robust part.

* ``election`` (:mod:`bench.scale_election`): from a membership or Node change to a
  decided, applied announcement table, in the real speaker adapter with simulated ends;
  the plain election (before) and the incremental one (after) side by side, with a
  check that their tables are identical after every event.
* ``rss``: the speaker's resident memory with N nodes and S Services in its caches, in a
  fresh process per size (so sizes do not inherit each other's heap), beside the same
  process before anything is built.
* ``membership`` (:mod:`bench.scale_membership`): the SWIM core simulated at N members
  (discrete events, explicit time, LAN latency): seconds from a crash until the first
  and the last survivor declare it dead, and bytes per second each member sends.
* ``udp``: the same on real UDP/TCP sockets on the loopback of a private network
  namespace, with fewer members (one Python process runs them all, so the count is
  bounded by this process's CPU, not by the protocol): detection and bytes on the wire.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from bench import scale_election as el
from bench import scale_membership

RESULTS: list[dict[str, Any]] = []


def emit(metric: str, value: float, unit: str, **params: Any) -> None:
    line = {"bench": "scale", "metric": metric, "value": round(value, 6), "unit": unit, **params}
    RESULTS.append(line)
    print(json.dumps(line), flush=True)


def progress(text: str) -> None:
    print(f"# {text}", file=sys.stderr, flush=True)


def vm_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- (a) election ------------------------------------------------------------------------


async def election_part(nodes: int, services: int, repeats: dict[str, int]) -> None:
    progress(f"election: building {nodes} nodes x {services} Services")
    cluster = el.Cluster(nodes, services)
    speakers = {}
    for path in repeats:
        t0 = asyncio.get_running_loop().time()
        speakers[path] = await el.build_speaker(cluster, incremental=path == "incremental")
        sync = asyncio.get_running_loop().time() - t0
        emit("initial_pass", sync, "s", nodes=nodes, services=services, path=path)
        progress(f"election: {path} speaker synced in {sync:.1f} s")
    timings, identical, changes = await el.run_events(cluster, speakers, repeats)
    params = {"nodes": nodes, "services": services}
    for (path, event), t in sorted(timings.items()):
        emit(
            "change_to_applied_table",
            el.median(t.seconds),
            "s",
            **params,
            path=path,
            event=event,
            reconciles=int(el.median([float(r) for r in t.reconciles])),
            samples=len(t.seconds),
        )
        emit(
            "change_to_applied_table_cpu",
            el.median(t.cpu),
            "s",
            **params,
            path=path,
            event=event,
            samples=len(t.cpu),
        )
    for event in ("leave", "join", "node_update"):
        plain = timings.get(("plain", event))
        fast = timings.get(("incremental", event))
        if plain and fast:
            ratio = el.median(plain.seconds) / el.median(fast.seconds)
            emit("speedup", ratio, "x", **params, event=event)
    emit("tables_identical", float(identical), "bool", **params)
    emit("own_table_changes_incremental", changes, "count", **params)


# -- (c) RSS -----------------------------------------------------------------------------


def rss_child(nodes: int, services: int) -> None:
    """In a fresh process: RSS after the imports, then with a synced speaker."""
    before = vm_rss_mib()

    async def build() -> float:
        cluster = el.Cluster(nodes, services)
        speaker, _ = await el.build_speaker(cluster, incremental=True)
        del cluster  # the speaker's caches keep what a real speaker keeps
        assert speaker.announced is not None
        return vm_rss_mib()

    after = asyncio.run(build())
    print(json.dumps({"before": before, "after": after}))


def rss_part(nodes: int, services: int) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--rss-child", f"{nodes},{services}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    params = {"nodes": nodes, "services": services}
    emit("speaker_rss", figures["after"], "MiB", **params)
    emit("process_rss_before_objects", figures["before"], "MiB", **params)


# -- table -------------------------------------------------------------------------------


def markdown() -> str:
    """The README's table: one row per size."""

    def get(metric: str, **params: Any) -> float | None:
        for r in RESULTS:
            if r["metric"] == metric and all(r.get(k) == v for k, v in params.items()):
                return float(r["value"])
        return None

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.1f}"

    sizes = sorted({(r["nodes"], r["services"]) for r in RESULTS if "services" in r})
    rows = [
        "| nodes | Services | leave, plain (ms) | leave, incremental (ms) | join, incr. (ms) "
        "| Node update, plain / incr. (ms) | speaker RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, s in sizes:
        p = {"nodes": n, "services": s}
        rss = get("speaker_rss", **p)
        rows.append(
            f"| {n} | {s} | {ms(get('change_to_applied_table', **p, path='plain', event='leave'))}"
            f" | {ms(get('change_to_applied_table', **p, path='incremental', event='leave'))}"
            f" | {ms(get('change_to_applied_table', **p, path='incremental', event='join'))}"
            f" | {ms(get('change_to_applied_table', **p, path='plain', event='node_update'))}"
            f" / {ms(get('change_to_applied_table', **p, path='incremental', event='node_update'))}"
            f" | {'-' if rss is None else f'{rss:.0f}'} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", default="100,300,1000")
    ap.add_argument("--services", default="1000,10000")
    ap.add_argument("--repeats", type=int, default=5, help="events per kind, incremental")
    ap.add_argument("--plain-repeats", type=int, default=1, help="events per kind, plain")
    ap.add_argument("--parts", default="election,rss,membership,udp")
    ap.add_argument("--paths", default="plain,incremental", help="election paths to run")
    ap.add_argument("--members", default="100,300,1000", help="simulated membership sizes")
    ap.add_argument("--udp-members", default="10,30", help="members on real sockets")
    ap.add_argument("--sim-drain", type=float, help="simulated s before counting bytes")
    ap.add_argument("--sim-window", type=float, default=5.0, help="simulated s of counting")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    ap.add_argument("--udp-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rss_child:
        n, s = (int(x) for x in args.rss_child.split(","))
        rss_child(n, s)
        return
    if args.udp_child:
        scale_membership.udp_child(int(args.udp_child))
        return
    parts = set(args.parts.split(","))
    sizes = [(int(n), int(s)) for n in args.nodes.split(",") for s in args.services.split(",")]
    for n, s in sizes:
        if "election" in parts:
            repeats = {"plain": args.plain_repeats, "incremental": args.repeats}
            paths = args.paths.split(",")
            asyncio.run(election_part(n, s, {p: r for p, r in repeats.items() if p in paths}))
        if "rss" in parts:
            rss_part(n, s)
    if "membership" in parts:
        for m in (int(x) for x in args.members.split(",")):
            scale_membership.simulated(
                m, emit, progress, drain=args.sim_drain, window=args.sim_window
            )
    if "udp" in parts:
        if os.geteuid() != 0:
            progress("udp: skipped (needs root for a private network namespace)")
        for m in (int(x) for x in args.udp_members.split(",")) if os.geteuid() == 0 else ():
            scale_membership.udp(m, emit, progress)
    print(markdown(), file=sys.stderr)


if __name__ == "__main__":
    main()
