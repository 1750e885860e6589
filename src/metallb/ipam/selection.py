"""Which pools a Service may use, and in which order automatic allocation tries them.

Upstream leaves two orders to chance: pinned pools of equal priority (`sort.Slice` with
a non-strict comparator over a list built from a Go map) and the fallback over
unrestricted pools (Go map iteration, random on every call). We are deterministic:

* pinned pools: priority > 0 first, ascending; then priority 0; ties by pool name;
* fallback pools (autoAssign, no serviceAllocation at all): by pool name.

Namespace selectors are resolved against the Namespaces known when the pools are loaded,
as upstream does, except that the Service's own namespace is always judged by the labels
in its request (so a request from a namespace the allocator was not told about still
works). A pool whose selectors resolve to no namespace at all has no namespace
restriction: an upstream quirk kept for compatibility.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from metallb.config.selectors import Selector
from metallb.ipam.addresses import pool_capacity
from metallb.ipam.model import MATCH_EVERYTHING, Pool, ServiceRequest


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """A loaded pool with what is derived from it once per configuration."""

    pool: Pool
    pinnable: bool
    names: frozenset[str]
    namespace_selectors: tuple[Selector, ...]
    resolved: frozenset[str]
    service_selectors: tuple[Selector, ...]
    capacity_v4: int
    capacity_v6: int

    @classmethod
    def load(cls, pool: Pool, namespaces: Mapping[str, Mapping[str, str]]) -> PoolInfo:
        """Resolve selectors against `namespaces` (name -> labels) and count capacity."""
        sa = pool.allocation
        v4, v6 = pool_capacity(pool.ranges, avoid_buggy_ips=pool.avoid_buggy_ips)
        if sa is None:
            return cls(pool, False, frozenset(), (), frozenset(), (), v4, v6)
        svc_selectors = sa.service_selectors
        if not (sa.namespaces or sa.namespace_selectors or sa.service_selectors):
            # A serviceAllocation with only a priority pins the pool for every Service.
            svc_selectors = (MATCH_EVERYTHING,)
        resolved = frozenset(
            ns
            for ns, labels in namespaces.items()
            if any(sel.matches(labels) for sel in sa.namespace_selectors)
        )
        return cls(
            pool, True, sa.namespaces, sa.namespace_selectors, resolved, svc_selectors, v4, v6
        )

    def _namespace(self, req: ServiceRequest) -> tuple[bool, bool]:
        """(the Service's namespace is listed, the pool restricts namespaces at all)."""
        ns = req.namespace
        listed = ns in self.names or any(
            sel.matches(req.namespace_labels) for sel in self.namespace_selectors
        )
        others = len(self.resolved) - (ns in self.resolved)
        return listed, listed or bool(self.names) or others > 0

    def compatible(self, req: ServiceRequest) -> bool:
        """Upstream's isPoolCompatibleWithService: namespaces AND service selectors."""
        if not self.pinnable:
            return True
        listed, restricted = self._namespace(req)
        if restricted and not listed:
            return False
        return not self.service_selectors or any(
            sel.matches(req.labels) for sel in self.service_selectors
        )

    def pinned_for(self, req: ServiceRequest) -> bool:
        """True when the pool is in upstream's ByNamespace[ns] or ByServiceSelector lists."""
        return self.pinnable and (bool(self.service_selectors) or self._namespace(req)[0])


def priority_key(info: PoolInfo) -> tuple[int, int, str]:
    """Priority > 0 first (lower is preferred), then unprioritised pools; ties by name."""
    assert info.pool.allocation is not None
    prio = info.pool.allocation.priority
    return (0, prio, info.pool.name) if prio > 0 else (1, 0, info.pool.name)


def pinned_pools(infos: Sequence[PoolInfo], req: ServiceRequest) -> list[PoolInfo]:
    """Auto-assignable pools pinned to and compatible with the Service, in try order."""
    pinned = [i for i in infos if i.pool.auto_assign and i.pinned_for(req) and i.compatible(req)]
    pinned.sort(key=priority_key)
    return pinned


def fallback_pools(infos: Sequence[PoolInfo]) -> list[PoolInfo]:
    """Auto-assignable pools without any serviceAllocation, by name."""
    return sorted(
        (i for i in infos if i.pool.auto_assign and i.pool.allocation is None),
        key=lambda i: i.pool.name,
    )
