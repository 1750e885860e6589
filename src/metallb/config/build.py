"""The one entry point: a snapshot of cluster objects in, a valid Config out.

:func:`build_config` runs every check upstream's webhooks and configuration parser run,
collects every problem, and raises a single :class:`ConfigError` listing them all. The
webhook, the controller, the speaker and the CLI all call it; it does no I/O and never
raises anything but ConfigError, whatever the input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, cast

from metallb.config import build_ads, build_peers, build_pools, modes
from metallb.config.context import Context
from metallb.config.crd_bgppeer import BGPPeerV1beta2
from metallb.config.crd_common import Envelope
from metallb.config.crd_v1beta1 import (
    BFDProfile,
    BGPAdvertisement,
    Community,
    IPAddressPool,
    L2Advertisement,
)
from metallb.config.errors import ConfigError, ObjectRef, Problem
from metallb.config.gotext import go_quote
from metallb.config.snapshot import Snapshot, parse_models, snapshot_from_objects
from metallb.config.types import BGPType, Config

E = TypeVar("E", bound=Envelope)


def _parsed(
    ctx: Context, kind: str, model: type[E], namespace: str | None
) -> list[tuple[ObjectRef, E]]:
    items = parse_models(kind, ctx.snapshot.of(kind), ctx.problems, namespace=namespace)
    assert all(isinstance(m, model) for _, m in items)
    return cast(list[tuple[ObjectRef, E]], items)


def build_config(
    source: Snapshot | Iterable[Any],
    *,
    bgp_type: BGPType | str | None = BGPType.NATIVE,
    namespace: str | None = None,
    missing_refs_warn: bool = False,
    secret_passthrough: bool = False,
) -> Config:
    """Validate a snapshot and build the Config; raise ConfigError listing every problem.

    ``source`` is a :class:`Snapshot` or any iterable of objects as dicts (CRs of both
    BGPPeer versions, Namespaces, Secrets, Nodes; other kinds are ignored).
    ``bgp_type`` selects the native or FRR rules; None applies neither (upstream's
    ``DontValidate``, used by its ConfigMap converter). ``namespace``, when given, is where
    every metallb.io object must live (the webhook's rule). ``missing_refs_warn`` turns
    references to a BFD profile, community alias or Secret absent from ``source`` into
    warnings (upstream's webhook lets them through; the controller retries on them).
    ``secret_passthrough`` (the speaker's ``--frrk8s-secret-passthrough``) leaves BGPPeer
    password Secrets unresolved: frr-k8s reads them.
    """
    mode = None if bgp_type is None else BGPType(bgp_type)
    try:
        return _build(source, mode, namespace, missing_refs_warn, secret_passthrough)
    except ConfigError:
        raise
    except RecursionError:
        ref = ObjectRef("", "", "")
        raise ConfigError((Problem(ref, "", "input is nested too deeply"),)) from None


def _build(
    source: Snapshot | Iterable[Any],
    bgp_type: BGPType | None,
    namespace: str | None,
    missing_refs_warn: bool,
    secret_passthrough: bool = False,
) -> Config:
    snapshot = source if isinstance(source, Snapshot) else snapshot_from_objects(source)
    ctx = Context(
        snapshot,
        bgp_type,
        missing_refs_warn=missing_refs_warn,
        secret_passthrough=secret_passthrough,
    )

    pool_crs = _parsed(ctx, "IPAddressPool", IPAddressPool, namespace)
    community_crs = _parsed(ctx, "Community", Community, namespace)
    l2_crs = _parsed(ctx, "L2Advertisement", L2Advertisement, namespace)
    bgp_crs = _parsed(ctx, "BGPAdvertisement", BGPAdvertisement, namespace)
    bfd_crs = _parsed(ctx, "BFDProfile", BFDProfile, namespace)
    peer_crs = _parsed(ctx, "BGPPeer", BGPPeerV1beta2, namespace)

    pools = build_pools.build_pools(ctx, pool_crs)
    communities = build_ads.build_communities(ctx, community_crs)
    l2_ads = build_ads.build_l2_ads(ctx, l2_crs, pools)
    bgp_ads = build_ads.build_bgp_ads(ctx, bgp_crs, pools, dict(communities))
    ad_refs = {ref.name: ref for ref, _ in bgp_crs}
    build_ads.check_bgp_ads_per_pool(ctx, bgp_ads, ad_refs, pools)
    profiles = build_peers.build_bfd_profiles(ctx, bfd_crs)
    peers = build_peers.build_peers(ctx, peer_crs, {p.name for p in profiles})

    ads_with_refs = [(ad_refs[a.name], a) for a in bgp_ads]
    peer_refs = {ref.name: ref for ref, _ in peer_crs}
    if bgp_type is BGPType.NATIVE:
        modes.check_native(
            ctx,
            peers=peer_crs,
            bfd=bfd_crs,
        )
    elif bgp_type is not None:
        modes.check_frr(ctx, [(peer_refs[p.name], p) for p in peers])
    modes.check_bfd_echo_ipv6(ctx, pools, ads_with_refs, peers, profiles)
    for ref, ad in ads_with_refs:
        for name in ad.peers:
            if name not in peer_refs:
                ctx.warnings.append(
                    f"{ref}: spec.peers: BGPPeer {go_quote(name)} does not exist (yet)"
                )

    ctx.problems.raise_if_any()
    return Config(
        pools=tuple(pools),
        l2_advertisements=tuple(l2_ads),
        bgp_advertisements=tuple(bgp_ads),
        peers=tuple(peers),
        bfd_profiles=tuple(profiles),
        communities=tuple(communities),
        warnings=tuple(ctx.warnings),
    )
