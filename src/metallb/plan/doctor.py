"""``metallb doctor``: the misconfigurations behind most "my Service has no IP" reports.

Pure checks over what the cluster holds; each finding says what is wrong and what to
do. The webhook and kube-proxy checks come first because they break everything else
in ways that look unrelated (every ``kubectl apply`` of a pool failing with a TLS error;
ARP answered by every node under IPVS without strictARP).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from metallb import views
from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.types import BGPType
from metallb.election.ranking import EXCLUDE_LB_LABEL
from metallb.ipam.service import is_handled
from metallb.plan import doctor_checks as checks
from metallb.plan.core import plan_objects
from metallb.plan.doctor_checks import NodeFacts
from metallb.plan.explain import Finding, Level


@dataclass(frozen=True)
class Facts:
    """What the checks read, gathered by the caller."""

    objects: Sequence[Mapping[str, Any]]
    statuses: Sequence[Mapping[str, Any]] = ()
    missing_kinds: Sequence[str] = ()
    webhook_configuration: Mapping[str, Any] | None = None
    kube_proxy_config: str | None = None  # kube-system/kube-proxy ConfigMap's config.conf
    memberlist_secret: bool = True
    lb_class: str = ""
    namespace: str = "metallb-system"
    # None: not checked (not gathered); see metallb.plan.doctor_checks for each.
    webhook_dry_run: str | None = None
    speaker_pods: Sequence[Mapping[str, Any]] | None = None
    speaker_daemonsets: Sequence[Mapping[str, Any]] = ()
    exclude_patterns: Sequence[str] | None = None
    exclude_source: str = "the metallb-excludel2 ConfigMap"
    node: NodeFacts | None = None
    # frr-k8s's FRRNodeState objects (one per node it runs on); None: frr-k8s's CRDs
    # are absent (or not readable).
    frr_node_states: Sequence[Mapping[str, Any]] | None = None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _webhook(facts: Facts) -> list[Finding]:
    vwc = facts.webhook_configuration
    if vwc is None:
        return [
            Finding(
                Level.WARN,
                "no ValidatingWebhookConfiguration "
                "metallb-webhook-configuration: invalid pools are only found by the "
                "controller at runtime, not refused at kubectl apply",
            )
        ]
    hooks = vwc.get("webhooks") or []
    empty = [h.get("name") for h in hooks if not (h.get("clientConfig") or {}).get("caBundle")]
    if empty:
        return [
            Finding(
                Level.ERROR,
                f"webhooks without caBundle: {', '.join(map(str, empty))}"
                ". The controller injects it when it starts: until then every apply "
                "of metallb.io objects fails (x509 errors). Is the controller running?",
            )
        ]
    return [Finding(Level.OK, f"webhook configured ({len(hooks)} webhooks with a caBundle)")]


def _kube_proxy(text: str | None) -> list[Finding]:
    if text is None:
        return []
    try:
        conf = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return [Finding(Level.WARN, "kube-proxy's config.conf is not readable YAML")]
    if not isinstance(conf, Mapping) or conf.get("mode") != "ipvs":
        return [Finding(Level.OK, "kube-proxy is not in IPVS mode: no strictARP needed")]
    if (conf.get("ipvs") or {}).get("strictARP") is True:
        return [Finding(Level.OK, "kube-proxy IPVS mode with strictARP: true")]
    return [
        Finding(
            Level.ERROR,
            "kube-proxy runs in IPVS mode without strictARP: every node "
            "answers ARP for service IPs, so Layer 2 mode cannot work. Set "
            "ipvs.strictARP: true in the kube-system/kube-proxy ConfigMap and restart "
            "kube-proxy",
        )
    ]


def doctor(facts: Facts, *, bgp_type: BGPType | str = BGPType.NATIVE) -> list[Finding]:
    """Every finding, errors and warnings first within each area."""
    if facts.missing_kinds:
        return [
            Finding(
                Level.ERROR,
                "the metallb.io CRDs are not installed (missing: "
                f"{', '.join(facts.missing_kinds)}): kubectl apply -k deploy/crds",
            )
        ]
    out = _webhook(facts) + checks.webhook_dry_run(facts.webhook_dry_run)
    out += _kube_proxy(facts.kube_proxy_config)
    mode, _ = checks.kube_proxy_mode(facts.kube_proxy_config)
    if facts.node is not None:
        out += checks.arp_sysctls(mode, facts.node)
    elif mode == "ipvs":
        # The sysctls are per node: only a run on the node itself can read them.
        out.append(
            Finding(
                Level.INFO,
                "kube-proxy uses IPVS: run `metallb doctor --node` on each node (or in its "
                "network namespace) to check arp_ignore/arp_announce there",
            )
        )
    # The views the checks read, built once from the gathered objects.
    nodes = [views.Node.from_dict(o) for o in facts.objects if o.get("kind") == "Node"]
    if facts.speaker_pods is not None:
        out += checks.speakers(nodes, facts.speaker_pods, facts.speaker_daemonsets, facts.namespace)
    if not facts.memberlist_secret:
        out.append(
            Finding(
                Level.WARN,
                "no memberlist Secret: speakers fall back to node "
                "conditions and fail over much more slowly",
            )
        )
    for state in (s for s in facts.statuses if s.get("kind") == "ConfigurationState"):
        st = state.get("status") or {}
        if st.get("result") == "Invalid":
            out.append(
                Finding(
                    Level.ERROR,
                    f"ConfigurationState {_meta(state).get('name')}: {st.get('errorSummary')}",
                )
            )
    try:
        config = build_config(facts.objects, bgp_type=bgp_type)
    except ConfigError as err:
        if facts.exclude_patterns is not None and facts.node is not None:
            out += checks.interfaces(None, facts.exclude_patterns, facts.node, facts.exclude_source)
        return [*out, Finding(Level.ERROR, f"the configuration is invalid:\n{err}")]
    if facts.exclude_patterns is not None:
        out += checks.interfaces(config, facts.exclude_patterns, facts.node, facts.exclude_source)
    out += checks.bgp_mode(BGPType(bgp_type), config, nodes, facts.frr_node_states)
    if not config.pools:
        out.append(Finding(Level.WARN, "no IPAddressPool: no Service can get an IP"))
    for pool in config.pools:
        if not config.l2_advertisements_for(pool.name) and not config.bgp_advertisements_for(
            pool.name
        ):
            out.append(
                Finding(
                    Level.WARN,
                    f"pool {pool.name} has no L2Advertisement or "
                    "BGPAdvertisement: its IPs are assigned but never announced",
                )
            )
    excluded = [n.name for n in nodes if EXCLUDE_LB_LABEL in n.labels]
    if excluded:
        out.append(
            Finding(
                Level.INFO, f"nodes excluded by {EXCLUDE_LB_LABEL}: {', '.join(sorted(excluded))}"
            )
        )
    plans = {
        (p.namespace, p.name): p for p in plan_objects(facts.objects, bgp_type=bgp_type).services
    }
    services = (views.Service.from_dict(o) for o in facts.objects if o.get("kind") == "Service")
    for svc in services:
        if not svc.is_load_balancer:
            continue  # a ClusterIP Service (default/kubernetes...) is never "pending"
        if not is_handled(svc, facts.lb_class):
            continue
        key = (svc.namespace, svc.name)
        plan = plans.get(key)
        if svc.ingress:  # any entry, a hostname one too
            # An IP nobody announces is as unreachable as no IP, and quieter about it.
            silent = plan is not None and plan.ips and plan.pool and plan.layer2 is None
            if silent and plan and plan.pool and config.l2_advertisements_for(plan.pool):
                out.append(
                    Finding(
                        Level.WARN,
                        f"Service {key[0]}/{key[1]} has {', '.join(plan.ips)} but no node "
                        f"announces it in Layer 2: {plan.layer2_note} "
                        f"(metallb explain {key[0]}/{key[1]})",
                    )
                )
            continue
        why = (
            plan.error if plan and plan.error else "an IP is available: is the controller running?"
        )
        out.append(Finding(Level.WARN, f"Service {key[0]}/{key[1]} is pending: {why}"))
    return out
