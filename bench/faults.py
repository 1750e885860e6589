"""Shared pieces of the fault benchmarks (``bench/faults_*.py``): CPU time of a process
from ``/proc/<pid>/stat``, percentiles, JSON-line output, and a paced sender loop.

Each fault bench runs one bounded scenario inside namespaces it creates (Netlab), returns
its figures as a dict (the integration tests in ``tests/integration/net/test_faults_*.py``
assert on the same dict) and prints them as JSON lines ``{"bench", "metric", "value",
"unit", ...}``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (fields 14 and 15 of its stat line)."""
    stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 - one short read
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuMeter:
    """CPU share (1.0 = one core) of a set of processes over a window."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._start = time.monotonic()
        self._cpu = [cpu_seconds(p) for p in pids]

    def shares(self) -> list[float]:
        elapsed = max(1e-6, time.monotonic() - self._start)
        return [
            (cpu_seconds(p) - before) / elapsed
            for p, before in zip(self.pids, self._cpu, strict=True)
        ]


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def paced(send: Callable[[int], None], rate: float, seconds: float, batch: int = 64) -> int:
    """Call ``send(i)`` about ``rate`` times a second for ``seconds`` (at most
    ``rate * seconds`` calls); returns the number of calls. Sleeps only when ahead."""
    total = int(rate * seconds)
    start = time.monotonic()
    end = start + seconds
    sent = 0
    while sent < total:
        now = time.monotonic()
        if now >= end:
            break
        due = start + sent / rate
        if now < due:
            time.sleep(due - now)
        for _ in range(min(batch, total - sent)):
            send(sent)
            sent += 1
    return sent


def emit(bench: str, metric: str, value: float | None, unit: str, **params: object) -> None:
    line = {"bench": bench, "metric": metric, "value": value, "unit": unit, **params}
    print(json.dumps(line), flush=True)
