"""The speaker's BGP decision for one node (pure): which peers it talks to, and what it
tells each of them about a Service.

From the validated :class:`~metallb.config.types.Config`, a v1 Service and the endpoints
of its discovery/v1 EndpointSlices as typed views (:mod:`metallb.views`), and this
node's :class:`~metallb.views.Node`, :func:`decide` says whether this node advertises
the Service and, if so, the routes per BGPPeer name. It follows upstream's
``ShouldAnnounce`` and ``SetBalancer`` (upstream's speaker/bgp_controller.go), in this order:

1. the Service must be ours (``type: LoadBalancer``, ``loadBalancerClass``), hold ingress
   IPs, all inside one pool (else upstream withdraws), and that pool must have
   BGPAdvertisements;
2. some advertisement of the pool selects this node (``nodeSelectors``) -> ``notOwner``;
3. the advertisements that apply are those among them whose ``serviceSelectors`` are
   empty or match -> ``noMatchingAdvertisement``;
4. two of those with different ``localPref`` whose peers overlap ->
   ``conflictingAdvertisements``;
5. the node's NetworkUnavailable condition, then the exclude-from-load-balancers label;
6. endpoints: ``externalTrafficPolicy: Local`` needs an address served on this node
   (``noLocalEndpoints``), ``Cluster`` one served anywhere (``noEndpoints``). Every node
   passing these advertises (ECMP); membership plays no part in BGP.

Routes: each IP masked to ``aggregationLength``/``aggregationLengthV6``, per applicable
advertisement; an advertisement with ``peers`` goes to those BGPPeers only, else to
every peer with a session on this node. ``localPref`` is carried for iBGP peers
(``myASN == peerASN``) only. Two advertisements giving the same prefix to the same peer
merge as upstream's native session merges them: the union of their communities. Their
localPrefs agree (step 4 withdraws otherwise); across Services, where upstream keeps
whichever its map iteration meets first, we keep the highest, so the outcome does not
depend on the order Services are seen in. FRR gets the same merged routes; its route
maps add communities up the same way (``on-match next``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

from metallb.config.community import Community
from metallb.config.types import BGPAdvertisement, Config, Peer
from metallb.election.labels import any_matches
from metallb.election.ranking import EXCLUDE_LB_LABEL
from metallb.ipam import service as svc_parse
from metallb.speaker import layer2_decision
from metallb.views import Endpoint, Node, Service, serving

IPNetwork = IPv4Network | IPv6Network


class Reason(StrEnum):
    """Why this node does not advertise a Service; values are upstream's log reasons."""

    NOT_HANDLED = "notHandled"
    NO_IP = "noIPAllocated"
    INVALID_IP = "invalidIP"
    NOT_IN_POOL = "internalError"  # upstream logs "IP not in a pool" under this reason
    NO_BGP_ADVERTISEMENT = "noBGPAdvertisement"
    NOT_OWNER = "notOwner"
    NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
    CONFLICTING_ADVERTISEMENTS = "conflictingAdvertisements"
    NETWORK_UNAVAILABLE = "nodeNetworkUnavailable"
    EXCLUDED = "nodeLabeledExcludeBalancers"
    NO_LOCAL_ENDPOINTS = "noLocalEndpoints"
    NO_ENDPOINTS = "noEndpoints"


@dataclass(frozen=True, slots=True, order=True)
class Route:
    """What one peer is told about one prefix.

    ``local_pref`` is None for eBGP peers (RFC 4271 5.1.5: LOCAL_PREF stays inside the
    AS); for iBGP peers it is the configured value, 0 meaning "not configured" (upstream's
    native speaker then sends 0; the FRR rendering sets nothing and the router's default
    applies). Communities are sorted and unique.
    """

    prefix: IPNetwork
    local_pref: int | None = None
    communities: tuple[Community, ...] = ()
    large_communities: tuple[Community, ...] = ()


