"""The speaker's Layer 2 decision for one Service on one node (pure).

From the typed views of the Kubernetes objects (:mod:`metallb.views`: a v1 Service,
the endpoints of its discovery/v1 EndpointSlices, the v1 Nodes), the validated
:class:`~metallb.config.types.Config`, the live membership and this node's name,
:func:`decide` says whether this node announces the Service's IPs, on which
interfaces, or why not. It follows upstream's
``ShouldAnnounce`` and ``SetBalancer`` (upstream's speaker/layer2_controller.go):

1. the Service must be ours (``type: LoadBalancer``, ``loadBalancerClass`` as
   ``--lb-class`` says) and carry ingress IPs in its status;
2. those IPs must all lie in one configured pool (else upstream withdraws: the IP may
   be left over from a deleted pool), and that pool must have L2Advertisements;
3. then the election of :mod:`metallb.election.ranking` (endpoints, service selectors,
   node selectors, members, NetworkUnavailable, the exclude label, Local policy,
   preferences, SHA-256 of ``node#ip``);
4. the interfaces are the union of those of the advertisements that apply to the
   Service and select this node; one such advertisement without a list means all.

The view-to-election mapping lives here only: ``metallb plan`` uses the same helpers
(:func:`election_service`, :func:`advertisement`, :func:`owner`), so the offline plan and
the running speakers cannot disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address

from metallb.config.types import Config, L2Advertisement
from metallb.election import ranking as election
from metallb.election.incremental import Elector
from metallb.ipam import service as svc_parse
from metallb.views import Endpoint, Service, serving


class Skip(StrEnum):
    """Why the Layer 2 protocol has nothing to do with a Service (before any election)."""

    NOT_HANDLED = "notHandled"  # not a LoadBalancer, or another loadBalancerClass
    NO_IP = "noIPAllocated"
    INVALID_IP = "invalidIP"  # an ingress entry without a parseable IP (a hostname, say)
    NOT_IN_POOL = "internalError"  # upstream logs "IP not in a pool" under this reason
    NO_L2_ADVERTISEMENT = "noL2Advertisement"


@dataclass(frozen=True, slots=True)
class Announce:
    """This node announces ``ips``; ``interfaces`` empty means every eligible interface."""

    ips: tuple[str, ...]
    interfaces: tuple[str, ...]
    pool: str


@dataclass(frozen=True, slots=True)
class Withdraw:
    """This node does not announce; ``owner`` is who does (None: nobody or unknown)."""

    reason: Skip | election.Reason
    owner: str | None = None


Decision = Announce | Withdraw


# -- mapping views to election values (shared with `metallb plan`) ---------------------


def advertisement(ad: L2Advertisement) -> election.Advertisement:
    return election.Advertisement(
        name=ad.name,
        node_selectors=ad.node_selectors,
        service_selectors=ad.service_selectors,
        preferred=tuple(
            election.PreferredNodeSelector(p.weight, p.selector) for p in ad.preferred_nodes
        ),
    )


def election_service(
    service: Service, ips: Sequence[str], endpoints: Sequence[Endpoint]
) -> election.Service:
    """The election's view of a Service whose first IP is ``ips[0]`` and whose
    EndpointSlices hold ``endpoints``."""
    annotations = service.annotations
    return election.Service(
        ip=ip_address(ips[0]),
        labels=service.labels,
        # Either key present, whatever its value (even empty), as upstream's
        # serviceHasSharedIP.
        shared_ip=any(
            prefix + svc_parse.ALLOW_SHARED_IP in annotations
            for prefix in (svc_parse.PREFIX, svc_parse.DEPRECATED_PREFIX)
        ),
        local_traffic_policy=service.local_traffic_policy,
        endpoints=tuple(endpoints),
    )


def interfaces_for(
    ads: Iterable[L2Advertisement], service_labels: Mapping[str, str], me: election.Node
) -> tuple[str, ...]:
    """Union of the interfaces of the ads applying to the Service and selecting ``me``;
    ``()`` (every interface) as soon as one of them names none."""
    lists = [
        a.interfaces
        for a in ads
        if advertisement(a).applies_to(service_labels) and advertisement(a).selects_node(me)
    ]
    if any(not i for i in lists):
        return ()
    return tuple(sorted({i for li in lists for i in li}))


def valid_ips(ips: Sequence[str]) -> bool:
    """Every entry parses as an address (upstream withdraws with ``invalidIP`` if not)."""
    try:
        for ip in ips:
            ip_address(ip)
    except ValueError:
        return False
    return True


def pool_for(config: Config, ips: Sequence[str]) -> str | None:
    """The first configured pool holding every one of ``ips`` (upstream ``poolFor``)."""
    try:
        addrs = [ip_address(i) for i in ips]
    except ValueError:
        return None
    for pool in config.pools:
        if addrs and all(any(a in r for r in pool.ranges) for a in addrs):
            return pool.name
    return None


def orphaned(config: Config, announced: Iterable[tuple[str, Sequence[str]]]) -> str | None:
    """Why ``config`` may not replace the running one (upstream's speaker SetConfig):
    some announced Service's IPs would have no pool; None when every one has."""
    for key, ips in sorted((k, tuple(v)) for k, v in announced):
        if ips and pool_for(config, ips) is None:
            return f"service {key} has no configuration under new config ({', '.join(ips)})"
    return None


# -- the decisions -------------------------------------------------------------------


def owner(
    config: Config,
    service: Service,
    *,
    ips: Sequence[str],
    pool: str,
    nodes: Sequence[election.Node],
    members: Collection[str] | None,
    endpoints: Sequence[Endpoint],
    ignore_exclude_lb: bool = False,
) -> tuple[str | None, tuple[str, ...], str]:
    """Who announces (as every speaker computes it), on which interfaces, else why not.

    Returns ``(node, interfaces, "")`` or ``(None, (), reason for people)``.
    """
    ads = config.l2_advertisements_for(pool)
    if not ads:
        return None, (), "no L2Advertisement for its pool"
    esvc = election_service(service, ips, endpoints)
    if next(serving(esvc.endpoints), None) is None:
        return None, (), "no ready endpoint in any EndpointSlice"
    winner = election.owner(
        esvc,
        advertisements=[advertisement(a) for a in ads],
        nodes=nodes,
        members=members,
        ignore_exclude_lb=ignore_exclude_lb,
    )
    if winner is None:
        return None, (), "no eligible node"
    me = next(n for n in nodes if n.name == winner)
    return winner, interfaces_for(ads, esvc.labels, me), ""


def _target(
    config: Config, service: Service, lb_class: str
) -> Withdraw | tuple[tuple[str, ...], str, Sequence[L2Advertisement]]:
    """Steps 1-2: the Service's IPs, pool and advertisements, or why it is not ours."""
    if not service.is_load_balancer or not svc_parse.is_handled(service, lb_class):
        return Withdraw(Skip.NOT_HANDLED)
    # Every ingress entry, a hostname one as "": upstream's SetBalancer refuses it.
    ips = service.ingress
    if not ips:
        return Withdraw(Skip.NO_IP)
    if not valid_ips(ips):
        return Withdraw(Skip.INVALID_IP)
    pool = pool_for(config, ips)
    if pool is None:
        return Withdraw(Skip.NOT_IN_POOL)
    ads = config.l2_advertisements_for(pool)
    if not ads:
        return Withdraw(Skip.NO_L2_ADVERTISEMENT)
    return ips, pool, ads


def decide(
    config: Config,
    service: Service,
    *,
    my_node: str,
    nodes: Sequence[election.Node],
    members: Collection[str] | None,
    endpoints: Sequence[Endpoint],
    lb_class: str = "",
    ignore_exclude_lb: bool = False,
    elector: Elector | None = None,
    key: str = "",
) -> Decision:
    """Whether ``my_node`` announces ``service`` in Layer 2 (see the module docstring).

    ``members`` are the live members (None: membership disabled, every Node counts);
    ``endpoints`` are those of the Service's EndpointSlices. With an
    ``elector`` (built with the same ``ignore_exclude_lb``), the election is its cached
    one for ``key`` (the Service's key), with the same outcome.
    """
    target = _target(config, service, lb_class)
    if isinstance(target, Withdraw):
        if elector is not None:
            elector.forget(key)  # out of the election: nothing to keep up to date
        return target
    ips, pool, ads = target
    esvc = election_service(service, ips, endpoints)
    election_ads = [advertisement(a) for a in ads]
    if elector is not None:
        elector.update(nodes, members)
        outcome = elector.elect(key, my_node, esvc, election_ads)
        reason, winner = outcome.reason, outcome.owner
    else:
        result = election.elect(
            my_node,
            esvc,
            advertisements=election_ads,
            nodes=nodes,
            members=members,
            ignore_exclude_lb=ignore_exclude_lb,
        )
        reason, winner = result.reason, result.owner
    if reason is not None:
        return Withdraw(reason, winner)
    me = next(n for n in nodes if n.name == my_node)
    return Announce(ips, interfaces_for(ads, esvc.labels, me), pool)
