"""``metallb status``: the cluster at a glance, rendered from what it already holds.

Pure: the caller reads the objects and scrapes the speakers' metrics; this module turns
them into text. Four blocks, each from the object that is the truth for it:

- pools: the counters the controller writes in each IPAddressPool's status;
- Services: their ingress IPs and the node the ServiceL2Status names;
- announcements per node: the ServiceL2Status and ServiceBGPStatus objects the speakers
  keep (node -> Service -> IPs, protocol, peers), so what is shown is what the speakers
  say they do, not what they should do (``metallb explain`` computes the latter);
- BGP sessions: ``metallb_bgp_session_up{peer=...}`` scraped from each speaker; a
  speaker that cannot be scraped is shown as unreachable, it does not fail the command.
  In frr-k8s mode the speakers hold no sessions: frr-k8s's ``BGPSessionState`` objects
  (one per node and neighbour: ``status.node``, ``peer``, ``vrf``, ``bgpStatus``,
  ``bfdStatus``) say how they are instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metallb import views
from metallb.speaker.bgp_decision import peer_label

_SAMPLE = re.compile(r"^metallb_bgp_session_up\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_session_up(text: str) -> dict[str, bool]:
    """Peer name -> session up, from Prometheus text exposition."""
    out: dict[str, bool] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group("labels")))
        if "peer" not in labels:
            continue
        try:
            out[labels["peer"]] = float(m.group("value")) == 1.0
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class SpeakerScrape:
    """One speaker Pod's metrics: ``sessions`` None when ``error`` says why not."""

    pod: str
    node: str
    url: str
    sessions: Mapping[str, bool] | None = None
    error: str = ""
    refused: bool = False  # reached, but it said no (401/403: the token)


@dataclass
class _NodeAnnouncements:
    entries: list[tuple[str, str, str, str]] = field(default_factory=list)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _peer_name(label: str, objects: Sequence[Mapping[str, Any]]) -> str:
    """The metric's ``addr:port`` with the BGPPeer names it belongs to, when known."""
    names = sorted(
        str(_meta(o).get("name"))
        for o in objects
        if o.get("kind") == "BGPPeer"
        and _peer_label((o.get("spec") or {}).get("peerAddress"), (o.get("spec") or {})) == label
    )
    return f"{'/'.join(names)} ({label})" if names else label


def _peer_label(address: object, spec: Mapping[str, Any]) -> str:
    return peer_label(address or "", int(spec.get("peerPort") or 179))


def _frrk8s_peer(st: Mapping[str, Any], objects: Sequence[Mapping[str, Any]]) -> str:
    """A BGPSessionState's neighbour (an address or an interface) with the BGPPeer names
    that point at it (in the same VRF), when known."""
    peer, vrf = str(st.get("peer") or "?"), str(st.get("vrf") or "")
    names = sorted(
        str(_meta(o).get("name"))
        for o in objects
        if o.get("kind") == "BGPPeer"
        and peer
        in ((o.get("spec") or {}).get("peerAddress"), (o.get("spec") or {}).get("interface"))
        and str((o.get("spec") or {}).get("vrf") or "") == vrf
    )
    where = f"{peer}, vrf {vrf}" if vrf else peer
    return f"{'/'.join(names)} ({where})" if names else where


