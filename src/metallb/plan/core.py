"""The what-if computation behind ``metallb plan``.

1. The metallb.io objects (and a legacy ``config`` ConfigMap, expanded) build the
   Config; an invalid configuration raises :class:`~metallb.config.errors.ConfigError`.
2. Every ``type: LoadBalancer`` Service without another ``loadBalancerClass`` goes
   through the allocator as after a controller restart: Services that already hold IPs
   first (two before one), then the rest, in document order.
3. For each Service that got an IP from a pool with L2Advertisements, the Layer 2
   election names the announcing node: every Node in the input is a live speaker
   unless listed as down (its Ready condition does not matter, as upstream).
4. For each Service with an IP from a pool with BGPAdvertisements, every such Node that
   advertises it (metallb.speaker.bgp_decision, the same decision the speakers take) and the
   BGPPeers it goes to; a node with no peer for it advertises nothing and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from metallb import views
from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.legacy import expand_configmaps
from metallb.config.types import BGPType, Config
from metallb.election import ranking as election
from metallb.ipam import service
from metallb.ipam.converge import plan as allocate_all
from metallb.ipam.from_config import pools_from_config
from metallb.ipam.model import PoolCounters
from metallb.plan.shapes import shape_problems
from metallb.speaker import bgp_decision, layer2_decision


@dataclass(frozen=True)
class Layer2Plan:
    node: str
    interfaces: tuple[str, ...]  # () means every eligible interface


@dataclass(frozen=True)
class BGPPlan:
    node: str
    peers: tuple[str, ...]  # sorted BGPPeer names, as in ServiceBGPStatus


@dataclass(frozen=True)
class ServicePlan:
    namespace: str
    name: str
    ips: tuple[str, ...] = ()
    pool: str | None = None
    error: str | None = None
    layer2: Layer2Plan | None = None
    # Why no node announces it in Layer 2 (for people; not part of the JSON output).
    layer2_note: str = ""
    # None: its pool has no BGPAdvertisement; else the advertising nodes, sorted.
    bgp: tuple[BGPPlan, ...] | None = None


@dataclass(frozen=True)
class PlanOutput:
    services: tuple[ServicePlan, ...]
    pools: tuple[tuple[str, PoolCounters], ...]
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The ``-o json`` document: ``services`` (in input order), ``pools``, ``warnings``."""
        return {
            "services": [
                {
                    "namespace": s.namespace,
                    "name": s.name,
                    "ips": list(s.ips),
                    "pool": s.pool,
                    "error": s.error,
                    "layer2": None
                    if s.layer2 is None
                    else {"node": s.layer2.node, "interfaces": list(s.layer2.interfaces)},
                    "bgp": None
                    if s.bgp is None
                    else [{"node": b.node, "peers": list(b.peers)} for b in s.bgp],
                }
                for s in self.services
            ],
            "pools": [
                {
                    "name": name,
                    "assignedIPv4": c.assigned_ipv4,
                    "assignedIPv6": c.assigned_ipv6,
                    "availableIPv4": c.available_ipv4,
                    "availableIPv6": c.available_ipv6,
                }
                for name, c in self.pools
            ],
        }


def _kind(obj: Mapping[str, Any], api: str, kind: str) -> bool:
    return obj.get("apiVersion") == api and obj.get("kind") == kind


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _layer2(
    config: Config,
    svc: views.Service,
    *,
    plan: ServicePlan,
    nodes: Sequence[election.Node],
    members: frozenset[str],
    endpoints: Sequence[views.Endpoint],
) -> tuple[Layer2Plan | None, str]:
    """The announcing node and interfaces, or None and the reason nobody announces.

    The same mapping and election as the running speakers (metallb.speaker.layer2_decision).
    """
    if not plan.ips or plan.pool is None:
        return None, ""
    node, interfaces, note = layer2_decision.owner(
        config,
        svc,
        ips=plan.ips,
        pool=plan.pool,
        nodes=nodes,
        members=members,
        endpoints=endpoints,
    )
    return (None, note) if node is None else (Layer2Plan(node, interfaces), "")


def _bgp(
    config: Config,
    svc: views.Service,
    *,
    plan: ServicePlan,
    nodes: Sequence[election.Node],
    endpoints: Sequence[views.Endpoint],
) -> tuple[BGPPlan, ...] | None:
    """The nodes advertising the Service over BGP and their peers (metallb.speaker.bgp_decision)."""
    if not plan.ips or plan.pool is None or not config.bgp_advertisements_for(plan.pool):
        return None
    out = []
    for node in sorted(nodes, key=lambda n: n.name):
        decision = bgp_decision.decide(config, svc, node=node, endpoints=endpoints, ips=plan.ips)
        if isinstance(decision, bgp_decision.Announce) and decision.peers:
            out.append(BGPPlan(node.name, decision.peers))
    return tuple(out)


