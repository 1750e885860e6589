"""The Layer 2 owner election: the candidates for a Service's IPs and their ranking.

Which node answers ARP/NDP for the IPs is the first of the ranking.

Every speaker runs this on the same inputs and must reach the same answer without
talking to the others, so it is a pure function of frozen values: the Service (labels,
annotations that matter, traffic policy, first ingress IP, endpoints), the
L2Advertisements of its pool, the Node objects, and the live memberlist members. It
follows upstream's ``ShouldAnnounce`` and ``sortL2Candidates``
(``speaker/layer2_controller.go``):

1. no endpoint anywhere can serve: nobody announces;
2. the advertisements that apply are those whose ``serviceSelectors`` are empty or match;
3. ``allow-shared-ip`` with any such advertisement having ``serviceSelectors``: refused;
4. this node must be selected by one of those advertisements;
5. candidates: live members (every Node when memberlist is disabled), minus nodes whose
   NetworkUnavailable condition is True, minus nodes labelled
   ``node.kubernetes.io/exclude-from-external-load-balancers`` (unless ignored), kept
   only if some applicable advertisement selects them; for
   ``externalTrafficPolicy: Local``, only those hosting an endpoint that can serve;
6. order: higher ``preferredNodeSelectors`` score first, then ascending SHA-256 of
   ``"<node>#<ip>"`` where ``ip`` is the Go text form of the first ingress IP (so both
   IPs of a dual-stack Service move together). The first candidate owns the IP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv6Address

from metallb import views
from metallb.config.addresses import IPAddress
from metallb.election.labels import LabelMatcher, any_matches
from metallb.views import serving

EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

# What the election reads of Nodes and endpoints: the views' own values, by their names
# in the election's vocabulary.
Node = views.Node
Endpoint = views.Endpoint


@dataclass(frozen=True, slots=True)
class PreferredNodeSelector:
    """A weighted soft preference (``spec.preferredNodeSelectors[]``, weight 1..100)."""

    weight: int
    preference: LabelMatcher


@dataclass(frozen=True, slots=True)
class Advertisement:
    """The parts of an L2Advertisement the election reads; empty selector lists = all."""

    name: str
    node_selectors: tuple[LabelMatcher, ...] = ()
    service_selectors: tuple[LabelMatcher, ...] = ()
    preferred: tuple[PreferredNodeSelector, ...] = ()

    def selects_node(self, node: Node) -> bool:
        """``nodeSelectors`` are ORed; none selects every node."""
        return not self.node_selectors or any_matches(self.node_selectors, node.labels)

    def applies_to(self, service_labels: Mapping[str, str]) -> bool:
        """``serviceSelectors`` are ORed; none applies to every Service."""
        return not self.service_selectors or any_matches(self.service_selectors, service_labels)

    def preference(self, node: Node) -> int:
        """Sum of the weights of matching preferences, for nodes this ad selects only."""
        if not self.selects_node(node):
            return 0
        return sum(p.weight for p in self.preferred if p.preference.matches(node.labels))


@dataclass(frozen=True)
class Service:
    """What the election needs of a Service and its EndpointSlices."""

    ip: IPAddress  # the first ingress IP; it alone feeds the hash
    labels: Mapping[str, str] = field(default_factory=dict)
    shared_ip: bool = False  # carries metallb.io/allow-shared-ip (or the legacy key)
    local_traffic_policy: bool = False  # externalTrafficPolicy: Local
    endpoints: tuple[Endpoint, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", views.frozen(self.labels))


class Reason(StrEnum):
    """Why this node does not announce. ``upstream`` is the string upstream logs."""

    NO_ACTIVE_ENDPOINT = "noActiveEndpoint"
    SHARED_IP_WITH_SERVICE_SELECTOR = "sharedIPWithServiceSelector"
    NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
    NO_CANDIDATES = "noCandidates"
    NOT_OWNER = "notOwner"

    @property
    def upstream(self) -> str:
        """Upstream folds the three "someone else (or nobody)" cases into notOwner."""
        if self in (Reason.NO_ACTIVE_ENDPOINT, Reason.NO_CANDIDATES):
            return str(Reason.NOT_OWNER)
        return str(self)


@dataclass(frozen=True, slots=True)
class Election:
    """The outcome for one node: the ranking (best first), its owner, and why not us."""

    ranking: tuple[str, ...]
    reason: Reason | None  # None: this node announces

    @property
    def owner(self) -> str | None:
        """The announcing node, or None if nobody may announce."""
        return self.ranking[0] if self.ranking else None


def go_ip_string(ip: IPAddress) -> str:
    """The text Go's ``net.IP.String`` gives, which the hash input must reproduce.

    Both print IPv6 in RFC 5952 form; Go prints IPv4-mapped addresses as dotted IPv4.
    """
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def election_key(node: str, ip: IPAddress) -> bytes:
    """SHA-256 of ``"<node>#<ip>"``: the tie-break every speaker computes alike."""
    return hashlib.sha256(f"{node}#{go_ip_string(ip)}".encode()).digest()


def rank(candidates: Iterable[str], ip: IPAddress, scores: Mapping[str, int]) -> tuple[str, ...]:
    """Order candidates: higher preference score first, then ascending hash bytes.

    Input order never matters (duplicates collapse), so all speakers agree.
    """
    return tuple(sorted(set(candidates), key=lambda n: (-scores.get(n, 0), election_key(n, ip))))


def applicable_advertisements(
    service: Service, advertisements: Iterable[Advertisement]
) -> tuple[Advertisement, ...]:
    """The pool's advertisements whose ``serviceSelectors`` are empty or match."""
    return tuple(ad for ad in advertisements if ad.applies_to(service.labels))