def session_state_lines(
    states: Sequence[Mapping[str, Any]], objects: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The sessions block from frr-k8s's BGPSessionState objects, one line per node."""
    out = ["", "BGP SESSIONS (frr-k8s)"]
    per_node: dict[str, list[str]] = {}
    for state in states:
        st = state.get("status") or {}
        bgp_state = str(st.get("bgpStatus") or "unknown")
        text = f"{_frrk8s_peer(st, objects)} {'up' if bgp_state == 'Established' else 'DOWN'}"
        text += f" ({bgp_state}"
        bfd = str(st.get("bfdStatus") or "")
        text += f", BFD {bfd})" if bfd and bfd != "N/A" else ")"
        per_node.setdefault(str(st.get("node") or "?"), []).append(text)
    if not per_node:
        out.append("no BGPSessionState object: is frr-k8s running on the nodes?")
    for node, sessions in sorted(per_node.items()):
        out.append(f"{node}: {', '.join(sorted(sessions))}")
    return out


def render(
    objects: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
    scrapes: Sequence[SpeakerScrape] | None = None,
    session_states: Sequence[Mapping[str, Any]] | None = None,
) -> list[str]:
    """The lines of ``metallb status``; ``scrapes`` None leaves out the sessions block
    scraped from the speakers, ``session_states`` None the one from frr-k8s."""
    out = [f"{'POOL':24} {'ASSIGNED V4':>11} {'AVAILABLE V4':>12} {'ASSIGNED V6':>11} "
           f"{'AVAILABLE V6':>12}"]  # fmt: skip
    for pool in (o for o in objects if o.get("kind") == "IPAddressPool"):
        st = pool.get("status") or {}
        out.append(
            f"{_meta(pool).get('name', ''):24} {st.get('assignedIPv4', '-'):>11} "
            f"{st.get('availableIPv4', '-'):>12} {st.get('assignedIPv6', '-'):>11} "
            f"{st.get('availableIPv6', '-'):>12}"
        )
    services = (views.Service.from_dict(s) for s in objects if s.get("kind") == "Service")
    svcs = {(s.namespace, s.name): s for s in services if s.is_load_balancer}
    l2_nodes: dict[tuple[str, str], list[str]] = {}
    per_node: dict[str, _NodeAnnouncements] = {}
    for s in statuses:
        st = s.get("status") or {}
        key = (str(st.get("serviceNamespace")), str(st.get("serviceName")))
        node = str(st.get("node") or "?")
        ips = ",".join(svcs[key].ingress_ips) if key in svcs else "(Service gone)"
        if s.get("kind") == "ServiceL2Status":
            l2_nodes.setdefault(key, []).append(node)
            ifaces = [str(i.get("name")) for i in st.get("interfaces") or () if i.get("name")]
            detail = f"on {', '.join(ifaces)}" if ifaces else ""
            per_node.setdefault(node, _NodeAnnouncements()).entries.append(
                ("layer2", f"{key[0]}/{key[1]}", ips, detail)
            )
        elif s.get("kind") == "ServiceBGPStatus":
            peers = ", ".join(str(p) for p in st.get("peers") or ())
            per_node.setdefault(node, _NodeAnnouncements()).entries.append(
                ("bgp", f"{key[0]}/{key[1]}", ips, f"to {peers or 'no peer'}")
            )
    out += ["", f"{'SERVICE':40} {'IPS':32} {'LAYER2 NODE':16}"]
    for (ns, name), svc in svcs.items():
        ips = ",".join(svc.ingress_ips) or "<pending>"
        node = ",".join(sorted(l2_nodes.get((ns, name), []))) or "-"
        out.append(f"{ns + '/' + name:40} {ips:32} {node:16}")
    nodes = sorted({views.Node.from_dict(n).name for n in objects if n.get("kind") == "Node"})
    out += ["", "ANNOUNCEMENTS PER NODE"]
    for node in sorted(set(nodes) | set(per_node)):
        entries = sorted(per_node[node].entries) if node in per_node else []
        out.append(f"{node}:" + ("" if entries else " nothing"))
        for proto, svc_name, ips, detail in entries:
            out.append(f"  {proto:6} {svc_name:40} {ips:32} {detail}".rstrip())
    if scrapes is not None:
        out += ["", "BGP SESSIONS"]
        if not scrapes:
            out.append("no speaker Pod found (labels app=metallb,component=speaker)")
        for sc in sorted(scrapes, key=lambda s: (s.node, s.pod)):
            head = f"{sc.node} ({sc.pod}, {sc.url})"
            if sc.sessions is None:
                out.append(f"{head}: {'refused' if sc.refused else 'unreachable'}: {sc.error}")
            elif not sc.sessions:
                out.append(f"{head}: no BGP session")
            else:
                state = ", ".join(
                    f"{_peer_name(p, objects)} {'up' if up else 'DOWN'}"
                    for p, up in sorted(sc.sessions.items())
                )
                out.append(f"{head}: {state}")
    if session_states is not None:
        out += session_state_lines(session_states, objects)
    states = [s for s in statuses if s.get("kind") == "ConfigurationState"]
    if states:
        out += ["", "CONFIGURATION STATE"]
    for cs in states:
        result = (cs.get("status") or {}).get("result", "Unknown")
        summary = (cs.get("status") or {}).get("errorSummary")
        out.append(f"{_meta(cs).get('name')}: {result}" + (f" ({summary})" if summary else ""))
    return out
