"""IPAddressPools: addresses, overlap between pools, and service allocation."""

from __future__ import annotations

from metallb.config.addresses import AddressError, AddressRange, first_overlaps, parse_addresses
from metallb.config.context import Context
from metallb.config.crd_v1beta1 import IPAddressPool
from metallb.config.errors import ObjectRef
from metallb.config.gotext import go_quote
from metallb.config.selectors import Selector
from metallb.config.types import Pool, ServiceAllocation


def _parse_all(
    parsed: list[tuple[ObjectRef, IPAddressPool]],
) -> tuple[list[list[AddressRange | AddressError]], list[tuple[str, AddressRange]]]:
    """Every entry of every pool parsed, and the valid ones in input order."""
    per_pool: list[list[AddressRange | AddressError]] = []
    flat: list[tuple[str, AddressRange]] = []
    for ref, obj in parsed:
        entries: list[AddressRange | AddressError] = []
        for text in obj.spec.addresses:
            try:
                rng = parse_addresses(text)
            except AddressError as exc:
                entries.append(exc)
                continue
            entries.append(rng)
            flat.append((ref.name, rng))
        per_pool.append(entries)
    return per_pool, flat


def build_pools(ctx: Context, parsed: list[tuple[ObjectRef, IPAddressPool]]) -> list[Pool]:
    """Every valid pool; problems for the rest. Overlaps are checked across all pools:
    each entry against every entry before it, as upstream, by sorting (first_overlaps)."""
    pools: list[Pool] = []
    per_pool, flat = _parse_all(parsed)
    first = first_overlaps([rng for _, rng in flat])
    k = 0  # index of the next valid entry in flat
    for (ref, obj), entries in zip(parsed, per_pool, strict=True):
        spec = obj.spec
        ok = True
        if not spec.addresses:
            ctx.add(ref, "spec.addresses", "pool has no prefixes defined")
            ok = False
        ranges: list[AddressRange] = []
        for i, (text, rng) in enumerate(zip(spec.addresses, entries, strict=True)):
            path = f"spec.addresses[{i}]"
            if isinstance(rng, AddressError):
                ctx.add(
                    ref, path, f"invalid CIDR {go_quote(text)} in pool {go_quote(ref.name)}: {rng}"
                )
                ok = False
                continue
            earlier = first[k]
            k += 1
            if earlier is not None:
                other_pool, other = flat[earlier]
                ctx.add(
                    ref,
                    path,
                    f"CIDR {go_quote(text)} in pool {go_quote(ref.name)} overlaps with "
                    f"already defined CIDR {go_quote(other.source)}"
                    + ("" if other_pool == ref.name else f" of pool {go_quote(other_pool)}"),
                )
                ok = False
            ranges.append(rng)
        alloc_ok, allocation = _service_allocation(ctx, ref, obj)
        if not ok or not alloc_ok:
            continue
        pools.append(
            Pool(
                name=ref.name,
                ranges=tuple(ranges),
                avoid_buggy_ips=spec.avoid_buggy_ips,
                auto_assign=spec.auto_assign,
                service_allocation=allocation,
                labels=dict(obj.metadata.labels or {}),
            )
        )
    return pools


def _service_allocation(
    ctx: Context, ref: ObjectRef, obj: IPAddressPool
) -> tuple[bool, ServiceAllocation | None]:
    """(valid, rules); the rules are None when the pool is unrestricted."""
    alloc = obj.spec.service_allocation
    if alloc is None:
        return True, None
    base = "spec.serviceAllocation"
    ok = ctx.unique(
        ref,
        f"{base}.namespaces",
        alloc.namespaces,
        "namespaces",
        # addressPoolServiceAllocationsFromCR's text.
        reason="duplicate definition in namespaces field",
    )
    ns_sels = ctx.selectors(
        ref, f"{base}.namespaceSelectors", alloc.namespace_selectors, "namespaceSelectors"
    )
    svc_sels = ctx.selectors(
        ref, f"{base}.serviceSelectors", alloc.service_selectors, "serviceSelectors"
    )
    if not ok or ns_sels is None or svc_sels is None:
        return False, None
    names = set(alloc.namespaces or ())
    for ns, labels in ctx.namespaces:
        if any(s.matches(labels) for s in ns_sels):
            names.add(ns)
    if not alloc.namespaces and not ns_sels and not svc_sels:
        # Upstream turns an allocation that restricts nothing into "every Service",
        # which pins the pool (it is tried before unrestricted pools).
        svc_sels = (Selector.everything(),)
    return True, ServiceAllocation(
        priority=alloc.priority or 0,
        namespaces=frozenset(names),
        namespace_selectors=ns_sels,
        service_selectors=svc_sels,
    )