def preference_scores(
    advertisements: Iterable[Advertisement], nodes: Iterable[Node]
) -> dict[str, int]:
    """Per node, the preference weights summed over every applicable advertisement."""
    ads = tuple(advertisements)
    scores = {node.name: sum(ad.preference(node) for ad in ads) for node in nodes}
    return {name: score for name, score in scores.items() if score}


class Exclusion(StrEnum):
    """A candidate rule (step 5) that keeps a node from announcing."""

    NO_SPEAKER = "noSpeaker"
    NETWORK_UNAVAILABLE = "networkUnavailable"
    EXCLUDED = "excludeFromLoadBalancers"
    NOT_SELECTED = "notSelected"
    NO_LOCAL_ENDPOINT = "noLocalEndpoint"


def local_hosts(service: Service) -> frozenset[str | None] | None:
    """Under ``externalTrafficPolicy: Local``, the nodes hosting an endpoint that can
    serve (kube-proxy drops the traffic elsewhere); None under ``Cluster``."""
    if not service.local_traffic_policy:
        return None
    return frozenset(ep.node_name for ep in serving(service.endpoints))


def exclusions(
    node: Node,
    ads: Collection[Advertisement],
    members: Collection[str] | None,
    *,
    hosting: Collection[str | None] | None,
    ignore_exclude_lb: bool = False,
) -> Iterator[Exclusion]:
    """Every candidate rule ``node`` fails, lazily, in the order they are checked: the
    election stops at the first, ``metallb plan`` names them all. ``hosting`` is
    :func:`local_hosts` of the Service."""
    if members is not None and node.name not in members:
        yield Exclusion.NO_SPEAKER
    if node.network_unavailable:
        yield Exclusion.NETWORK_UNAVAILABLE
    if not ignore_exclude_lb and EXCLUDE_LB_LABEL in node.labels:
        yield Exclusion.EXCLUDED
    if not any(ad.selects_node(node) for ad in ads):
        yield Exclusion.NOT_SELECTED
    if hosting is not None and node.name not in hosting:
        yield Exclusion.NO_LOCAL_ENDPOINT


