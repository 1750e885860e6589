"""``metallb explain``: why a Service has (or has no) IP, and who announces it.

Pure: it takes what the cluster holds (as dicts) and answers in sentences, walking the
same path the controller and the speakers walk, in order, and stopping at the first
thing that blocks: is it a LoadBalancer Service of our class, is the configuration
valid, which pool and IP the allocator gives it (and why not), which advertisements
cover that pool, whether any endpoint is ready, and which node announces it. Where the
cluster disagrees with what the core computes (no status although an IP is due, a
different announcing node), it says so: that points at a controller or speaker that is
not running or not healthy.

The details come from two helpers that call the core rather than restate it:
:mod:`metallb.plan.candidates` (each pool's verdict, probed on the allocator) and
:mod:`metallb.plan.announce` (the Layer 2 ranking with each node's eligibility, and each
node's BGP decision). The Service's recent Events close the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from metallb import views
from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.types import BGPType, Config
from metallb.ipam.service import is_handled
from metallb.plan.announce import BGPNode, Layer2View, bgp_view, layer2_view
from metallb.plan.candidates import PoolVerdict, pool_verdicts
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


def _status_of(statuses: Iterable[Mapping[str, Any]], kind: str, ns: str, name: str) -> list[Any]:
    return [
        s
        for s in statuses
        if s.get("kind") == kind
        and (s.get("status") or {}).get("serviceName") == name
        and (s.get("status") or {}).get("serviceNamespace") == ns
    ]


def _ready(pod: Mapping[str, Any]) -> bool | None:
    """The Pod's Ready condition; None when it has none."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return None


def speaker_members(
    pods: Sequence[Mapping[str, Any]] | None, nodes: Iterable[str]
) -> frozenset[str] | None:
    """Nodes with a speaker Pod that is not finished, being deleted, or not Ready.

    The live membership itself is inside the speakers; from outside, a speaker Pod bound
    to the node is the closest sign, and its readiness (the speaker's /readyz) tells a
    crashed or restarting speaker, which the others' membership has dropped too. A Pod
    without a Ready condition counts (nothing tells otherwise). None (every node counts)
    when no speaker Pod is known at all: then the tool cannot tell, and says nothing
    rather than "all dead".
    """
    if not pods:
        return None
    live = {
        str((p.get("spec") or {}).get("nodeName"))
        for p in pods
        if (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
        and not _meta(p).get("deletionTimestamp")
        and _ready(p) is not False
    }
    return frozenset(n for n in nodes if n in live)


def explain(
    namespace: str,
    name: str,
    *,
    objects: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]] = (),
    events: Sequence[Mapping[str, Any]] = (),
    speaker_pods: Sequence[Mapping[str, Any]] | None = None,
    lb_class: str = "",
    bgp_type: BGPType | str = BGPType.NATIVE,
) -> list[Finding]:
    """The findings for one Service, most fundamental first."""
    out: list[Finding] = []
    services = (views.Service.from_dict(o) for o in objects if o.get("kind") == "Service")
    svc = next((s for s in services if (s.namespace, s.name) == (namespace, name)), None)
    if svc is None:
        return [Finding(Level.ERROR, f"Service {namespace}/{name} does not exist")]
    if not svc.is_load_balancer:
        return [
            Finding(
                Level.INFO,
                f"type is {svc.type or 'ClusterIP'}, not "
                "LoadBalancer: MetalLB does not give it an IP",
            )
        ]
    if not is_handled(svc, lb_class):
        cls = svc.load_balancer_class
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
        return out + _events(events, namespace, name)
    if not config.pools:
        out.append(
            Finding(
                Level.ERROR,
                "there is no IPAddressPool: create one in the MetalLB namespace (metallb-system)",
            )
        )
        return out + _events(events, namespace, name)
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
    out += _allocation(plan, list(svc.ingress_ips))
    verdicts = pool_verdicts(
        config, objects, namespace, name, got_pool=plan.pool if plan.ips else None,
        lb_class=lb_class,
    )  # fmt: skip
    out += _pools(verdicts, has_ip=bool(plan.ips))
    if plan.ips:
        out += _announcement(
            plan,
            config,
            svc,
            objects=objects,
            statuses=statuses,
            speaker_pods=speaker_pods,
        )
    return out + _events(events, namespace, name)


def _event_time(e: Mapping[str, Any]) -> str:
    # RFC 3339 texts in UTC sort as times; eventTime has microseconds, compare the prefix.
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if e.get(key):
            return str(e[key])[:19]
    return str(_meta(e).get("creationTimestamp") or "")[:19]


