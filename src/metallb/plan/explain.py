"""``metallb explain``: why a Service has (or has no) IP, and who announces it.

Pure: it takes what the cluster holds (as dicts) and answers in sentences, walking the
same path the controller and the speakers walk, in order, and stopping at the first
thing that blocks: is it a LoadBalancer Service of our class, is the configuration
valid, which pool and IP the allocator gives it (and why not), which advertisements
cover that pool, whether any endpoint is ready, and which node announces it. Where the
cluster disagrees with what the core computes (no status although an IP is due, a
different announcing node), it says so: that points at a controller or speaker that is
not running or not healthy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.types import BGPType, Config
from metallb.ipam.service import is_handled
from metallb.plan.core import ServicePlan, plan_objects


class Level(StrEnum):
    OK = "ok"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _ingress(svc: Mapping[str, Any]) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if isinstance(i, Mapping) and i.get("ip")]


def _find(objects: Iterable[Mapping[str, Any]], kind: str, ns: str, name: str) -> Any:
    for o in objects:
        meta = _meta(o)
        if (
            o.get("kind") == kind
            and meta.get("name") == name
            and (meta.get("namespace") or "default") == ns
        ):
            return o
    return None


def _status_of(statuses: Iterable[Mapping[str, Any]], kind: str, ns: str, name: str) -> list[Any]:
    return [
        s
        for s in statuses
        if s.get("kind") == kind
        and (s.get("status") or {}).get("serviceName") == name
        and (s.get("status") or {}).get("serviceNamespace") == ns
    ]


def explain(
    namespace: str,
    name: str,
    *,
    objects: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]] = (),
    events: Sequence[Mapping[str, Any]] = (),
    lb_class: str = "",
    bgp_type: BGPType | str = BGPType.NATIVE,
) -> list[Finding]:
    """The findings for one Service, most fundamental first."""
    out: list[Finding] = []
    svc = _find(objects, "Service", namespace, name)
    if svc is None:
        return [Finding(Level.ERROR, f"Service {namespace}/{name} does not exist")]
    spec = svc.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return [
            Finding(
                Level.INFO,
                f"type is {spec.get('type') or 'ClusterIP'}, not "
                "LoadBalancer: MetalLB does not give it an IP",
            )
        ]
    if not is_handled(svc, lb_class):
        cls = spec.get("loadBalancerClass")
        mine = f"the class {lb_class!r}" if lb_class else "Services without a loadBalancerClass"
        return [
            Finding(
                Level.INFO,
                f"its loadBalancerClass is {cls!r}; this MetalLB serves "
                f"{mine} (--lb-class), so another implementation must handle it",
            )
        ]
    try:
        config = build_config(objects, bgp_type=bgp_type)
    except ConfigError as err:
        out.append(
            Finding(
                Level.ERROR,
                "the MetalLB configuration is invalid, so the "
                f"controller keeps its last valid one (if any):\n{err}",
            )
        )
        return out
    if not config.pools:
        out.append(
            Finding(
                Level.ERROR,
                "there is no IPAddressPool: create one in the MetalLB namespace (metallb-system)",
            )
        )
        return out
    for state in (s for s in statuses if s.get("kind") == "ConfigurationState"):
        st = state.get("status") or {}
        if st.get("result") == "Invalid":
            out.append(
                Finding(
                    Level.WARN,
                    f"ConfigurationState {_meta(state).get('name')} "
                    f"reports: {st.get('errorSummary')}",
                )
            )
    plan = next(
        s
        for s in plan_objects(objects, bgp_type=bgp_type).services
        if (s.namespace, s.name) == (namespace, name)
    )
    out += _allocation(plan, _ingress(svc))
    if plan.ips:
        out += _announcement(plan, config, statuses, namespace, name)
    warnings = [
        e
        for e in events
        if e.get("type") == "Warning"
        and (e.get("involvedObject") or {}).get("name") == name
        and (e.get("involvedObject") or {}).get("namespace") == namespace
    ]
    for e in warnings[-5:]:
        out.append(
            Finding(Level.INFO, f"recent Warning event {e.get('reason')}: {e.get('message')}")
        )
    return out


def _allocation(plan: ServicePlan, actual: list[str]) -> list[Finding]:
    if plan.error:
        return [Finding(Level.ERROR, f"no IP can be assigned: {plan.error}")]
    if not plan.ips:
        return [Finding(Level.ERROR, "no IP can be assigned (no pool admits it)")]
    found = [Finding(Level.OK, f"IP {', '.join(plan.ips)} from pool {plan.pool}")]
    if not actual:
        found.append(
            Finding(
                Level.WARN,
                "its status has no IP yet although one is due: is "
                "the controller running? (kubectl -n metallb-system get pods)",
            )
        )
    elif sorted(actual) != sorted(plan.ips):
        found.append(
            Finding(
                Level.WARN,
                f"its status says {', '.join(actual)}: the "
                "controller has not caught up, or another controller wrote it",
            )
        )
    return found


def _announcement(
    plan: ServicePlan,
    config: Config,
    statuses: Sequence[Mapping[str, Any]],
    namespace: str,
    name: str,
) -> list[Finding]:
    pool = plan.pool or ""
    l2ads, bgpads = config.l2_advertisements_for(pool), config.bgp_advertisements_for(pool)
    if not l2ads and not bgpads:
        return [
            Finding(
                Level.ERROR,
                f"pool {pool} has no L2Advertisement and no "
                "BGPAdvertisement: the IP is assigned but no node announces it, so "
                "it is unreachable. Create an L2Advertisement for the pool.",
            )
        ]
    out: list[Finding] = []
    if l2ads:
        actual = [
            (s.get("status") or {}).get("node")
            for s in _status_of(statuses, "ServiceL2Status", namespace, name)
        ]
        if plan.layer2 is None:
            out.append(Finding(Level.WARN, f"Layer 2: no node announces it ({plan.layer2_note})"))
        else:
            where = ", ".join(plan.layer2.interfaces) or "all interfaces"
            out.append(
                Finding(
                    Level.OK, f"Layer 2: node {plan.layer2.node} answers ARP/NDP for it on {where}"
                )
            )
            if actual and actual != [plan.layer2.node]:
                out.append(
                    Finding(
                        Level.WARN,
                        f"but ServiceL2Status says {actual}: a speaker "
                        "may be down or not yet converged",
                    )
                )
    if bgpads:
        if not plan.bgp:
            out.append(
                Finding(
                    Level.WARN,
                    "BGP: no node advertises it (no selected node, no peer, or no ready endpoint)",
                )
            )
        else:
            for b in plan.bgp:
                out.append(
                    Finding(
                        Level.OK,
                        f"BGP: node {b.node} advertises it to {', '.join(b.peers) or 'no peer'}",
                    )
                )
    return out