@dataclass(frozen=True)
class Announce:
    """This node advertises ``ips`` (from ``pool``); ``routes`` maps BGPPeer names to the
    routes that peer gets, sorted by prefix. A peer with nothing to get is absent."""

    pool: str
    ips: tuple[str, ...]
    routes: Mapping[str, tuple[Route, ...]]

    @property
    def peers(self) -> tuple[str, ...]:
        """Sorted names of the BGPPeers this Service is sent to (ServiceBGPStatus)."""
        return tuple(sorted(self.routes))


@dataclass(frozen=True, slots=True)
class Withdraw:
    reason: Reason


Decision = Announce | Withdraw


@dataclass(frozen=True, slots=True)
class ServiceBGPStatus:
    """The ``status`` of one ServiceBGPStatus object (upstream's
    api/v1beta1/servicebgpstatus_types.go): one per (Service, advertising node); ``peers`` are where
    its prefixes are configured to go, not the sessions' state."""

    node: str
    service_name: str
    service_namespace: str
    peers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "serviceName": self.service_name,
            "serviceNamespace": self.service_namespace,
            "peers": list(self.peers),
        }


def peer_label(address: object, port: int) -> str:
    """The ``peer`` label of the BGP metrics: upstream's ``fmt.Sprintf("%s:%d", ...)``,
    so an IPv6 peer reads ``2001:db8::1:179`` (no brackets), in native and FRR mode."""
    return f"{address}:{port}"


def sessions(config: Config, node: Node) -> tuple[Peer, ...]:
    """The BGPPeers this node opens a session with: no ``nodeSelectors``, or one matching.

    Sorted by name, so that callers iterating them are deterministic.
    """
    return tuple(
        sorted(
            (
                p
                for p in config.peers
                if not p.node_selectors or any_matches(p.node_selectors, node.labels)
            ),
            key=lambda p: p.name,
        )
    )


def ibgp(peer: Peer) -> bool:
    """iBGP when both ends share an AS; a dynamic ``internal`` peer is iBGP too."""
    return peer.dynamic_asn == "internal" or (peer.asn != 0 and peer.my_asn == peer.asn)


def selects_node(ad: BGPAdvertisement, node: Node) -> bool:
    return not ad.node_selectors or any_matches(ad.node_selectors, node.labels)


def applies_to(ad: BGPAdvertisement, service_labels: Mapping[str, str]) -> bool:
    return not ad.service_selectors or any_matches(ad.service_selectors, service_labels)


def _peers_overlap(a: BGPAdvertisement, b: BGPAdvertisement) -> bool:
    # An empty peer list means every peer, which overlaps anything.
    return not a.peers or not b.peers or bool(set(a.peers) & set(b.peers))


def has_serving_endpoint(endpoints: Iterable[Endpoint], only_node: str | None) -> bool:
    """Upstream's ``hasHealthyEndpoint``: some endpoint with addresses can serve.

    Endpoints, not addresses, are the unit: the first endpoint that lists an address
    and can serve settles it, whatever another slice says of the same address. With
    ``only_node``, endpoints on other nodes, or on no node, are ignored.
    """
    return any(ep.addresses for ep in serving(endpoints, only_node))


def _mask(ip: str, ad: BGPAdvertisement) -> IPNetwork:
    addr = ip_address(ip)
    length = ad.aggregation_length if addr.version == 4 else ad.aggregation_length_v6
    return ip_network(f"{addr}/{length}", strict=False)


def routes_for(
    ads: Sequence[BGPAdvertisement], ips: Sequence[str], peers: Sequence[Peer]
) -> dict[str, tuple[Route, ...]]:
    """Per peer name, the merged routes the applicable ``ads`` give ``ips``."""
    out: dict[str, tuple[Route, ...]] = {}
    for peer in peers:
        merged: dict[IPNetwork, Route] = {}
        for ad in ads:
            if ad.peers and peer.name not in ad.peers:
                continue
            for ip in ips:
                prefix = _mask(ip, ad)
                route = Route(
                    prefix,
                    ad.local_pref if ibgp(peer) else None,
                    tuple(sorted(c for c in ad.communities if not c.large)),
                    tuple(sorted(c for c in ad.communities if c.large)),
                )
                merged[prefix] = merge(merged[prefix], route) if prefix in merged else route
        if merged:
            out[peer.name] = tuple(sorted(merged.values(), key=_route_key))
    return out


