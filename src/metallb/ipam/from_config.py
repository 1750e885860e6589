"""The allocator's view of a validated configuration.

The configuration keeps addresses as ``ipaddress`` objects and the user's text; the
allocator works on plain integers per family. This is the one place that maps one to
the other, so the controller and ``metallb plan`` feed the allocator the same pools.
"""

from __future__ import annotations

from metallb.config.types import Config
from metallb.config.types import Pool as ConfigPool
from metallb.ipam.addresses import AddressRange
from metallb.ipam.model import Pool, ServiceAllocation


def pool_from_config(pool: ConfigPool) -> Pool:
    """One configured pool as the allocator sees it, ranges in configuration order."""
    ranges = tuple(AddressRange.of(r) for r in pool.ranges)
    alloc = pool.service_allocation
    return Pool(
        name=pool.name,
        ranges=ranges,
        avoid_buggy_ips=pool.avoid_buggy_ips,
        auto_assign=pool.auto_assign,
        allocation=None
        if alloc is None
        else ServiceAllocation(
            priority=alloc.priority,
            namespaces=alloc.namespaces,
            namespace_selectors=alloc.namespace_selectors,
            service_selectors=alloc.service_selectors,
        ),
    )


def pools_from_config(config: Config) -> list[Pool]:
    """Every configured pool, in configuration order."""
    return [pool_from_config(p) for p in config.pools]
