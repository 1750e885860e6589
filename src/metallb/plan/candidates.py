"""Pool by pool: which pool gave a Service its IP and why, or why each one did not.

Pure. The verdicts come from the allocator itself, not from a second copy of its rules:
the other Services are first converged exactly as ``metallb plan`` does
(:func:`metallb.ipam.converge.plan`), their IPs are loaded into a fresh
:class:`~metallb.ipam.allocator.Allocator`, and then each pool is probed for the Service
in question with the allocator's own operations (``assign`` for requested IPs,
``allocate_from_pool`` for a free IP, ``assign`` onto the IPs of Services carrying the
same sharing key), each probe undone before the next. What is left to this module is
naming the cause: which selector, which flag, which other Service.

The pool selection rules themselves (``PoolInfo.compatible``/``pinned_for``, the try
order) are those of :mod:`metallb.ipam.selection`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metallb import views
from metallb.config.types import Config
from metallb.ipam import service as svc_parse
from metallb.ipam.addresses import Family, family_for_addresses, go_quote_list
from metallb.ipam.allocator import Allocator
from metallb.ipam.converge import plan as allocate_all
from metallb.ipam.converge import processing_order
from metallb.ipam.from_config import pools_from_config
from metallb.ipam.model import AllocationError, FamilyPolicy, ServiceRequest, SharingConflictError
from metallb.ipam.selection import PoolInfo, priority_key


@dataclass(frozen=True)
class PoolVerdict:
    """One pool's part in the outcome: ``used`` for the pool the IP came from."""

    pool: str
    used: bool
    reason: str


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _namespaces(objects: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        str(_meta(o).get("name")): dict(_meta(o).get("labels") or {})
        for o in objects
        if o.get("apiVersion") == "v1" and o.get("kind") == "Namespace"
    }


def requests_of(
    objects: Sequence[Mapping[str, Any]], lb_class: str = ""
) -> tuple[list[ServiceRequest], dict[str, dict[str, str]]]:
    """Allocator requests for every Service this MetalLB handles, in document order."""
    namespaces = _namespaces(objects)
    out = []
    for s in objects:
        if s.get("apiVersion") != "v1" or s.get("kind") != "Service":
            continue
        svc = views.Service.from_dict(s)
        if not svc_parse.is_handled(svc, lb_class):
            continue
        labels = namespaces.get(svc.namespace, {"kubernetes.io/metadata.name": svc.namespace})
        out.append(svc_parse.request_from_service(svc, labels))
    return out, namespaces


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"


def _selectors(selectors: Sequence[object]) -> str:
    return " or ".join(f"{{{s}}}" for s in selectors) or "{}"


def _family_mismatch(info: PoolInfo, req: ServiceRequest) -> str | None:
    family, _ = family_for_addresses(req.cluster_ips)
    v4, v6 = info.capacity_v4 > 0, info.capacity_v6 > 0
    if family is Family.IPV4 and not v4:
        return "it has no IPv4 addresses and the Service is IPv4"
    if family is Family.IPV6 and not v6:
        return "it has no IPv6 addresses and the Service is IPv6"
    require = req.ip_family_policy is FamilyPolicy.REQUIRE_DUAL_STACK
    if family is Family.DUAL and require and not (v4 and v6):
        return "the Service requires dual stack and the pool lacks one family"
    return None


def _selection_mismatch(info: PoolInfo, req: ServiceRequest) -> str:
    """Why ``PoolInfo.compatible`` refused: the namespace part or the Service part."""
    sa = info.pool.allocation
    assert sa is not None  # compatible() is True for pools without serviceAllocation
    ns_ok = req.namespace in info.names or any(
        sel.matches(req.namespace_labels) for sel in info.namespace_selectors
    )
    if not ns_ok and (sa.namespaces or sa.namespace_selectors):
        parts = []
        if sa.namespaces:
            parts.append(f"namespaces {sorted(sa.namespaces)}")
        if sa.namespace_selectors:
            parts.append(f"namespaceSelectors {_selectors(sa.namespace_selectors)}")
        return (
            f"its serviceAllocation ({' and '.join(parts)}) does not include namespace "
            f"{req.namespace}"
        )
    return (
        f"its serviceAllocation serviceSelectors {_selectors(info.service_selectors)} do not "
        f"match the Service's labels ({_labels(req.labels)})"
    )


