"""Converging one Service to its IPs, the restart order, and an offline what-if run.

`converge` is upstream's `convergeBalancer` plus the reprocess decision of
`SetBalancer`, as a function of an allocator and a request: it returns the ingress IPs
to write, the pool for `metallb.io/ip-allocated-from-pool`, the Events to emit and
whether every other Service should be reprocessed. The caller writes the status only
when it differs from what the Service already has.

One deliberate difference: a PreferDualStack Service gets an IP of its second family
only when it has two clusterIPs. Upstream also tries it with one clusterIP, and the next
reconcile then clears the two-family status again (upstream's controller/service.go).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from metallb.config.addresses import IPAddress, parse_ip
from metallb.ipam.addresses import Family, family_for_addresses, go_quote_list
from metallb.ipam.allocator import Allocator
from metallb.ipam.model import (
    AllocationError,
    FamilyPolicy,
    Pool,
    PoolCounters,
    ServiceKey,
    ServiceRequest,
)

NORMAL = "Normal"
WARNING = "Warning"


class Event(NamedTuple):
    """A Kubernetes Event to attach to the Service."""

    type: str
    reason: str
    message: str


class Convergence(NamedTuple):
    """The outcome for one Service: its new ingress IPs (empty: none) and why not."""

    ips: tuple[IPAddress, ...]
    pool: str | None
    error: str | None = None
    events: tuple[Event, ...] = ()
    reprocess_all: bool = False


class _StopError(Exception):
    """Ends a convergence early with an error text (the status is as left so far)."""


@dataclass
class _Run:
    alloc: Allocator
    req: ServiceRequest
    events: list[Event] = field(default_factory=list)

    def clear(self) -> list[IPAddress]:
        self.alloc.unassign(self.req.key)
        return []

    def warn(self, reason: str, message: str) -> None:
        self.events.append(Event(WARNING, reason, message))

    def info(self, reason: str, message: str) -> None:
        self.events.append(Event(NORMAL, reason, message))


def converge(alloc: Allocator, req: ServiceRequest) -> Convergence:
    """Bring the Service's allocation in line with its spec, status and the pools."""
    key = req.key
    prev_ips, prev_key = alloc.ips_of(key), alloc.allocation_key(key)
    run = _Run(alloc, req)
    error: str | None = None
    try:
        ips = _converge(run)
    except _StopError as stop:
        error = str(stop)
        ips = list(alloc.ips_of(key)) if alloc.pool_of(key) else []
    reprocess = prev_key != alloc.allocation_key(key) or (
        bool(prev_ips) and alloc.pool_of(key) is None and alloc.pool_for(prev_ips) is not None
    )
    pool = alloc.pool_of(key) if ips else None
    return Convergence(tuple(ips), pool, error, tuple(run.events), reprocess)


def release(alloc: Allocator, key: ServiceKey) -> bool:
    """The Service is gone; True when it held IPs (reprocess the others, as upstream)."""
    return alloc.unassign(key)


def _converge(run: _Run) -> list[IPAddress]:
    alloc, req, key = run.alloc, run.req, run.req.key
    if not req.load_balancer:
        return run.clear()
    if not alloc.has_pools:
        run.clear()
        raise _StopError("no IPAddressPool is configured")
    if not req.cluster_ips:
        run.clear()
        raise _StopError("the Service has no clusterIP")
    policy = req.ip_family_policy
    if policy is FamilyPolicy.REQUIRE_DUAL_STACK and len(req.cluster_ips) < 2:
        message = (
            f"Service requires dual stack but not enough clusterips [{' '.join(req.cluster_ips)}]"
        )
        run.warn("not enough clusterips", message)
        run.clear()
        raise _StopError(message)
    cluster_family, cluster_err = family_for_addresses(req.cluster_ips)
    current_texts = [ip for ip in req.status_ips if ip]
    current = [ip for ip in (parse_ip(t) for t in current_texts) if ip is not None]
    if not current_texts:
        run.clear()
    else:
        lb_family, lb_err = family_for_addresses(current_texts)
        if lb_err:
            run.warn(
                "nolbIPsIPFamily",
                f"Failed to retrieve LBIPs IPFamily for {go_quote_list(current_texts)}: {lb_err}",
            )
        if cluster_err:
            run.warn(
                "noclusterIPsIPFamily",
                f"Failed to retrieve ClusterIPs IPFamily for {go_quote_list(req.cluster_ips)}: "
                f"{cluster_err}",
            )
            raise _StopError(cluster_err)
        if _family_changed(lb_family, cluster_family, policy):
            current = run.clear()
    if current:
        try:
            alloc.assign(req, current)
        except AllocationError as err:
            run.info(
                "ClearAssignment",
                f'current IP for "{key}" not allowed by config, '
                f"will attempt for new IP assignment: {err}",
            )
            current = run.clear()
        if current and req.requested_pool and alloc.pool_of(key) != req.requested_pool:
            current = run.clear()
        if req.requested_ips_error:
            message = f"invalid requested loadbalancer IPs: {req.requested_ips_error}"
            run.warn("LoadBalancerFailed", message)
            raise _StopError(message)
        if req.requested_ips and sorted(map(str, req.requested_ips)) != sorted(map(str, current)):
            current = run.clear()
    pool = alloc.pool_of(key)
    if (
        len(current) == 1
        and policy is FamilyPolicy.PREFER_DUAL_STACK
        and cluster_family is Family.DUAL
        and pool is not None
    ):
        try:
            extra = alloc.allocate_additional_family(req, current[0], pool)
        except AllocationError as err:
            run.info(
                "AdditionalAssignFailed", f"cannot assign additional IP in PreferDualStack: {err}"
            )
        else:
            current.append(extra)
            run.info("IPAllocated", f'Assigned additional IP "{extra}"')
    if not current:
        try:
            current = list(_allocate(alloc, req, cluster_family, cluster_err))
        except AllocationError as err:
            run.warn("AllocationFailed", f'Failed to allocate IP for "{key}": {err}')
            raise _StopError(str(err)) from err
        run.info("IPAllocated", f"Assigned IP {go_quote_list(current)}")
    return current


