"""The node, interface, webhook and speaker checks of ``metallb doctor``.

Pure: the CLI reads the facts (sysctls and interfaces of the machine it runs on, the
``metallb-excludel2`` ConfigMap, the result of a server-side dry-run create, the speaker
Pods and DaemonSet) and these functions judge them. Each finding names the cause and
the fix.

Why these: under kube-proxy's IPVS mode every service IP is bound to ``kube-ipvs0`` on
every node, so without ``arp_ignore=1``/``arp_announce=2`` (what ``strictARP: true``
makes kube-proxy set) all nodes answer ARP for a MetalLB IP and Layer 2 mode breaks in
ways that look random. An L2Advertisement whose ``interfaces`` are all excluded by the
speakers' exclusion list is valid configuration that silently announces nothing. A
webhook the apiserver cannot call makes every ``kubectl apply`` of metallb.io objects
fail with an error that does not mention MetalLB's controller. A node without a running
speaker never announces, and under Layer 2 the election does not even know it. In
frr-k8s mode (upstream's chart default) the speakers only write FRRConfigurations: a
node that has BGP peers but no frr-k8s running (no FRRNodeState, which frr-k8s keeps per
node) advertises nothing, silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from metallb.config.types import BGPType, Config
from metallb.plan.explain import Finding, Level
from metallb.speaker import bgp_decision
from metallb.views import Node

ARP_IGNORE, ARP_ANNOUNCE = "arp_ignore", "arp_announce"
SPEAKER_LABELS = {"app": "metallb", "component": "speaker"}


@dataclass(frozen=True)
class NodeFacts:
    """The machine ``doctor --node`` runs on: per interface (and ``all``) the ARP sysctls,
    and its interface names. They describe this network namespace only."""

    hostname: str
    sysctls: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    interfaces: tuple[str, ...] = ()


def kube_proxy_mode(text: str | None) -> tuple[str | None, bool]:
    """(mode, strictARP) from kube-proxy's ``config.conf``; mode None when unknown."""
    if text is None:
        return None, False
    try:
        conf = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None, False
    if not isinstance(conf, Mapping):
        return None, False
    ipvs = conf.get("ipvs") or {}
    return str(conf.get("mode") or "iptables"), bool(
        isinstance(ipvs, Mapping) and ipvs.get("strictARP") is True
    )


def excluded(name: str, patterns: Iterable[str]) -> bool:
    """The speaker's rule: Go's ``MatchString``, i.e. a search anywhere in the name."""
    for p in patterns:
        try:
            if re.search(p, name):
                return True
        except re.error:
            continue
    return False


def arp_sysctls(mode: str | None, node: NodeFacts) -> list[Finding]:
    """Effective arp_ignore/arp_announce per interface: the kernel uses max(all, iface)."""
    where = (
        f"on {node.hostname} (this check describes the machine, or network namespace, "
        "it runs in: run `metallb doctor --node` on each node)"
    )
    every = node.sysctls.get("all", {})
    low = []
    for iface in sorted(i for i in node.sysctls if i not in ("all", "default", "lo")):
        vals = node.sysctls[iface]
        ign = max(every.get(ARP_IGNORE, 0), vals.get(ARP_IGNORE, 0))
        ann = max(every.get(ARP_ANNOUNCE, 0), vals.get(ARP_ANNOUNCE, 0))
        if ign < 1 or ann < 2:
            low.append(f"{iface} (arp_ignore={ign}, arp_announce={ann})")
    if not low:
        return [Finding(Level.OK, f"arp_ignore>=1 and arp_announce>=2 on every interface {where}")]
    if mode == "ipvs":
        return [
            Finding(
                Level.ERROR,
                f"kube-proxy is in IPVS mode and {', '.join(low)} {where}: this node answers "
                "ARP for every service IP bound to kube-ipvs0, so Layer 2 clients reach "
                "random nodes. Fix: set ipvs.strictARP: true in the kube-system/kube-proxy "
                "ConfigMap and restart kube-proxy (it then sets "
                "net.ipv4.conf.all.arp_ignore=1 and net.ipv4.conf.all.arp_announce=2), or "
                "set those sysctls on the node",
            )
        ]
    return [
        Finding(
            Level.INFO,
            f"ARP sysctls {where}: {', '.join(low)}; fine unless kube-proxy uses IPVS mode "
            f"(kube-proxy mode: {mode or 'unknown'})",
        )
    ]


def interfaces(
    config: Config | None, patterns: Sequence[str], node: NodeFacts | None, source: str
) -> list[Finding]:
    """L2Advertisements whose interfaces are excluded; with ``node``, the local picture."""
    out: list[Finding] = []
    for ad in config.l2_advertisements if config else ():
        if not ad.interfaces:
            continue
        gone = [i for i in ad.interfaces if excluded(i, patterns)]
        if len(gone) == len(ad.interfaces):
            out.append(
                Finding(
                    Level.ERROR,
                    f"L2Advertisement {ad.name} announces only on {', '.join(ad.interfaces)}, "
                    f"and every one is excluded by {source}: no speaker announces its pools' "
                    "IPs. Fix: list other interfaces in spec.interfaces, or remove the "
                    "matching patterns from announcedInterfacesToExclude",
                )
            )
        elif gone:
            out.append(
                Finding(
                    Level.WARN,
                    f"L2Advertisement {ad.name}: interfaces {', '.join(gone)} are excluded by "
                    f"{source}, so the speakers never announce on them",
                )
            )
    if node is not None:
        names = [i for i in node.interfaces if i != "lo"]
        gone = [i for i in names if excluded(i, patterns)]
        kept = [i for i in names if i not in gone]
        level = Level.WARN if names and not kept else Level.INFO
        out.append(
            Finding(
                level,
                f"on {node.hostname}: interfaces excluded by {source}: "
                f"{', '.join(gone) or 'none'}; the speaker may announce on: "
                f"{', '.join(kept) or 'none'}",
            )
        )
    return out


