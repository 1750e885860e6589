"""Communities, L2Advertisements and BGPAdvertisements, and the pools they apply to.

An advertisement names pools by name and/or label selector; naming none means every
pool. Names of pools that do not exist are accepted, as upstream (the pool may be
created later), with a warning. BGP advertisements are then checked per pool: the
aggregation length must not be shorter than a pool entry's prefix, and two
advertisements that would produce the same route must agree on LOCAL_PREF.
"""

from __future__ import annotations

from metallb.config.community import Community, CommunityError, NotACommunity, parse_community
from metallb.config.context import Context
from metallb.config.crd_common import LabelSelector
from metallb.config.crd_v1beta1 import BGPAdvertisement as BGPAdCR
from metallb.config.crd_v1beta1 import Community as CommunityCR
from metallb.config.crd_v1beta1 import L2Advertisement as L2AdCR
from metallb.config.errors import ObjectRef
from metallb.config.gotext import go_quote
from metallb.config.types import BGPAdvertisement, L2Advertisement, Pool, PreferredNodes


def build_communities(
    ctx: Context, parsed: list[tuple[ObjectRef, CommunityCR]]
) -> list[tuple[str, Community]]:
    """Alias name to value, across every Community object; names must be unique."""
    out: dict[str, Community] = {}
    for ref, obj in parsed:
        for i, alias in enumerate(obj.spec.communities or ()):
            path = f"spec.communities[{i}]"
            name, value = alias.name or "", alias.value or ""
            try:
                parsed_value = parse_community(value)
            except (CommunityError, NotACommunity) as exc:
                ctx.add(ref, f"{path}.value", f"parsing community {go_quote(name)}: {exc}")
                continue
            if name in out:
                ctx.add(ref, f"{path}.name", f"duplicate definition of community {go_quote(name)}")
                continue
            out[name] = parsed_value
    return list(out.items())


def _selected_pools(
    ctx: Context,
    ref: ObjectRef,
    names: list[str] | None,
    sels_cr: list[LabelSelector] | None,
    pools: list[Pool],
) -> tuple[str, ...] | None:
    ok = ctx.unique(ref, "spec.ipAddressPools", names, "ipAddressPools")
    sels = ctx.selectors(ref, "spec.ipAddressPoolSelectors", sels_cr, "ipAddressPoolSelectors")
    if not ok or sels is None:
        return None
    known = {p.name for p in pools}
    for name in names or ():
        if name not in known:
            ctx.warnings.append(
                f"{ref}: spec.ipAddressPools: pool {go_quote(name)} does not exist (yet)"
            )
    if not names and not sels:
        return tuple(p.name for p in pools)
    wanted = set(names or ())
    return tuple(
        p.name for p in pools if p.name in wanted or any(s.matches(p.labels) for s in sels)
    )


def build_l2_ads(
    ctx: Context, parsed: list[tuple[ObjectRef, L2AdCR]], pools: list[Pool]
) -> list[L2Advertisement]:
    out: list[L2Advertisement] = []
    for ref, obj in parsed:
        spec = obj.spec
        selected = _selected_pools(
            ctx, ref, spec.ip_address_pools, spec.ip_address_pool_selectors, pools
        )
        nodes = ctx.selectors(ref, "spec.nodeSelectors", spec.node_selectors, "nodeSelectors")
        services = ctx.selectors(
            ref, "spec.serviceSelectors", spec.service_selectors, "serviceSelectors"
        )
        preferred: list[PreferredNodes] = []
        broken = False
        for i, pref in enumerate(spec.preferred_node_selectors or ()):
            sel = ctx.selectors(
                ref, f"spec.preferredNodeSelectors[{i}].preference", [pref.preference], "preference"
            )
            if sel is None:
                broken = True
            else:
                preferred.append(PreferredNodes(pref.weight, sel[0]))
        if selected is None or nodes is None or services is None or broken:
            continue
        out.append(
            L2Advertisement(
                name=ref.name,
                pools=selected,
                node_selectors=nodes,
                interfaces=tuple(spec.interfaces or ()),
                service_selectors=tuple(sorted(services, key=str)),
                preferred_nodes=tuple(preferred),
            )
        )
    return out


def _communities(
    ctx: Context, ref: ObjectRef, values: list[str] | None, aliases: dict[str, Community]
) -> tuple[Community, ...] | None:
    ok = ctx.unique(ref, "spec.communities", values, "community")
    found: set[Community] = set()
    for i, text in enumerate(values or ()):
        path = f"spec.communities[{i}]"
        if text in aliases:
            found.add(aliases[text])
            continue
        try:
            found.add(parse_community(text))
        except CommunityError as exc:
            ctx.add(ref, path, f"invalid community {go_quote(text)} in BGP advertisement: {exc}")
            ok = False
        except NotACommunity:
            # Not a value, so an alias: it may refer to a Community not created yet.
            if not ctx.missing_ref(ref, path, f"unknown community alias {go_quote(text)}"):
                ok = False
    return tuple(sorted(found)) if ok else None