def candidates(
    service: Service,
    ads: Collection[Advertisement],
    nodes: Mapping[str, Node],
    members: Collection[str] | None,
    *,
    ignore_exclude_lb: bool = False,
) -> frozenset[str]:
    """The nodes that may announce (step 5 and 6), before ranking: those no rule of
    :func:`exclusions` keeps out.

    ``members`` are memberlist's live members (alive or suspect); None means memberlist
    is disabled and every Node counts as running a speaker. A member with no Node object
    is never selected by an advertisement, so it is never a candidate.
    """
    hosting = local_hosts(service)
    eligible = set()
    for name in nodes.keys() if members is None else members:
        node = nodes.get(name)
        # Only live members are walked, so the membership rule needs no second look.
        if (
            node is not None
            and next(
                exclusions(node, ads, None, hosting=hosting, ignore_exclude_lb=ignore_exclude_lb),
                None,
            )
            is None
        ):
            eligible.add(name)
    return frozenset(eligible)


def refusal(service: Service, ads: Iterable[Advertisement]) -> Reason | None:
    """Why nobody at all may announce (steps 1 and 3), given the applicable ``ads``."""
    if next(serving(service.endpoints), None) is None:
        return Reason.NO_ACTIVE_ENDPOINT
    # Sharing an IP between Services whose advertisements differ by serviceSelectors
    # would let two nodes announce one IP; upstream refuses the combination.
    if service.shared_ip and any(ad.service_selectors for ad in ads):
        return Reason.SHARED_IP_WITH_SERVICE_SELECTOR
    return None


def _ranking(
    service: Service,
    advertisements: Iterable[Advertisement],
    nodes: Mapping[str, Node],
    members: Collection[str] | None,
    ignore_exclude_lb: bool,
) -> tuple[tuple[str, ...], tuple[Advertisement, ...], Reason | None]:
    """The node-independent part: the ranking, the applicable ads, or why nobody wins."""
    ads = applicable_advertisements(service, advertisements)
    refused = refusal(service, ads)
    if refused is Reason.NO_ACTIVE_ENDPOINT:
        return (), (), refused
    if refused is not None:
        return (), ads, refused
    # All applicable ads, not only those selecting a given node, so every speaker
    # evaluates the same candidate set.
    eligible = candidates(service, ads, nodes, members, ignore_exclude_lb=ignore_exclude_lb)
    ranking = rank(eligible, service.ip, preference_scores(ads, nodes.values()))
    return ranking, ads, None if ranking else Reason.NO_CANDIDATES


def elect(
    my_node: str,
    service: Service,
    *,
    advertisements: Iterable[Advertisement],
    nodes: Iterable[Node],
    members: Collection[str] | None,
    ignore_exclude_lb: bool = False,
) -> Election:
    """Decide whether ``my_node`` announces ``service`` (upstream ``ShouldAnnounce``).

    ``advertisements`` are the L2Advertisements of the Service's pool; ``nodes`` every
    Node object the speaker knows. The ranking is the same on every node; it is empty
    when nobody may announce.
    """
    by_name = {node.name: node for node in nodes}
    ranking, ads, reason = _ranking(service, advertisements, by_name, members, ignore_exclude_lb)
    if reason in (Reason.NO_ACTIVE_ENDPOINT, Reason.SHARED_IP_WITH_SERVICE_SELECTOR):
        return Election(ranking, reason)
    # Upstream checks this before the candidates, so it wins over "no candidates".
    me = by_name.get(my_node)
    if me is None or not any(ad.selects_node(me) for ad in ads):
        return Election(ranking, Reason.NO_MATCHING_ADVERTISEMENT)
    if reason is not None:
        return Election(ranking, reason)
    return Election(ranking, None if ranking[0] == my_node else Reason.NOT_OWNER)


def owner(
    service: Service,
    *,
    advertisements: Iterable[Advertisement],
    nodes: Iterable[Node],
    members: Collection[str] | None,
    ignore_exclude_lb: bool = False,
) -> str | None:
    """The node that announces ``service``, as every speaker computes it (for ``plan``)."""
    by_name = {node.name: node for node in nodes}
    ranking, _, _ = _ranking(service, advertisements, by_name, members, ignore_exclude_lb)
    return ranking[0] if ranking else None
