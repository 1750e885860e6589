"""The allocator: which Service holds which IPs, and the rules for handing out more.

Same operations and outcomes as upstream's allocator (`Assign`, `Allocate`,
`AllocateFromPool`, `AllocateFromPoolForAdditionalFamily`, `Unassign`, `SetPools`,
pool counters), with two differences on purpose:

* cost: a free address is found through a per-range `FreeCursor` and a shareable one
  through a per-sharing-key sorted list, never by walking the pool from its start; an
  allocation costs O(pools tried + ranges per pool + IPs already carrying this sharing
  key), independent of how many addresses are in use;
* determinism: pools are tried in the order documented in `ipam.selection`.

An IP's users are the Services whose allocation contains it; it carries the
(sharing key, backend key) of its latest assignment, like upstream's `sharingKeyForIP`.
Unlike upstream, an IP stays "in use" while any Service holds it even when none of its
Services declares a port (upstream forgets the key once no port is left).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from metallb.config.addresses import IPAddress
from metallb.ipam.addresses import (
    Family,
    from_key,
    go_quote_list,
    is_buggy_key,
    is_v6_key,
    to_key,
)
from metallb.ipam.freelist import FreeCursor
from metallb.ipam.model import (
    AllocationError,
    FamilyPolicy,
    IncompatiblePoolError,
    NotInConfigError,
    Pool,
    PoolCounters,
    PoolExhaustedError,
    Port,
    ServiceKey,
    ServiceRequest,
    SharingConflictError,
    UnknownPoolError,
)
from metallb.ipam.selection import PoolInfo, fallback_pools, pinned_pools
from metallb.ipam.sharing import IPTable


class Allocation(NamedTuple):
    """What one Service holds: IP keys in assignment order, from one pool."""

    pool: str
    keys: tuple[int, ...]
    ports: tuple[Port, ...]
    sharing: str
    backend: str

    @property
    def ips(self) -> tuple[IPAddress, ...]:
        """The addresses, in assignment order."""
        return tuple(from_key(k) for k in self.keys)


class Allocator:
    """In-memory IP assignments for Services; every method is synchronous and pure."""

    def __init__(self) -> None:
        self._infos: dict[str, PoolInfo] = {}
        self._pinnable: list[PoolInfo] = []
        self._fallback: list[PoolInfo] = []
        # Ranges of every pool sorted by first key, for IP -> pool lookups.
        self._starts: list[int] = []
        self._spans: list[tuple[FreeCursor, PoolInfo]] = []
        self._cursors: dict[str, list[tuple[Family, FreeCursor]]] = {}
        self._allocs: dict[ServiceKey, Allocation] = {}
        self._table = IPTable()

    # -- configuration ---------------------------------------------------------------

    def set_pools(
        self, pools: Iterable[Pool], namespaces: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        """Load a configuration; `namespaces` maps every Namespace name to its labels.

        Allocations whose IPs no pool contains any more are released; the others are kept
        (with the new pool name if a renamed or split pool now holds them). Raises
        ValueError on duplicate pool names or overlapping ranges: the configuration
        layer rejects those first.
        """
        infos: dict[str, PoolInfo] = {}
        for pool in pools:
            if pool.name in infos:
                raise ValueError(f"duplicate definition of pool {pool.name!r}")
            infos[pool.name] = PoolInfo.load(pool, namespaces or {})
        spans: list[tuple[int, int, FreeCursor, PoolInfo]] = []
        cursors: dict[str, list[tuple[Family, FreeCursor]]] = {}
        for info in infos.values():
            per_pool = cursors.setdefault(info.pool.name, [])
            for r in info.pool.ranges:
                avoid = info.pool.avoid_buggy_ips and r.family is Family.IPV4
                cursor = FreeCursor(r.first_key, r.last_key, avoid_buggy=avoid)
                per_pool.append((r.family, cursor))
                spans.append((r.first_key, r.last_key, cursor, info))
        spans.sort(key=lambda s: s[0])
        for prev, cur in itertools.pairwise(spans):
            if cur[0] <= prev[1]:
                raise ValueError(f"pools {prev[3].pool.name!r} and {cur[3].pool.name!r} overlap")
        self._infos = infos
        self._pinnable = [i for i in infos.values() if i.pinnable]
        self._fallback = fallback_pools(list(infos.values()))
        self._starts = [s[0] for s in spans]
        self._spans = [(s[2], s[3]) for s in spans]
        self._cursors = cursors
        for svc, alloc in list(self._allocs.items()):
            holder = self._pool_for_keys(alloc.keys)
            if holder is None:
                self.unassign(svc)
            elif holder.pool.name != alloc.pool:
                self._allocs[svc] = Allocation(
                    holder.pool.name, alloc.keys, alloc.ports, alloc.sharing, alloc.backend
                )
        owners: dict[int, str] = {}
        for key in self._table.used_keys():
            span = self._span_for(key)
            assert span is not None, "every kept allocation lies inside a pool"
            owners[key] = span[1].pool.name
        self._table.recount(owners)

    @property
    def has_pools(self) -> bool:
        """True when at least one pool is loaded."""
        return bool(self._infos)

    @property
    def pools(self) -> Mapping[str, Pool]:
        """The loaded pools by name."""
        return {name: info.pool for name, info in self._infos.items()}

    # -- queries ---------------------------------------------------------------------

    def allocation(self, svc: ServiceKey) -> Allocation | None:
        """The Service's allocation, if any."""
        return self._allocs.get(svc)

    def allocations(self) -> Mapping[ServiceKey, Allocation]:
        """Every allocation (a read-only view)."""
        return dict(self._allocs)

    def pool_of(self, svc: ServiceKey) -> str | None:
        """The pool the Service's IPs come from, or None."""
        alloc = self._allocs.get(svc)
        return alloc.pool if alloc else None

    def ips_of(self, svc: ServiceKey) -> tuple[IPAddress, ...]:
        """The Service's IPs in assignment order (empty if none)."""
        alloc = self._allocs.get(svc)
        return alloc.ips if alloc else ()

    def allocation_key(self, svc: ServiceKey) -> str:
        """backend key + sharing key, as upstream's AllocationKey (a change triggers reprocess)."""
        alloc = self._allocs.get(svc)
        return alloc.backend + alloc.sharing if alloc else ""

    def pool_for(self, ips: Sequence[IPAddress]) -> Pool | None:
        """The pool containing every address (buggy ones excluded when the pool avoids them)."""
        info = self._pool_for_keys(tuple(to_key(ip) for ip in ips))
        return info.pool if info else None

    def services_on(self, ip: IPAddress) -> tuple[ServiceKey, ...]:
        """The Services holding `ip`, sorted."""
        return self._table.users_of(to_key(ip))

    def counters(self, pool: str) -> PoolCounters:
        """Assigned and available IPs per family for one pool (zeros if unknown)."""
        info = self._infos.get(pool)
        if info is None:
            return PoolCounters()
        v4, v6 = self._table.in_use.get(pool, (0, 0))
        return PoolCounters(v4, v6, info.capacity_v4 - v4, info.capacity_v6 - v6)

    def all_counters(self) -> dict[str, PoolCounters]:
        """Counters of every pool, by pool name in sorted order."""
        return {name: self.counters(name) for name in sorted(self._infos)}

    # -- assignment ------------------------------------------------------------------

    def assign(self, req: ServiceRequest, ips: Sequence[IPAddress]) -> None:
        """Give exactly these IPs to the Service if pools, selectors and sharing allow it."""
        keys = tuple(to_key(ip) for ip in ips)
        info = self._pool_for_keys(keys)
        if info is None:
            raise NotInConfigError(f"{go_quote_list(ips)} is not allowed in config")
        if not info.compatible(req):
            raise IncompatiblePoolError(f"pool {info.pool.name} not compatible for ip assignment")
        if len(ips) > 2:
            raise AllocationError(f"more than two addresses {go_quote_list(ips)}")
        if len(ips) == 2 and ips[0].version == ips[1].version:
            raise AllocationError(f'"{ips[0]}" "{ips[1]}" has the same family')
        svc = req.key
        for key in keys:
            err = self._table.check(svc, key, req.ports, req.sharing_key, req.backend_key)
            if err:
                raise SharingConflictError(err)
        self._commit(req, info, keys)

    def unassign(self, svc: ServiceKey) -> bool:
        """Release the Service's IPs; False if it held none."""
        alloc = self._allocs.pop(svc, None)
        if alloc is None:
            return False
        for key in self._table.remove(svc, alloc.pool, alloc.keys, alloc.ports):
            span = self._span_for(key)
            if span is not None:
                span[0].release(key)
        return True

    def allocate(self, req: ServiceRequest, family: Family) -> tuple[IPAddress, ...]:
        """Automatic allocation: pinned pools in priority order, then unrestricted pools."""
        alloc = self._allocs.get(req.key)
        if alloc is not None:
            self.assign(req, alloc.ips)
            return alloc.ips
        pinned = pinned_pools(self._pinnable, req) if self._pinnable else []
        for candidates in (pinned, self._fallback):
            if candidates:
                keys = self._allocate_from(candidates, req, family)
                if keys is not None:
                    return tuple(from_key(k) for k in keys)
        raise PoolExhaustedError("no available IPs")

    def allocate_from_pool(
        self, req: ServiceRequest, family: Family, pool: str
    ) -> tuple[IPAddress, ...]:
        """Allocation from the pool named by `metallb.io/address-pool`; autoAssign ignored."""
        alloc = self._allocs.get(req.key)
        if alloc is not None:
            held = _family_of_keys(alloc.keys)
            if req.ip_family_policy is not FamilyPolicy.PREFER_DUAL_STACK and held != family:
                raise AllocationError(
                    f"IP for wrong family assigned alloc {held} service family {family}"
                )
            self.assign(req, alloc.ips)
            return alloc.ips
        info = self._infos.get(pool)
        if info is None:
            raise UnknownPoolError(f'unknown pool "{pool}"')
        v4, v6 = self._free_in_pool(info, req)
        if v4 is None and v6 is None:
            raise PoolExhaustedError(f"no available IPs in pool {info.pool.name}")
        keys = _select(info.pool.name, v4, v6, family, req.ip_family_policy)
        self._assign_picked(req, info, keys)
        return tuple(from_key(k) for k in keys)

    def allocate_additional_family(
        self, req: ServiceRequest, existing: IPAddress, pool: str
    ) -> IPAddress:
        """PreferDualStack with one IP: add the other family from the same pool."""
        want = Family.IPV6 if existing.version == 4 else Family.IPV4
        info = self._infos.get(pool)
        if info is None:
            raise UnknownPoolError(f'unknown pool "{pool}"')
        v4, v6 = self._free_in_pool(info, req)
        if v4 is None and v6 is None:
            raise PoolExhaustedError(f"no available IPs in pool {info.pool.name}")
        (extra,) = _select(info.pool.name, v4, v6, want, FamilyPolicy.SINGLE_STACK)
        self.assign(req, (existing, from_key(extra)))
        return from_key(extra)

    # -- internals -------------------------------------------------------------------

    def _commit(self, req: ServiceRequest, info: PoolInfo, keys: tuple[int, ...]) -> None:
        """Record the assignment; the caller has checked that it is allowed."""
        svc = req.key
        if svc in self._allocs:
            self.unassign(svc)
        ports = req.ports
        if len(ports) > 1:
            ports = tuple(dict.fromkeys(ports))  # a repeated port must not be counted twice
        alloc = Allocation(info.pool.name, keys, ports, req.sharing_key, req.backend_key)
        self._allocs[svc] = alloc
        self._table.add(svc, alloc.pool, keys, ports, (req.sharing_key, req.backend_key))

    def _assign_picked(self, req: ServiceRequest, info: PoolInfo, keys: tuple[int, ...]) -> None:
        """Assign IPs `_free_in_pool` chose: they are in the pool, one per family and
        shareable by construction, so only the pool's selectors remain to be checked."""
        if not info.compatible(req):
            raise IncompatiblePoolError(f"pool {info.pool.name} not compatible for ip assignment")
        self._commit(req, info, keys)

    def _allocate_from(
        self, candidates: Sequence[PoolInfo], req: ServiceRequest, family: Family
    ) -> tuple[int, ...] | None:
        """Upstream's findBestPoolForService + selectIPsForFamilyAndPolicy + Assign."""
        prefer = req.ip_family_policy is FamilyPolicy.PREFER_DUAL_STACK and family is Family.DUAL
        v6_first = bool(req.ip_families) and req.ip_families[0] == "IPv6"
        primary: tuple[PoolInfo, int | None, int | None] | None = None
        secondary: tuple[PoolInfo, int | None, int | None] | None = None
        chosen = None
        for info in candidates:
            v4, v6 = self._free_in_pool(info, req)
            if v4 is None and v6 is None:
                continue  # this pool is full for this Service, try the next
            single = v4 if family is Family.IPV4 else v6 if family is Family.IPV6 else None
            if single is not None or (v4 is not None and v6 is not None):
                chosen = (info, v4, v6)
                break
            if not prefer:
                continue
            first, second = (v6, v4) if v6_first else (v4, v6)
            if first is not None and primary is None:
                primary = (info, v4, v6)
            if second is not None and secondary is None:
                secondary = (info, v4, v6)
        chosen = chosen or primary or secondary
        if chosen is None:
            return None  # upstream: "no suitable pool for <family> IPFamily", then masked
        info, v4, v6 = chosen
        try:
            keys = _select(info.pool.name, v4, v6, family, req.ip_family_policy)
            self._assign_picked(req, info, keys)
        except AllocationError:
            return None
        return keys

    def _free_in_pool(self, info: PoolInfo, req: ServiceRequest) -> tuple[int | None, int | None]:
        """Upstream's getFreeIPsFromPool: per family, the first usable IP in range order."""
        v4 = v6 = None
        pick = self._table.pick
        for family, cursor in self._cursors[info.pool.name]:
            if family is Family.IPV4:
                if v4 is None:
                    v4 = pick(cursor, req.key, req.ports, req.sharing_key, req.backend_key)
            elif v6 is None:
                v6 = pick(cursor, req.key, req.ports, req.sharing_key, req.backend_key)
        return v4, v6

    def _span_for(self, key: int) -> tuple[FreeCursor, PoolInfo] | None:
        i = bisect.bisect_right(self._starts, key) - 1
        if i < 0:
            return None
        span = self._spans[i]
        return span if key <= span[0].last else None

    def _pool_for_keys(self, keys: Sequence[int]) -> PoolInfo | None:
        if not keys:
            return None
        found: PoolInfo | None = None
        for key in keys:
            span = self._span_for(key)
            if span is None:
                return None
            info = span[1]
            if (info.pool.avoid_buggy_ips and is_buggy_key(key)) or (found and found is not info):
                return None
            found = info
        return found


def _family_of_keys(keys: Sequence[int]) -> Family:
    families = {Family.IPV6 if is_v6_key(k) else Family.IPV4 for k in keys}
    return families.pop() if len(families) == 1 else Family.DUAL


def _select(
    pool: str, v4: int | None, v6: int | None, family: Family, policy: FamilyPolicy
) -> tuple[int, ...]:
    """Upstream's selectIPsForFamilyAndPolicy; dual-stack results are IPv4 first."""
    if family is Family.IPV4 and v4 is not None:
        return (v4,)
    if family is Family.IPV6 and v6 is not None:
        return (v6,)
    if family is Family.DUAL and policy is not FamilyPolicy.SINGLE_STACK:
        if v4 is not None and v6 is not None:
            return (v4, v6)
        if policy is FamilyPolicy.PREFER_DUAL_STACK and (v4 is not None or v6 is not None):
            return tuple(k for k in (v4, v6) if k is not None)
    # Upstream returns [nil] for a single-family miss and then fails with
    # `["<nil>"] is not allowed in config`; its own clearer text is used instead.
    raise PoolExhaustedError(f"no available IPs in pool {pool} for {family} IPFamily")