def build_bgp_ads(
    ctx: Context,
    parsed: list[tuple[ObjectRef, BGPAdCR]],
    pools: list[Pool],
    aliases: dict[str, Community],
) -> list[BGPAdvertisement]:
    out: list[BGPAdvertisement] = []
    for ref, obj in parsed:
        spec = obj.spec
        ok = ctx.unique(ref, "spec.peers", spec.peers, "peers")
        selected = _selected_pools(
            ctx, ref, spec.ip_address_pools, spec.ip_address_pool_selectors, pools
        )
        nodes = ctx.selectors(ref, "spec.nodeSelectors", spec.node_selectors, "nodeSelectors")
        services = ctx.selectors(
            ref, "spec.serviceSelectors", spec.service_selectors, "serviceSelectors"
        )
        communities = _communities(ctx, ref, spec.communities, aliases)
        if spec.service_selectors:
            for field, value, default in (
                ("aggregationLength", spec.aggregation_length, 32),
                ("aggregationLengthV6", spec.aggregation_length_v6, 128),
            ):
                if value != default:
                    ctx.add(
                        ref,
                        f"spec.{field}",
                        f"serviceSelectors and {field} are mutually exclusive: with "
                        f"serviceSelectors only the default ({default}) is allowed",
                    )
                    ok = False
        if spec.aggregation_length > 32:
            ctx.add(
                ref,
                "spec.aggregationLength",
                f"invalid aggregation length {spec.aggregation_length} for IPv4 (at most 32)",
            )
            ok = False
        if spec.aggregation_length_v6 > 128:
            ctx.add(
                ref,
                "spec.aggregationLengthV6",
                f"invalid aggregation length {spec.aggregation_length_v6} for IPv6 (at most 128)",
            )
            ok = False
        if not ok or selected is None or nodes is None or services is None or communities is None:
            continue
        out.append(
            BGPAdvertisement(
                name=ref.name,
                pools=selected,
                aggregation_length=spec.aggregation_length,
                aggregation_length_v6=spec.aggregation_length_v6,
                local_pref=spec.local_pref,
                communities=communities,
                node_selectors=nodes,
                peers=tuple(spec.peers or ()),
                service_selectors=tuple(sorted(services, key=str)),
            )
        )
    return out


def check_bgp_ads_per_pool(
    ctx: Context, ads: list[BGPAdvertisement], refs: dict[str, ObjectRef], pools: list[Pool]
) -> None:
    """Aggregation lengths against each pool's prefixes, and LOCAL_PREF agreement."""
    for pool in pools:
        attached: list[BGPAdvertisement] = []
        for ad in ads:
            if pool.name not in ad.pools:
                continue
            ref = refs[ad.name]
            for rng in pool.ranges:
                limit = ad.aggregation_length if rng.version == 4 else ad.aggregation_length_v6
                field = "aggregationLength" if rng.version == 4 else "aggregationLengthV6"
                if limit < rng.shortest_prefix:
                    ctx.add(
                        ref,
                        f"spec.{field}",
                        # validateBGPAdvPerPool's text, then which pool it is about.
                        f"invalid aggregation length {limit}: prefix {rng.shortest_prefix} in "
                        "this pool is more specific than the aggregation length for addresses "
                        f"{rng.source} (pool {go_quote(pool.name)})",
                    )
            if not ad.service_selectors:
                for other in attached:
                    if not other.service_selectors and not _compatible_pref(ctx, ad, other, pool):
                        ctx.add(
                            ref,
                            "spec.localPref",
                            # validateBGPAdvPerPool's text (its typo included), then
                            # which advertisement and pool it conflicts with.
                            f"invalid local preference {ad.local_pref}: local preferernce "
                            f"{other.local_pref} was already set for the same type of BGP "
                            "update. Check existing BGP advertisements with common pools and "
                            f"aggregation lengths (BGPAdvertisement {go_quote(other.name)}, "
                            f"pool {go_quote(pool.name)})",
                        )
            attached.append(ad)


def _compatible_pref(ctx: Context, a: BGPAdvertisement, b: BGPAdvertisement, pool: Pool) -> bool:
    """Whether two ads sharing a pool can carry different LOCAL_PREFs (upstream's rules)."""
    if a.local_pref == b.local_pref:
        return True
    fams = pool.families
    v4_differs = a.aggregation_length != b.aggregation_length
    v6_differs = a.aggregation_length_v6 != b.aggregation_length_v6
    if (v4_differs and 6 not in fams) or (v6_differs and 4 not in fams):
        return True
    if v4_differs and v6_differs:
        return True
    if a.peers and b.peers and not set(a.peers) & set(b.peers):
        return True
    return not ctx.matching_nodes(a.node_selectors) & ctx.matching_nodes(b.node_selectors)