class _Probe:
    """An allocator holding every other Service's IPs, probed for one Service."""

    def __init__(
        self,
        config: Config,
        requests: Sequence[ServiceRequest],
        target: ServiceRequest,
        namespaces: Mapping[str, Mapping[str, str]],
    ) -> None:
        self.req = target
        self.infos = {p.name: PoolInfo.load(p, namespaces) for p in pools_from_config(config)}
        result = allocate_all(pools_from_config(config), requests, namespaces)
        held = {r.key: out for r, out in result.services}
        self.alloc = Allocator()
        self.alloc.set_pools(pools_from_config(config), namespaces)
        others = [r for r in requests if r.key != target.key]
        for r in processing_order(others):
            out = held.get(r.key)
            if out is not None and out.ips:
                try:
                    self.alloc.assign(r, out.ips)
                except AllocationError:
                    continue  # as in the controller: that Service's own problem
        self.family, _ = family_for_addresses(target.cluster_ips)

    def _undo(self) -> None:
        self.alloc.unassign(self.req.key)

    def requested(self, name: str) -> str:
        """The verdict on a pool for a Service asking for specific IPs."""
        req = self.req
        holder = self.alloc.pool_for(req.requested_ips)
        wanted = go_quote_list(req.requested_ips)
        if holder is None or holder.name != name:
            return f"it does not contain the requested IP(s) {wanted}"
        try:
            self.alloc.assign(req, req.requested_ips)
        except SharingConflictError as err:
            users = {u for ip in req.requested_ips for u in self.alloc.services_on(ip)}
            return (
                f"sharing conflict on {wanted} with {', '.join(sorted(users))}: {err} "
                f"(sharing key here {req.sharing_key!r}; sharing needs the same "
                "metallb.io/allow-shared-ip key, the same externalTrafficPolicy/selector "
                "under Local, and distinct ports)"
            )
        except AllocationError as err:
            return f"it holds {wanted} but refuses the Service: {err}"
        self._undo()
        return f"it holds the requested IP(s) {wanted} and would accept them"

    def free(self, name: str) -> str:
        """The verdict on whether the pool has an IP for the Service right now."""
        req, info = self.req, self.infos[name]
        assert self.family is not None
        try:
            ips = self.alloc.allocate_from_pool(req, self.family, name)
        except AllocationError as err:
            return self._exhausted(info, err)
        self._undo()
        return f"it has a free IP ({', '.join(map(str, ips))})"

    def _exhausted(self, info: PoolInfo, err: AllocationError) -> str:
        req, name = self.req, info.pool.name
        holders = sorted(k for k, a in self.alloc.allocations().items() if a.pool == name)
        if req.sharing_key:
            # The Services already sharing under this key: why this one may not join them.
            for key in holders:
                alloc = self.alloc.allocation(key)
                assert alloc is not None
                if alloc.sharing != req.sharing_key:
                    continue
                try:
                    self.alloc.assign(req, alloc.ips)
                except SharingConflictError as conflict:
                    return (
                        f"exhausted, and the IP shared under key {req.sharing_key!r} by {key} "
                        f"cannot take it too: {conflict}"
                    )
                except AllocationError:
                    continue
                self._undo()
        counters = self.alloc.counters(name)
        used = counters.assigned_ipv4 + counters.assigned_ipv6
        shown = ", ".join(holders[:5]) + (", ..." if len(holders) > 5 else "")
        return (
            f"exhausted: {used} of {used + counters.available_ipv4 + counters.available_ipv6} "
            f"IPs in use (by {shown or 'nobody'}): {err}"
        )


