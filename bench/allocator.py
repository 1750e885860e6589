"""Allocator benchmark: cost per allocation as the number of Services grows.

Run `python -m bench.allocator`. Prints JSON lines `{"bench", "metric", "value", "unit",
...params}`; never asserts a time. Each case converges N new Services through
`metallb.ipam.converge` (the controller's path: family checks, pool choice, sharing
check, assignment), with requests built before the clock starts.

Cases: one IPv4 /8 pool, one IPv6 /64 pool (1k, 10k, 100k Services each) and 10k
Services over 50 namespace- and label-restricted pools with priorities.
"""

from __future__ import annotations

import gc
import json
import resource
import time
from collections.abc import Sequence

from metallb.ipam import (
    Allocator,
    LabelSelector,
    Pool,
    Port,
    ServiceAllocation,
    ServiceRequest,
    converge,
    pool_from_strings,
)

SIZES = (1_000, 10_000, 100_000)


def rss_mib() -> float:
    """Peak resident set size of this process, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    bench: str, pools: Sequence[Pool], reqs: Sequence[ServiceRequest], **params: object
) -> None:
    alloc = Allocator()
    alloc.set_pools(pools)
    gc.collect()
    start = time.perf_counter()
    failures = 0
    for req in reqs:
        if converge(alloc, req).error is not None:
            failures += 1
    elapsed = time.perf_counter() - start
    n = len(reqs)
    emit(bench, "total", round(elapsed, 4), "s", services=n, failures=failures, **params)
    emit(bench, "per_allocation", round(elapsed / n * 1e6, 2), "us", services=n, **params)
    emit(bench, "rss_peak", round(rss_mib(), 1), "MiB", services=n, **params)


def selector_pools(count: int) -> list[Pool]:
    """Pools restricted by namespace or by label, half with priorities, plus one open pool."""
    pools = []
    for i in range(count - 1):
        if i % 2:
            sa = ServiceAllocation(priority=i % 5, namespaces=frozenset({f"ns{i % 10}"}))
        else:
            sel = LabelSelector(match_labels=(("app", f"a{i % 7}"),))
            sa = ServiceAllocation(priority=i % 3, service_selectors=(sel,))
        pools.append(pool_from_strings(f"pool{i:02d}", [f"10.{i}.0.0/24"], allocation=sa))
    pools.append(pool_from_strings("open", ["10.200.0.0/16"]))
    return pools


def main() -> None:
    v4 = [pool_from_strings("v4", ["10.0.0.0/8"], avoid_buggy_ips=True)]
    v6 = [pool_from_strings("v6", ["2001:db8::/64"])]
    for n in SIZES:
        run("allocator", v4, requests(n, "10.96.0.1"), pool="ipv4 /8")
    for n in SIZES:
        run("allocator", v6, requests(n, "fd00::1"), pool="ipv6 /64")
    run(
        "allocator", selector_pools(50), requests(10_000, "10.96.0.1", 10), pool="50 selector pools"
    )


if __name__ == "__main__":
    main()