def _events(events: Sequence[Mapping[str, Any]], namespace: str, name: str) -> list[Finding]:
    """The Service's last five Events, oldest first, whatever their source."""
    mine = sorted(
        (
            e
            for e in events
            if (e.get("involvedObject") or {}).get("kind", "Service") == "Service"
            and (e.get("involvedObject") or {}).get("name") == name
            and (e.get("involvedObject") or {}).get("namespace") == namespace
        ),
        key=_event_time,
    )
    if not mine:
        return []
    # Repeats of one event (the same text: several Event objects, or a count) are one
    # line, at the time of the latest.
    merged: dict[str, tuple[str, int]] = {}
    for e in mine:
        what = f"{e.get('type')} {e.get('reason')}: {e.get('message')}"
        count = int(e.get("count") or 1) + (merged.pop(what)[1] if what in merged else 0)
        merged[what] = (_event_time(e) or "-", count)
    lines = [
        f"{t} {what}" + (f" (x{n})" if n > 1 else "") for what, (t, n) in list(merged.items())[-5:]
    ]
    return [Finding(Level.INFO, "recent events:\n" + "\n".join(lines))]


def _pools(verdicts: Sequence[PoolVerdict], *, has_ip: bool) -> list[Finding]:
    if has_ip:
        return [Finding(Level.INFO, f"pool {v.pool}: {v.reason}") for v in verdicts if v.used]
    if not verdicts:
        return []
    lines = [f"pool {v.pool}: {v.reason}" for v in verdicts]
    return [Finding(Level.INFO, "why each pool did not give an IP:\n" + "\n".join(lines))]


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
    svc: views.Service,
    *,
    objects: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
    speaker_pods: Sequence[Mapping[str, Any]] | None,
) -> list[Finding]:
    pool = plan.pool or ""
    namespace, name = plan.namespace, plan.name
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
    nodes = [views.Node.from_dict(o) for o in objects if o.get("kind") == "Node"]
    slices = (views.EndpointSlice.from_dict(o) for o in objects if o.get("kind") == "EndpointSlice")
    endpoints = views.endpoints_by_service(slices).get(svc.key, ())
    members = speaker_members(speaker_pods, (n.name for n in nodes))
    out: list[Finding] = []
    if l2ads:
        view = layer2_view(
            config, svc, ips=plan.ips, pool=pool, nodes=nodes, members=members, endpoints=endpoints
        )
        assert view is not None
        out += _layer2(view, _status_of(statuses, "ServiceL2Status", namespace, name))
    if bgpads:
        bview = bgp_view(config, svc, ips=plan.ips, pool=pool, nodes=nodes, endpoints=endpoints)
        assert bview is not None
        out += _bgp(bview, _status_of(statuses, "ServiceBGPStatus", namespace, name), members)
    return out


def _layer2(view: Layer2View, actual_statuses: Sequence[Mapping[str, Any]]) -> list[Finding]:
    out: list[Finding] = []
    actual = sorted(str((s.get("status") or {}).get("node")) for s in actual_statuses)
    if view.blocked:
        out.append(Finding(Level.WARN, f"Layer 2: no node announces it: {view.blocked}"))
    elif view.owner is None:
        out.append(
            Finding(Level.WARN, "Layer 2: no node announces it: no node is eligible (see below)")
        )
    else:
        where = ", ".join(view.interfaces) or "all interfaces"
        out.append(
            Finding(Level.OK, f"Layer 2: node {view.owner} answers ARP/NDP for it on {where}")
        )
    if view.ranking:
        lines = []
        for i, v in enumerate(view.ranking, 1):
            state = "owner" if v.owner else "eligible" if v.eligible else "not eligible"
            why = f": {'; '.join(v.why_not)}" if v.why_not else ""
            lines.append(f"{i}. {v.node}: {state}{why}")
        out.append(
            Finding(
                Level.INFO,
                f"Layer 2 candidates for {view.ip}, in election order:\n" + "\n".join(lines),
            )
        )
    expected = [view.owner] if view.owner else []
    if actual != expected:
        said = ", ".join(actual) or "no node"
        out.append(
            Finding(
                Level.WARN,
                f"but the ServiceL2Status objects say {said} announces it: a speaker "
                "may be down or not yet converged",
            )
        )
    return out


def _bgp(
    view: Sequence[BGPNode],
    actual_statuses: Sequence[Mapping[str, Any]],
    members: frozenset[str] | None,
) -> list[Finding]:
    out: list[Finding] = []
    advertising = [b for b in view if b.peers]
    if not advertising:
        out.append(Finding(Level.WARN, "BGP: no node advertises it (see below)"))
    for b in advertising:
        down = members is not None and b.node not in members
        out.append(
            Finding(
                Level.WARN if down else Level.OK,
                f"BGP: node {b.node} advertises it to {', '.join(b.peers)}"
                + (" (but no speaker runs there)" if down else ""),
            )
        )
    quiet = [f"{b.node}: {b.why_not}" for b in view if not b.peers]
    if quiet:
        out.append(Finding(Level.INFO, "BGP: nodes not advertising it:\n" + "\n".join(quiet)))
    actual = {
        str((s.get("status") or {}).get("node")): tuple(
            sorted((s.get("status") or {}).get("peers") or ())
        )
        for s in actual_statuses
    }
    expected = {b.node: tuple(sorted(b.peers)) for b in advertising}
    if actual != expected:
        said = "; ".join(f"{n} -> {', '.join(p)}" for n, p in sorted(actual.items()))
        out.append(
            Finding(
                Level.WARN,
                f"but the ServiceBGPStatus objects say: {said or 'nothing'}: a speaker may "
                "be down or not yet converged",
            )
        )
    return out
