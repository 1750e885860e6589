"""Membership benchmark: how fast a dead speaker is declared dead, and false deaths under load.

Run `python -m bench.membership [--trials N] [--load-seconds S]` as root. Builds a netlab
LAN (documentation-range addresses, namespaces removed on exit) with three members, each
`python -m bench.membership_demo` in its own namespace with the default timing,
then measures:

* `detect_sigkill`: SIGKILL one member; seconds until *every* survivor has declared it
  dead (the Layer 2 election can move its IPs once the next owner knows). The victim is
  restarted and the cluster re-converges between trials.
* `detect_link_down`: the same with the member's LAN link set down (process still
  running); the link comes back up between trials.
* `false_deaths_under_load`: every namespace also runs busy-loop processes (two per
  member on this machine's CPUs) for S seconds; counts members declared dead (should be
  0), and reports suspicions and refutations (slow acks that were absorbed).

Times come from `time.monotonic()`, which the demo prints on every line and which all
processes on one machine share. Prints JSON lines `{"bench", "metric", "value", "unit",
...}`; never asserts a time. :class:`MembershipLab` is also the integration tests' harness.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from metallb.lab.built import built_dir
from metallb.lab.netlab import Host, Netlab
from metallb.membership import MembershipConfig

T = TypeVar("T")
# What a member runs: our demo ("py") or tools/mlpeer, a hashicorp/memberlist peer
# configured as upstream's speaker ("go"); both write the same JSON lines.
PY, GO = "py", "go"
SECRET = b"c2VjcmV0LWZvci10aGUtbGFi"  # shaped like upstream's: base64 of random bytes
BUSY_LOOP = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` every 20 ms until it returns a value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Member:
    """One member process in its namespace (``kind`` PY or GO), and the JSON lines it
    has written."""

    name: str
    host: Host
    ip: str
    log: Path
    proc: Any = None
    kind: str = PY
    _parsed: list[dict[str, Any]] = field(default_factory=list)
    _offset: int = 0

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON line so far; reads only what was appended since the last call, so
        polling does not steal CPU from the members being measured."""
        if not self.log.exists():
            return self._parsed
        with self.log.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            if line.startswith("{") and line.endswith("}"):
                self._parsed.append(json.loads(line))
        return self._parsed

    def events(self, kind: str, about: str | None = None, after: float = 0.0) -> list[Any]:
        return [
            e
            for e in self.lines()
            if e["type"] == kind and (about is None or e.get("name") == about) and e["mono"] > after
        ]

    def stats(self) -> dict[str, Any] | None:
        found = self.events("stats")
        return found[-1] if found else None

    def view(self) -> set[str] | None:
        """Members in this process's latest stats line (its live members)."""
        s = self.stats()
        return set(s["members"]) if s else None


def mlpeer() -> Path:
    """The built ``tools/mlpeer`` binary (``$METALLB_MLPEER_BIN``, else built now)."""
    return built_dir("tools/mlpeer/build.sh", "METALLB_MLPEER_BIN", timeout=900) / "mlpeer"


