"""Allocator benchmark: cost per allocation as the number of Services grows.

Run `python -m bench.allocator`. Prints JSON lines `{"bench", "metric", "value", "unit",
...params}`; never asserts a time. Each case converges N new Services through
two paths, with requests built before the clock starts: `path=allocate` calls
`Allocator.allocate` (the data structure: pool choice, free/shareable IP, assignment) and
`path=converge` calls `metallb.ipam.converge` (the controller's whole path: clusterIP
family, status checks, events with rendered IPs, then the allocation). Each case runs REPEATS
times on a fresh allocator and reports the fastest run, by wall clock and by process CPU
time (the CPU figure is less disturbed by other load on a shared machine), plus the
resident memory the allocator added and the process's peak.

Cases: one IPv4 /8 pool, one IPv6 /64 pool (1k, 10k, 100k Services each) and 10k
Services over 50 namespace- and label-restricted pools with priorities.
"""

from __future__ import annotations

import gc
import json
import resource
import time
from collections.abc import Sequence

from metallb.config.selectors import Selector
from metallb.ipam import (
    AllocationError,
    Allocator,
    Family,
    Pool,
    Port,
    ServiceAllocation,
    ServiceRequest,
    converge,
    pool_from_strings,
)

SIZES = (1_000, 10_000, 100_000)
REPEATS = 3


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Current resident set size, in MiB (Linux /proc; benchmarks may read files)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def emit(bench: str, metric: str, value: float, unit: str, **params: object) -> None:
    print(json.dumps({"bench": bench, "metric": metric, "value": value, "unit": unit, **params}))


def requests(n: int, cluster_ip: str, namespaces: int = 1) -> list[ServiceRequest]:
    return [
        ServiceRequest(
            namespace=f"ns{i % namespaces}",
            name=f"svc{i}",
            cluster_ips=(cluster_ip,),
            ports=(Port("TCP", 80),),
            labels={"app": f"a{i % 7}"},
        )
        for i in range(n)
    ]


def run(
    bench: str,
    pools: Sequence[Pool],
    reqs: Sequence[ServiceRequest],
    family: Family,
    **params: object,
) -> None:
    for path in ("allocate", "converge"):
        measure(bench, pools, reqs, family, path=path, **params)


def measure(
    bench: str,
    pools: Sequence[Pool],
    reqs: Sequence[ServiceRequest],
    family: Family,
    **params: object,
) -> None:
    best_wall = best_cpu = float("inf")
    failures = 0
    grown = 0.0
    for _ in range(REPEATS):
        alloc = Allocator()
        alloc.set_pools(pools)
        gc.collect()
        before = rss_mib()
        wall, cpu = time.perf_counter(), time.process_time()
        if params["path"] == "converge":
            failures = sum(converge(alloc, req).error is not None for req in reqs)
        else:
            failures = 0
            for req in reqs:
                try:
                    alloc.allocate(req, family)
                except AllocationError:
                    failures += 1
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        grown = rss_mib() - before
        del alloc
    n = len(reqs)
    common = {"services": n, **params}
    emit(bench, "total", round(best_wall, 4), "s", failures=failures, **common)
    emit(bench, "total_cpu", round(best_cpu, 4), "s", **common)
    emit(bench, "per_allocation", round(best_wall / n * 1e6, 2), "us", **common)
    emit(bench, "per_allocation_cpu", round(best_cpu / n * 1e6, 2), "us", **common)
    emit(bench, "rss_allocator", round(grown, 1), "MiB", **common)
    emit(bench, "rss_peak", round(peak_rss_mib(), 1), "MiB", **common)


def selector_pools(count: int) -> list[Pool]:
    """Pools restricted by namespace or by label, half with priorities, plus one open pool."""
    pools = []
    for i in range(count - 1):
        if i % 2:
            sa = ServiceAllocation(priority=i % 5, namespaces=frozenset({f"ns{i % 10}"}))
        else:
            sel = Selector.of({"app": f"a{i % 7}"})
            sa = ServiceAllocation(priority=i % 3, service_selectors=(sel,))
        pools.append(pool_from_strings(f"pool{i:02d}", [f"10.{i}.0.0/24"], allocation=sa))
    pools.append(pool_from_strings("open", ["10.200.0.0/16"]))
    return pools


def main() -> None:
    v4 = [pool_from_strings("v4", ["10.0.0.0/8"], avoid_buggy_ips=True)]
    v6 = [pool_from_strings("v6", ["2001:db8::/64"])]
    # Warm-up (not reported): the first thousands of calls pay for imports, caches and
    # allocator arenas, which would make the small cases look slower than they are.
    for path in ("allocate", "converge"):
        warm = Allocator()
        warm.set_pools(v4)
        for req in requests(10_000, "10.96.0.1"):
            warm.allocate(req, Family.IPV4) if path == "allocate" else converge(warm, req)
    for n in SIZES:
        run("allocator", v4, requests(n, "10.96.0.1"), Family.IPV4, pool="ipv4 /8")
    for n in SIZES:
        run("allocator", v6, requests(n, "fd00::1"), Family.IPV6, pool="ipv6 /64")
    reqs = requests(10_000, "10.96.0.1", 10)
    run("allocator", selector_pools(50), reqs, Family.IPV4, pool="50 selector pools")


if __name__ == "__main__":
    main()