def _chosen(info: PoolInfo, req: ServiceRequest) -> str:
    """Why the allocator took this pool for a Service that has an IP from it."""
    if req.requested_ips:
        return f"it holds the requested IP(s) {go_quote_list(req.requested_ips)}"
    if req.requested_pool:
        return "the Service names it in metallb.io/address-pool"
    sa = info.pool.allocation
    if sa is None:
        return (
            "auto-assign pool without serviceAllocation (tried after pools whose "
            "serviceAllocation selects the Service; such pools are tried by name)"
        )
    what = []
    if sa.namespaces or sa.namespace_selectors:
        what.append(f"namespace {req.namespace}")
    if sa.service_selectors:
        what.append(f"serviceSelectors {_selectors(sa.service_selectors)}")
    sel = " and ".join(what) or "every Service"
    prio = f"priority {sa.priority}" if sa.priority > 0 else "no priority (after prioritised pools)"
    return f"its serviceAllocation selects it ({sel}), {prio}"


def pool_verdicts(
    config: Config,
    objects: Sequence[Mapping[str, Any]],
    namespace: str,
    name: str,
    *,
    got_pool: str | None,
    lb_class: str = "",
) -> list[PoolVerdict]:
    """For the Service ``namespace/name``: the pool used and why, else each pool's refusal.

    Pools are listed in the order automatic allocation tries them (pinned by priority,
    then unrestricted by name), then the pools it never tries.
    """
    requests, namespaces = requests_of(objects, lb_class)
    req = next((r for r in requests if (r.namespace, r.name) == (namespace, name)), None)
    if req is None:
        return []
    if got_pool is not None:
        for pool in pools_from_config(config):
            if pool.name == got_pool:
                why = _chosen(PoolInfo.load(pool, namespaces), req)
                return [PoolVerdict(got_pool, True, why)]
    # Only a Service without an IP needs the (costlier) probe of every pool.
    probe = _Probe(config, requests, req, namespaces)
    infos = list(probe.infos.values())
    pinned = sorted(
        (i for i in infos if i.pool.auto_assign and i.pinned_for(req) and i.compatible(req)),
        key=priority_key,
    )
    fallback = [i for i in infos if i.pool.auto_assign and i.pool.allocation is None]
    rest = [i for i in infos if i not in pinned and i not in fallback]
    order = (
        pinned
        + sorted(fallback, key=lambda i: i.pool.name)
        + sorted(rest, key=lambda i: i.pool.name)
    )
    out = []
    if req.requested_pool and req.requested_pool not in probe.infos:
        out.append(
            PoolVerdict(
                req.requested_pool,
                False,
                f"the Service asks for pool {req.requested_pool} (metallb.io/address-pool) "
                "and no such IPAddressPool exists",
            )
        )
    for info in order:
        out.append(PoolVerdict(info.pool.name, False, _refusal(probe, info, req)))
    return out


def _refusal(probe: _Probe, info: PoolInfo, req: ServiceRequest) -> str:
    """The first reason, in the allocator's order, this pool did not give an IP."""
    name = info.pool.name
    if req.requested_ips_error:
        return f"the requested IPs are invalid: {req.requested_ips_error}"
    if req.requested_pool and req.requested_pool != name:
        return f"the Service asks for pool {req.requested_pool} (metallb.io/address-pool)"
    if req.requested_ips:
        return probe.requested(name)
    if probe.family is None:
        return "the Service's clusterIPs give no IP family"
    mismatch = _family_mismatch(info, req)
    if mismatch:
        return mismatch
    if not info.compatible(req):
        return _selection_mismatch(info, req)
    if not req.requested_pool:
        if not info.pool.auto_assign:
            return (
                "autoAssign is false: only Services naming it in metallb.io/address-pool "
                "or requesting its IPs get its addresses"
            )
        if info.pool.allocation is not None and not info.pinned_for(req):
            return "its serviceAllocation does not select this Service"
    return probe.free(name)
