"""Who announces a Service, node by node, and why each other node does not.

Pure. Layer 2: every Node in election order (the order of
:func:`metallb.election.ranking.rank`: preference score, then SHA-256 of ``node#ip``),
each with its eligibility as the election decides it: the election's own candidate rules
(:func:`~metallb.election.ranking.exclusions`, which
:func:`~metallb.election.ranking.candidates` applies), every one the node fails named in
words (no speaker, NetworkUnavailable, the exclude label, no L2Advertisement selecting it,
no local endpoint under ``externalTrafficPolicy: Local``).
The owner is the first eligible node, which is what :func:`~metallb.election.ranking.owner`
returns; the two are checked against each other so that this view cannot silently drift
from the speakers' code.

BGP: each node's :func:`metallb.speaker.bgp_decision.decide`, in words.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from metallb.config.types import Config
from metallb.election import ranking as election
from metallb.speaker import bgp_decision, layer2_decision
from metallb.views import Endpoint, Service


@dataclass(frozen=True)
class NodeVerdict:
    """One node in election order: eligible or not (and why), and whether it owns the IP."""

    node: str
    eligible: bool
    owner: bool = False
    why_not: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layer2View:
    """The election for one Service: ``blocked`` when nobody may announce at all."""

    ip: str
    ranking: tuple[NodeVerdict, ...]
    owner: str | None
    interfaces: tuple[str, ...] = ()
    blocked: str = ""


EXCLUSIONS: Mapping[election.Exclusion, str] = {
    election.Exclusion.NO_SPEAKER: "no running speaker on this node",
    election.Exclusion.NETWORK_UNAVAILABLE: "its NetworkUnavailable condition is True",
    election.Exclusion.EXCLUDED: f"it is labelled {election.EXCLUDE_LB_LABEL}",
    election.Exclusion.NOT_SELECTED: "the nodeSelectors of L2Advertisement {ads} do not select it",
    election.Exclusion.NO_LOCAL_ENDPOINT: (
        "externalTrafficPolicy is Local and it hosts no ready endpoint"
    ),
}


def layer2_view(
    config: Config,
    service: Service,
    *,
    ips: Sequence[str],
    pool: str,
    nodes: Sequence[election.Node],
    members: Collection[str] | None,
    endpoints: Sequence[Endpoint],
    ignore_exclude_lb: bool = False,
) -> Layer2View | None:
    """The Layer 2 election for the Service's IPs; None when its pool has no L2Advertisement.

    ``members``: nodes with a live speaker; None when unknown (every Node counts, as
    upstream does with memberlist disabled).
    """
    cfg_ads = config.l2_advertisements_for(pool)
    if not cfg_ads or not ips:
        return None
    esvc = layer2_decision.election_service(service, ips, endpoints)
    all_ads = [layer2_decision.advertisement(a) for a in cfg_ads]
    ads = election.applicable_advertisements(esvc, all_ads)
    by_name = {n.name: n for n in nodes}
    scores = election.preference_scores(ads, nodes)
    order = election.rank(by_name, esvc.ip, scores)
    blocked = ""
    refused = election.refusal(esvc, ads)
    if refused is election.Reason.NO_ACTIVE_ENDPOINT:
        blocked = (
            "no endpoint can serve (no ready endpoint in any EndpointSlice of the Service): "
            "no node announces it until a backend is ready"
        )
    elif not ads:
        blocked = (
            "no L2Advertisement of pool "
            f"{pool} applies: their serviceSelectors do not match the Service's labels"
        )
    elif refused is not None:
        blocked = (
            "the Service shares its IP (allow-shared-ip) and an L2Advertisement for it has "
            "serviceSelectors: refused, as upstream, since two nodes could announce one IP"
        )
    verdicts: list[NodeVerdict] = []
    found_owner = None
    hosting = election.local_hosts(esvc)
    ad_names = ", ".join(ad.name for ad in ads)
    for name in order:
        # Every cause, not only the first: fixing one should not reveal another by surprise.
        why = tuple(
            EXCLUSIONS[e].format(ads=ad_names)
            for e in election.exclusions(
                by_name[name], ads, members, hosting=hosting, ignore_exclude_lb=ignore_exclude_lb
            )
        )
        eligible = not why
        owns = not blocked and eligible and found_owner is None
        if owns:
            found_owner = name
        verdicts.append(NodeVerdict(name, eligible, owns, why))
    core_owner = election.owner(
        esvc,
        advertisements=all_ads,
        nodes=nodes,
        members=members,
        ignore_exclude_lb=ignore_exclude_lb,
    )
    # The ranking shown must be the speakers' ranking; a mismatch is a bug here.
    assert core_owner == found_owner, (core_owner, found_owner)
    interfaces: tuple[str, ...] = ()
    if found_owner is not None:
        interfaces = layer2_decision.interfaces_for(cfg_ads, esvc.labels, by_name[found_owner])
    return Layer2View(str(ips[0]), tuple(verdicts), found_owner, interfaces, blocked)


BGP_REASONS: Mapping[bgp_decision.Reason, str] = {
    bgp_decision.Reason.NOT_OWNER: (
        "no BGPAdvertisement of the pool selects this node (nodeSelectors)"
    ),
    bgp_decision.Reason.NO_MATCHING_ADVERTISEMENT: (
        "the serviceSelectors of the pool's BGPAdvertisements selecting this node do not "
        "match the Service"
    ),
    bgp_decision.Reason.CONFLICTING_ADVERTISEMENTS: (
        "two BGPAdvertisements apply with different localPref to the same peers"
    ),
    bgp_decision.Reason.NETWORK_UNAVAILABLE: "its NetworkUnavailable condition is True",
    bgp_decision.Reason.EXCLUDED: f"it is labelled {election.EXCLUDE_LB_LABEL}",
    bgp_decision.Reason.NO_LOCAL_ENDPOINTS: (
        "externalTrafficPolicy is Local and it hosts no ready endpoint"
    ),
    bgp_decision.Reason.NO_ENDPOINTS: "the Service has no ready endpoint anywhere",
}


@dataclass(frozen=True)
class BGPNode:
    """One node's BGP decision: the peers it advertises to, or why it does not."""

    node: str
    peers: tuple[str, ...] = ()
    why_not: str = ""


def bgp_view(
    config: Config,
    service: Service,
    *,
    ips: Sequence[str],
    pool: str,
    nodes: Sequence[election.Node],
    endpoints: Sequence[Endpoint],
) -> tuple[BGPNode, ...] | None:
    """Per node (by name): advertising to which peers, or why not; None without
    BGPAdvertisements for the pool."""
    if not ips or not config.bgp_advertisements_for(pool):
        return None
    out = []
    for node in sorted(nodes, key=lambda n: n.name):
        decision = bgp_decision.decide(config, service, node=node, endpoints=endpoints, ips=ips)
        if isinstance(decision, bgp_decision.Announce):
            if decision.peers:
                out.append(BGPNode(node.name, decision.peers))
            else:
                sessions = bgp_decision.sessions(config, node)
                out.append(
                    BGPNode(
                        node.name,
                        why_not="no BGPPeer selects this node"
                        if not sessions
                        else "the applicable BGPAdvertisements name none of its peers "
                        f"({', '.join(p.name for p in sessions)})",
                    )
                )
        else:
            out.append(
                BGPNode(node.name, why_not=BGP_REASONS.get(decision.reason, decision.reason))
            )
    return tuple(out)