def _family_changed(lb: Family | None, cluster: Family | None, policy: FamilyPolicy) -> bool:
    """Upstream's serviceFamilyChanged: PreferDualStack may hold one family of a dual Service."""
    if lb is None:
        return True
    if lb is cluster:
        return False
    return not (cluster is Family.DUAL and policy is FamilyPolicy.PREFER_DUAL_STACK)


def _allocate(
    alloc: Allocator, req: ServiceRequest, family: Family | None, family_err: str | None
) -> tuple[IPAddress, ...]:
    """Upstream's allocateIPs: requested IPs, else the requested pool, else automatic."""
    if family is None:
        raise AllocationError(family_err or "unknown service IP family")
    if req.requested_ips_error:
        raise AllocationError(req.requested_ips_error)
    wanted = req.requested_ips
    if wanted:
        wanted_family, _ = family_for_addresses([str(ip) for ip in wanted])
        if wanted_family is not family:
            raise AllocationError(
                f"requested loadBalancer IP(s) {go_quote_list(wanted)} "
                "does not match the ipFamily of the service"
            )
        alloc.assign(req, wanted)
        if req.requested_pool and alloc.pool_of(req.key) != req.requested_pool:
            alloc.unassign(req.key)
            raise AllocationError(
                f"requested loadBalancer IP(s) {go_quote_list(wanted)} is not compatible "
                f"with requested address pool {req.requested_pool}"
            )
        return wanted
    if req.requested_pool:
        return alloc.allocate_from_pool(req, family, req.requested_pool)
    return alloc.allocate(req, family)


def processing_order(requests: Iterable[ServiceRequest]) -> list[ServiceRequest]:
    """Restart order: more status IPs first (two, then one, then none); ties keep input order."""
    return sorted(requests, key=_held)


def _held(req: ServiceRequest) -> int:
    return -sum(1 for ip in req.status_ips if ip)


@dataclass(frozen=True, slots=True)
class PlanResult:
    """An offline run: one Convergence per request (input order) and the pool counters."""

    services: tuple[tuple[ServiceRequest, Convergence], ...]
    pools: Mapping[str, PoolCounters]


MAX_PASSES = 4
"""Passes of `plan` at most; each later pass happens only if the previous changed a status."""


def plan(
    pools: Sequence[Pool],
    requests: Sequence[ServiceRequest],
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> PlanResult:
    """What the controller would converge to, from scratch, for these pools and Services.

    Each pass processes the Services in restart order (`processing_order`) with the status
    left by the previous pass, as upstream's reprocess-all does; it stops at the first
    pass that changes no status, or after MAX_PASSES.
    """
    alloc = Allocator()
    alloc.set_pools(pools, namespaces)
    current = list(requests)
    results: dict[int, Convergence] = {}
    for _ in range(MAX_PASSES):
        changed = False
        for i in sorted(range(len(current)), key=lambda i: _held(current[i])):
            req = current[i]
            results[i] = outcome = converge(alloc, req)
            status = tuple(str(ip) for ip in outcome.ips)
            if status != req.status_ips:
                changed = True
                current[i] = replace(req, status_ips=status)
        if not changed:
            break
    return PlanResult(
        services=tuple((requests[i], results[i]) for i in range(len(requests))),
        pools=alloc.all_counters(),
    )