def webhook_dry_run(message: str | None) -> list[Finding]:
    """The outcome of a server-side dry-run create of an IPAddressPool.

    ``None``: not tried; ``""``: accepted; else the apiserver's message.
    """
    if message is None:
        return []
    if not message:
        return [Finding(Level.OK, "a dry-run create of an IPAddressPool passes admission")]
    if "denied the request" in message:
        # The webhook answered: reachable. (The test pool may overlap a real one.)
        return [Finding(Level.OK, f"the webhook is reachable (it judged a test pool: {message})")]
    if "failed calling webhook" in message:
        return [
            Finding(
                Level.ERROR,
                "the apiserver cannot call MetalLB's validating webhook, so every create "
                f"or update of metallb.io objects fails. The apiserver says: {message}\n"
                "Fix: check that the controller Pod is running and ready and that the "
                "Service metallb-webhook-service has endpoints "
                "(kubectl -n metallb-system get pods,endpoints); that nothing (NetworkPolicy, "
                "firewall, CNI) blocks the apiserver from the controller's port 9443; and "
                "that the webhook's caBundle matches the controller's certificate",
            )
        ]
    return [
        Finding(
            Level.WARN,
            f"a dry-run create of a test IPAddressPool was refused: {message}",
        )
    ]


def _ready(pod: Mapping[str, Any]) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or ()
    )


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def speakers(
    nodes: Sequence[Node],
    pods: Sequence[Mapping[str, Any]],
    daemonsets: Sequence[Mapping[str, Any]],
    namespace: str,
) -> list[Finding]:
    """Every Node that should run a speaker has a Running and Ready speaker Pod.

    With a speaker DaemonSet, nodes its ``nodeSelector`` leaves out are not expected
    (taints and tolerations are not judged: a node tainted away shows up as missing).
    """
    selector: dict[str, str] = {}
    for ds in daemonsets:
        pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        selector.update(pod_spec.get("nodeSelector") or {})
    expected = [n.name for n in nodes if all(n.labels.get(k) == v for k, v in selector.items())]
    if not pods:
        return [
            Finding(
                Level.ERROR,
                f"no speaker Pod in namespace {namespace} (labels app=metallb,"
                "component=speaker): nothing announces any IP. Fix: install the speaker "
                "DaemonSet (kubectl apply -k deploy) and check its events "
                f"(kubectl -n {namespace} describe daemonset speaker)",
            )
        ]
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for p in pods:
        by_node.setdefault(str((p.get("spec") or {}).get("nodeName") or ""), []).append(p)
    out = []
    for name in sorted(expected):
        mine = by_node.get(name, [])
        if any(_ready(p) for p in mine):
            continue
        if not mine:
            out.append(
                Finding(
                    Level.ERROR,
                    f"node {name} has no speaker Pod: it never announces. Fix: check the "
                    "DaemonSet's nodeSelector and tolerations against the node's labels and "
                    f"taints (kubectl describe node {name})",
                )
            )
            continue
        states = ", ".join(
            f"{_meta(p).get('name')} is {(p.get('status') or {}).get('phase') or 'Unknown'}"
            + ("" if _ready(p) else ", not Ready")
            for p in mine
        )
        out.append(
            Finding(
                Level.ERROR,
                f"node {name}: speaker Pod {states}: this node does not announce and "
                "drops out of the Layer 2 election. Fix: kubectl -n "
                f"{namespace} describe pod and logs of that Pod",
            )
        )
    if not out:
        out.append(
            Finding(
                Level.OK,
                f"a Running and Ready speaker Pod on each of the {len(expected)} nodes",
            )
        )
    return out


def bgp_mode(
    bgp_type: BGPType,
    config: Config,
    nodes: Sequence[Node],
    frr_node_states: Sequence[Mapping[str, Any]] | None,
) -> list[Finding]:
    """Which BGP implementation is in use (``METALLB_BGP_TYPE``); in frr-k8s mode, whether
    frr-k8s runs on every node some BGPPeer selects."""
    out = [Finding(Level.INFO, f"BGP mode: {bgp_type.value} (METALLB_BGP_TYPE)")]
    if bgp_type is not BGPType.FRR_K8S:
        return out
    peered = sorted(n.name for n in nodes if bgp_decision.sessions(config, n))
    if not peered:
        return out
    if frr_node_states is None:
        return [
            *out,
            Finding(
                Level.ERROR,
                "frr-k8s mode, but frr-k8s is not installed (no FRRNodeState kind): the "
                "speakers' FRRConfigurations reach no FRR and no BGP route is advertised. "
                "Install frr-k8s, or set METALLB_BGP_TYPE to native or frr",
            ),
        ]
    running = {str(_meta(s).get("name")) for s in frr_node_states}
    missing = [n for n in peered if n not in running]
    for name in missing:
        out.append(
            Finding(
                Level.ERROR,
                f"node {name} has BGP peers but frr-k8s does not run there (no FRRNodeState "
                f"{name}): its BGP routes are not advertised. Is frr-k8s's DaemonSet "
                "scheduled on it?",
            )
        )
    if not missing:
        out.append(
            Finding(Level.OK, f"frr-k8s runs on each of the {len(peered)} nodes with BGP peers")
        )
    return out