# Stand-in cluster IPs for Services written as manifests: the allocator reads only their
# family. Documentation addresses, so they can never be mistaken for real ones.
_PLACEHOLDER_CLUSTER_IP = {"IPv4": "192.0.2.0", "IPv6": "2001:db8::"}
_DUAL = ("RequireDualStack", "PreferDualStack")


def as_created(svc: Mapping[str, Any]) -> Mapping[str, Any]:
    """A Service as the apiserver stores it on create, for manifests without clusterIPs.

    The apiserver picks the families (``ipFamilies`` if given, else IPv4; both for
    ``RequireDualStack`` and ``PreferDualStack``, as in a dual-stack cluster with an IPv4
    primary) and one clusterIP per family. A Service read from a cluster has them
    already and is returned unchanged, as is a headless or non-LoadBalancer one.
    """
    spec = svc.get("spec")
    if not isinstance(spec, Mapping) or spec.get("type") != "LoadBalancer":
        return svc
    if spec.get("clusterIPs") or spec.get("clusterIP"):
        return svc
    policy = spec.get("ipFamilyPolicy") or "SingleStack"
    given = spec.get("ipFamilies")
    families = [f for f in given if f in _PLACEHOLDER_CLUSTER_IP] if isinstance(given, list) else []
    families = families or ["IPv4"]
    if policy in _DUAL and len(families) == 1:
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")
    families = families[: 2 if policy in _DUAL else 1]
    ips = [_PLACEHOLDER_CLUSTER_IP[f] for f in families]
    new_spec = {
        **spec,
        "ipFamilyPolicy": policy,
        "ipFamilies": families,
        "clusterIP": ips[0],
        "clusterIPs": ips,
    }
    return {**svc, "spec": new_spec}


def plan_objects(
    objects: Iterable[Any],
    *,
    down_nodes: Iterable[str] = (),
    bgp_type: BGPType | str = BGPType.NATIVE,
    namespace: str | None = None,
) -> PlanOutput:
    """Plan every Service in ``objects``; raise ConfigError when the configuration is bad.

    ``kind: List`` documents count as their items; a malformed Service, Node, Namespace
    or EndpointSlice is a ConfigError too (:mod:`metallb.plan.shapes`); ``namespace``,
    when given, is the MetalLB namespace (metallb.io objects elsewhere are refused, as
    by the webhook).
    """
    objects = expand_configmaps(objects)  # also expands every List
    if bad_shapes := shape_problems(objects):
        raise ConfigError(tuple(bad_shapes))
    config = build_config(objects, bgp_type=bgp_type, namespace=namespace)
    dicts = [o for o in objects if isinstance(o, Mapping)]
    namespaces = {
        str(_meta(o).get("name")): dict(_meta(o).get("labels") or {})
        for o in dicts
        if _kind(o, "v1", "Namespace")
    }
    # The views the core reads, built once from the input.
    services = [views.Service.from_dict(as_created(o)) for o in dicts if _kind(o, "v1", "Service")]
    nodes = [views.Node.from_dict(o) for o in dicts if _kind(o, "v1", "Node")]
    down = set(down_nodes)
    members = frozenset(n.name for n in nodes if n.name not in down)
    endpoints = views.endpoints_by_service(
        views.EndpointSlice.from_dict(o)
        for o in dicts
        if _kind(o, "discovery.k8s.io/v1", "EndpointSlice")
    )

    handled = [(i, s) for i, s in enumerate(services) if service.is_handled(s)]
    requests = []
    for _, s in handled:
        labels = namespaces.get(s.namespace, {"kubernetes.io/metadata.name": s.namespace})
        requests.append(service.request_from_service(s, labels))
    result = allocate_all(pools_from_config(config), requests, namespaces)

    plans: dict[int, ServicePlan] = {}
    for (i, svc), (req, outcome) in zip(handled, result.services, strict=True):
        p = ServicePlan(
            req.namespace,
            req.name,
            tuple(str(ip) for ip in outcome.ips),
            outcome.pool,
            outcome.error,
        )
        eps = endpoints.get(svc.key, ())
        l2, note = _layer2(config, svc, plan=p, nodes=nodes, members=members, endpoints=eps)
        live = [n for n in nodes if n.name in members]
        bgp_plan = _bgp(config, svc, plan=p, nodes=live, endpoints=eps)
        plans[i] = replace(p, layer2=l2, layer2_note=note, bgp=bgp_plan)
    out = []
    for i, svc in enumerate(services):
        if i in plans:
            out.append(plans[i])
        else:
            out.append(ServicePlan(svc.namespace, svc.name))
    counters = result.pools
    return PlanOutput(
        services=tuple(out),
        pools=tuple((p.name, counters.get(p.name, PoolCounters())) for p in config.pools),
        warnings=config.warnings,
    )
