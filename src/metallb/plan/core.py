"""The what-if computation behind ``metallb plan``.

1. The metallb.io objects (and a legacy ``config`` ConfigMap, expanded) build the
   Config; an invalid configuration raises :class:`~metallb.config.errors.ConfigError`.
2. Every ``type: LoadBalancer`` Service without another ``loadBalancerClass`` goes
   through the allocator as after a controller restart: Services that already hold IPs
   first (two before one), then the rest, in document order.
3. For each Service that got an IP from a pool with L2Advertisements, the Layer 2
   election names the announcing node: every Node in the input is a live speaker
   unless listed as down (its Ready condition does not matter, as upstream).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import ip_address
from typing import Any

from metallb.config.build import build_config
from metallb.config.legacy import expand_configmaps
from metallb.config.types import BGPType, Config, L2Advertisement
from metallb.election import layer2
from metallb.ipam import service
from metallb.ipam.converge import plan as allocate_all
from metallb.ipam.from_config import pools_from_config
from metallb.ipam.model import PoolCounters

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
LEGACY_SHARED_IP = "metallb.universe.tf/allow-shared-ip"
SHARED_IP = "metallb.io/allow-shared-ip"


@dataclass(frozen=True)
class Layer2Plan:
    node: str
    interfaces: tuple[str, ...]  # () means every eligible interface


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


@dataclass(frozen=True)
class PlanOutput:
    services: tuple[ServicePlan, ...]
    pools: tuple[tuple[str, PoolCounters], ...]
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The JSON document DESIGN.md specifies for ``-o json``."""
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
                    # BGP announcements are not planned yet (the BGP speaker issue).
                    "bgp": None,
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


def _node(obj: Mapping[str, Any]) -> layer2.Node:
    conditions = (obj.get("status") or {}).get("conditions") or []
    unavailable = any(
        c.get("type") == "NetworkUnavailable" and c.get("status") == "True" for c in conditions
    )
    return layer2.Node(
        name=str(_meta(obj).get("name") or ""),
        labels=dict(_meta(obj).get("labels") or {}),
        network_unavailable=unavailable,
    )


def _endpoints(
    slices: Sequence[Mapping[str, Any]], ns: str, name: str
) -> tuple[layer2.Endpoint, ...]:
    out = []
    for s in slices:
        meta = _meta(s)
        if meta.get("namespace", "default") != ns:
            continue
        if (meta.get("labels") or {}).get(SERVICE_NAME_LABEL) != name:
            continue
        for ep in s.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            out.append(layer2.Endpoint(ep.get("nodeName"), cond.get("ready"), cond.get("serving")))
    return tuple(out)


def _advertisement(ad: L2Advertisement) -> layer2.Advertisement:
    return layer2.Advertisement(
        name=ad.name,
        node_selectors=ad.node_selectors,
        service_selectors=ad.service_selectors,
        preferred=tuple(
            layer2.PreferredNodeSelector(p.weight, p.selector) for p in ad.preferred_nodes
        ),
    )


def _layer2(
    config: Config,
    svc: Mapping[str, Any],
    *,
    plan: ServicePlan,
    nodes: Sequence[layer2.Node],
    members: frozenset[str],
    slices: Sequence[Mapping[str, Any]],
) -> tuple[Layer2Plan | None, str]:
    """The announcing node and interfaces, or None and the reason nobody announces."""
    if not plan.ips or plan.pool is None:
        return None, ""
    ads = config.l2_advertisements_for(plan.pool)
    if not ads:
        return None, "no L2Advertisement for its pool"
    spec = svc.get("spec") or {}
    annotations = _meta(svc).get("annotations") or {}
    labels = dict(_meta(svc).get("labels") or {})
    election_svc = layer2.Service(
        ip=ip_address(plan.ips[0]),
        labels=labels,
        shared_ip=bool(annotations.get(SHARED_IP) or annotations.get(LEGACY_SHARED_IP)),
        local_traffic_policy=spec.get("externalTrafficPolicy") == "Local",
        endpoints=_endpoints(slices, plan.namespace, plan.name),
    )
    if not any(e.can_serve for e in election_svc.endpoints):
        return None, "no ready endpoint in any EndpointSlice"
    owner = layer2.owner(
        election_svc, advertisements=[_advertisement(a) for a in ads], nodes=nodes, members=members
    )
    if owner is None:
        return None, "no eligible node"
    # Interfaces: those of the advertisements that apply to this Service and select the
    # owner; one such advertisement without a list means every interface.
    me = next(n for n in nodes if n.name == owner)
    lists = [
        a.interfaces
        for a in ads
        if _advertisement(a).applies_to(labels) and _advertisement(a).selects_node(me)
    ]
    interfaces = () if any(not i for i in lists) else tuple(sorted({i for li in lists for i in li}))
    return Layer2Plan(owner, interfaces), ""


def plan_objects(
    objects: Iterable[Any],
    *,
    down_nodes: Iterable[str] = (),
    bgp_type: BGPType | str = BGPType.NATIVE,
) -> PlanOutput:
    """Plan every Service in ``objects``; raise ConfigError when the configuration is bad."""
    objects = expand_configmaps(objects)
    config = build_config(objects, bgp_type=bgp_type)
    dicts = [o for o in objects if isinstance(o, Mapping)]
    namespaces = {
        str(_meta(o).get("name")): dict(_meta(o).get("labels") or {})
        for o in dicts
        if _kind(o, "v1", "Namespace")
    }
    services = [o for o in dicts if _kind(o, "v1", "Service")]
    nodes = [_node(o) for o in dicts if _kind(o, "v1", "Node")]
    down = set(down_nodes)
    members = frozenset(n.name for n in nodes if n.name not in down)
    slices = [o for o in dicts if _kind(o, "discovery.k8s.io/v1", "EndpointSlice")]

    handled = [(i, s) for i, s in enumerate(services) if service.is_handled(s)]
    requests = []
    for _, s in handled:
        ns = _meta(s).get("namespace") or "default"
        labels = namespaces.get(ns, {"kubernetes.io/metadata.name": ns})
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
        l2, note = _layer2(config, svc, plan=p, nodes=nodes, members=members, slices=slices)
        plans[i] = replace(p, layer2=l2, layer2_note=note)
    out = []
    for i, svc in enumerate(services):
        if i in plans:
            out.append(plans[i])
        else:
            meta = _meta(svc)
            out.append(
                ServicePlan(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
            )
    counters = result.pools
    return PlanOutput(
        services=tuple(out),
        pools=tuple((p.name, counters.get(p.name, PoolCounters())) for p in config.pools),
        warnings=config.warnings,
    )