def _route_key(r: Route) -> tuple[int, int, int]:
    return (r.prefix.version, int(r.prefix.network_address), r.prefix.prefixlen)


def merge(first: Route, second: Route) -> Route:
    """Two advertisements of one prefix to one peer: union of communities, and the higher
    localPref (commutative and associative, so any order of merging agrees)."""
    prefs = [p for p in (first.local_pref, second.local_pref) if p is not None]
    return Route(
        first.prefix,
        max(prefs) if prefs else None,
        tuple(sorted(set(first.communities) | set(second.communities))),
        tuple(sorted(set(first.large_communities) | set(second.large_communities))),
    )


def decide(
    config: Config,
    service: Service,
    *,
    node: Node,
    endpoints: Sequence[Endpoint],
    ips: Sequence[str] | None = None,
    lb_class: str = "",
    ignore_exclude_lb: bool = False,
) -> Decision:
    """Whether ``node`` advertises ``service`` over BGP, and to whom (module docstring).

    ``ips`` default to the Service's ``status.loadBalancer.ingress`` (``metallb plan``
    passes the IPs it has just allocated); ``endpoints`` are those of the Service's
    EndpointSlices.
    """
    if not service.is_load_balancer or not svc_parse.is_handled(service, lb_class):
        return Withdraw(Reason.NOT_HANDLED)
    # Every ingress entry, a hostname one as "": upstream's SetBalancer refuses it.
    ips = tuple(ips) if ips is not None else service.ingress
    if not ips:
        return Withdraw(Reason.NO_IP)
    if not layer2_decision.valid_ips(ips):
        return Withdraw(Reason.INVALID_IP)
    pool = layer2_decision.pool_for(config, ips)
    if pool is None:
        return Withdraw(Reason.NOT_IN_POOL)
    pool_ads = config.bgp_advertisements_for(pool)
    if not pool_ads:
        return Withdraw(Reason.NO_BGP_ADVERTISEMENT)
    mine = [ad for ad in pool_ads if selects_node(ad, node)]
    if not mine:
        return Withdraw(Reason.NOT_OWNER)
    ads = [ad for ad in mine if applies_to(ad, service.labels)]
    if not ads:
        return Withdraw(Reason.NO_MATCHING_ADVERTISEMENT)
    for i, a in enumerate(ads):
        if any(a.local_pref != b.local_pref and _peers_overlap(a, b) for b in ads[i + 1 :]):
            return Withdraw(Reason.CONFLICTING_ADVERTISEMENTS)
    if node.network_unavailable:
        return Withdraw(Reason.NETWORK_UNAVAILABLE)
    if not ignore_exclude_lb and EXCLUDE_LB_LABEL in node.labels:
        return Withdraw(Reason.EXCLUDED)
    if service.local_traffic_policy:
        if not has_serving_endpoint(endpoints, node.name):
            return Withdraw(Reason.NO_LOCAL_ENDPOINTS)
    elif not has_serving_endpoint(endpoints, None):
        return Withdraw(Reason.NO_ENDPOINTS)
    return Announce(pool, ips, routes_for(ads, ips, sessions(config, node)))


def status(service: Service, node: str, decision: Decision) -> ServiceBGPStatus | None:
    """The ServiceBGPStatus this node keeps for ``service``; None: there is none (the node
    does not advertise it, or no peer of this node gets it)."""
    if not isinstance(decision, Announce) or not decision.routes:
        return None
    return ServiceBGPStatus(node, service.name, service.namespace, decision.peers)


def peer_tables(decisions: Iterable[Announce]) -> dict[str, dict[IPNetwork, Route]]:
    """All of a node's Services together: per peer name, prefix -> route.

    Services sharing an IP, or an aggregated prefix, merge like advertisements do.
    ``decisions`` may come in any order (see :func:`merge`).
    """
    out: dict[str, dict[IPNetwork, Route]] = {}
    for decision in decisions:
        for peer, routes in decision.routes.items():
            table = out.setdefault(peer, {})
            for r in routes:
                table[r.prefix] = merge(table[r.prefix], r) if r.prefix in table else r
    return out