class MembershipLab:
    """N members on one LAN, each a process in its namespace; closes everything.

    ``kinds`` gives each of the first members' kind (PY, the default, or GO)."""

    def __init__(
        self,
        workdir: Path,
        n: int = 3,
        *,
        stats_interval: float = 0.2,
        kinds: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.n = n
        self.stats_interval = stats_interval
        self.kinds = kinds
        self.members: dict[str, Member] = {}
        self.net = Netlab()
        self._lan = None

    def __enter__(self) -> MembershipLab:
        self.net.__enter__()
        lan = self.net.add_lan("lan")
        for i in range(self.n):
            kind = self.kinds[i] if i < len(self.kinds) else PY
            self.add_host(f"node-{i}", lan_name=lan.name, kind=kind)
        for m in list(self.members.values()):
            self.start(m.name)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.net.close()

    def add_host(self, name: str, *, lan_name: str = "lan", kind: str = PY) -> Member:
        host = self.net.add_host(name)
        ip = f"192.0.2.{10 + len(self.members)}"
        self.net.connect(host, self.net.lans[lan_name], "eth0", [f"{ip}/24"])
        member = Member(name, host, ip, self.workdir / f"{name}.log", kind=kind)
        self.members[name] = member
        return member

    def start(
        self,
        name: str,
        *,
        secret: bytes = SECRET,
        kind: str | None = None,
        program: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> Member:
        """Start (or restart) the member's process, seeded with every other member.

        ``kind`` (default: the member's) picks our demo or the Go peer and becomes the
        member's kind; ``program`` replaces the command before the common flags (another
        program taking them), ``extra`` is appended after them."""
        m = self.members[name]
        m.kind = kind or m.kind
        secret_file = self.workdir / f"{name}.secret"
        secret_file.write_bytes(secret)
        seeds = [f"--seed={o.ip}" for o in self.members.values() if o.name != name]
        if program:
            argv = list(program)
        elif m.kind == GO:
            argv = [str(mlpeer())]
        else:
            argv = [sys.executable, "-m", "bench.membership_demo"]
        m.proc = m.host.start(
            *argv,
            f"--name={name}",
            f"--advertise={m.ip}",
            f"--secret-file={secret_file}",
            f"--stats-interval={self.stats_interval}",
            *seeds,
            *extra,
            log=m.log,
        )
        return m

    def kill(self, name: str) -> float:
        """SIGKILL the member's process; returns the monotonic time just before."""
        proc = self.members[name].proc
        t = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return t

    def live(self) -> list[Member]:
        return [m for m in self.members.values() if m.proc is not None and m.proc.poll() is None]

    def converged(self, names: set[str], since: float) -> bool:
        """Every member in ``names`` reported, after ``since``, seeing exactly ``names``."""
        for name in names:
            s = self.members[name].stats()
            if s is None or s["mono"] <= since or set(s["members"]) != names:
                return False
        return True

    def wait_converged(self, names: set[str], timeout: float = 20.0) -> None:
        since = time.monotonic()  # stats written before now may predate a kill or restart
        wait_for(
            lambda: True if self.converged(names, since) else None, timeout, f"{names} to agree"
        )

    def declared_dead_by_all(
        self, victim: str, since: float, observers: Iterable[str] | None = None
    ) -> float | None:
        """Seconds from ``since`` until the last of ``observers`` (default: every other
        member still running) declared ``victim`` down."""
        times: list[float] = []
        for m in self.live() if observers is None else [self.members[n] for n in observers]:
            if m.name == victim:
                continue
            downs = m.events("down", victim, after=since)
            if not downs:
                return None
            times.append(float(downs[0]["mono"]))
        return max(times) - since if times else None

    @contextmanager
    def cpu_load(self, per_member: int) -> Iterator[None]:
        """Busy-loop processes in every member's namespace (stopped on exit)."""
        procs = [
            m.host.start(sys.executable, "-c", BUSY_LOOP)
            for m in self.members.values()
            for _ in range(per_member)
        ]
        try:
            yield
        finally:
            for p in procs:
                p.kill()
                p.wait(10)


def emit(metric: str, value: float, unit: str, **params: object) -> None:
    emit_for("membership", metric, value, unit, params)


def emit_for(
    bench: str, metric: str, value: float, unit: str, params: Mapping[str, object]
) -> None:
    line = {"bench": bench, "metric": metric, "value": value, "unit": unit, **params}
    print(json.dumps(line), flush=True)


def summarize(metric: str, samples: list[float], **params: object) -> None:
    summarize_for("membership", metric, samples, params)


def summarize_for(
    bench: str, metric: str, samples: list[float], params: Mapping[str, object]
) -> None:
    """p50, p90, p99 and max of ``samples`` (seconds) as ``metric_<label>`` lines."""
    if not samples:
        emit_for(bench, metric, float("nan"), "s", {"trials": 0, **params})
        return
    qs = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else []
    for label, value in (
        ("p50", statistics.median(samples)),
        ("p90", qs[89] if qs else samples[0]),
        ("p99", qs[98] if qs else samples[0]),
        ("max", max(samples)),
    ):
        trials = {"trials": len(samples), **params}
        emit_for(bench, f"{metric}_{label}", round(value, 4), "s", trials)


def run(trials: int, load_seconds: float, busy_per_member: int) -> None:
    cfg = MembershipConfig()
    params = {
        "members": 3,
        "probe_interval": cfg.probe_interval,
        "probe_timeout": cfg.probe_timeout,
        "suspicion_timeout": cfg.suspicion_timeout(3),
    }
    emit("predicted_worst_case", round(cfg.detection_bound(3), 4), "s", **params)
    with tempfile.TemporaryDirectory() as tmp, MembershipLab(Path(tmp)) as lab:
        names = set(lab.members)
        lab.wait_converged(names)
        victim = "node-0"
        kills, links = [], []
        for _ in range(trials):
            t0 = lab.kill(victim)
            kills.append(wait_for(partial(lab.declared_dead_by_all, victim, t0), 15, "death"))
            lab.start(victim)
            lab.wait_converged(names)
        summarize("detect_sigkill", kills, **params)
        host = lab.members[victim].host
        for _ in range(trials):
            t0 = time.monotonic()
            host.link_set("eth0", "down")
            links.append(wait_for(partial(lab.declared_dead_by_all, victim, t0), 15, "death"))
            host.link_set("eth0", "up")
            lab.wait_converged(names)
        summarize("detect_link_down", links, **params)
        start = time.monotonic()
        before = {m.name: m.stats() or {} for m in lab.members.values()}
        with lab.cpu_load(busy_per_member):
            time.sleep(load_seconds)
        time.sleep(1.0)
        deaths = sum(len(m.events("down", after=start)) for m in lab.members.values())
        load = {"load_seconds": load_seconds, "busy_loops_per_member": busy_per_member}
        load["cpus"] = os.cpu_count() or 0
        emit("false_deaths_under_load", deaths, "count", **params, **load)
        for key in ("suspicions", "refutations", "probe_failures"):
            metric = f"metallb_memberlist_{key}_total"
            total = sum(
                (m.stats() or {}).get(metric, 0) - before[m.name].get(metric, 0)
                for m in lab.members.values()
            )
            emit(f"{key}_under_load", total, "count", **params, **load)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--load-seconds", type=float, default=30.0)
    p.add_argument("--busy-per-member", type=int, default=2)
    args = p.parse_args()
    run(args.trials, args.load_seconds, args.busy_per_member)


if __name__ == "__main__":
    main()
