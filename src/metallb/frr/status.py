"""FRR's view of the node's BGP sessions, read from ``show bgp vrf all neighbors json``.

In FRR mode (``METALLB_BGP_TYPE=frr``) the sessions live in bgpd, not in the speaker; the
speaker learns their state by asking FRR, as upstream's metrics sidecar does
(upstream's ``frr-tools/metrics``). This module only parses: the adapter runs
vtysh and publishes the result, so the shape of FRR's JSON is tested here on a captured
sample without a running FRR.

The metric names are upstream's; each neighbour is labelled ``peer`` (``address:port``, as
the native speaker's sessions are) and ``vrf`` (``default`` for the default VRF). BFD
sessions (``show bfd peers [counters] json``) are labelled with the bare peer address,
as upstream's sidecar does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

from metallb.speaker.bgp_decision import peer_label

ESTABLISHED = "Established"
DEFAULT_PORT = 179

# FRR's messageStats keys and the upstream metric each one feeds (all counters).
_MESSAGE_COUNTERS = {
    "opensSent": "metallb_bgp_opens_sent",
    "opensRecv": "metallb_bgp_opens_received",
    "notificationsSent": "metallb_bgp_notifications_sent",
    "updatesSent": "metallb_bgp_updates_total",
    "updatesRecv": "metallb_bgp_updates_total_received",
    "keepalivesSent": "metallb_bgp_keepalives_sent",
    "keepalivesRecv": "metallb_bgp_keepalives_received",
    "routeRefreshSent": "metallb_bgp_route_refresh_sent",
    "totalSent": "metallb_bgp_total_sent",
    "totalRecv": "metallb_bgp_total_received",
}
# ``show bfd peers counters json`` keys and upstream's BFD metrics (all counters).
_BFD_COUNTERS = {
    "control-packet-input": "metallb_bfd_control_packet_input",
    "control-packet-output": "metallb_bfd_control_packet_output",
    "echo-packet-input": "metallb_bfd_echo_packet_input",
    "echo-packet-output": "metallb_bfd_echo_packet_output",
    "session-up": "metallb_bfd_session_up_events",
    "session-down": "metallb_bfd_session_down_events",
    "zebra-notifications": "metallb_bfd_zebra_notifications",
}
# Gauges among the names above and the native speaker's; the rest are counters.
GAUGES = frozenset(
    {
        "metallb_bgp_session_up",
        "metallb_bgp_announced_prefixes_total",
        "metallb_bgp_pending_prefixes_total",
        "metallb_bfd_session_up",
    }
)


@dataclass(frozen=True)
class NeighborStatus:
    """One neighbour of one VRF as FRR reports it."""

    address: str
    port: int
    vrf: str
    state: str  # FRR's bgpState: Idle, Connect, Active, OpenSent, OpenConfirm, Established
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def established(self) -> bool:
        return self.state == ESTABLISHED

    @property
    def peer(self) -> str:
        """``address:port``: the ``peer`` metric label (:func:`bgp.peer_label`)."""
        return peer_label(self.address, self.port)


def _is_address(key: str) -> bool:
    try:
        ip_address(key)
    except ValueError:
        return False
    return True


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def parse_neighbors(
    doc: Mapping[str, Any], ports: Mapping[tuple[str, str], int] | None = None
) -> list[NeighborStatus]:
    """Every neighbour in ``show bgp vrf all neighbors json`` (VRF name -> neighbours).

    FRR reports the remote port only while a connection exists; ``ports`` (VRF,
    address) -> configured port fills it in otherwise, and 179 is the last resort.
    Unnumbered neighbours are keyed by interface name and reported with their
    ``hostForeign`` address once connected; those without one are skipped (no label).
    """
    ports = ports or {}
    out: list[NeighborStatus] = []
    for vrf_key, vrf_doc in sorted(doc.items()):
        if not isinstance(vrf_doc, Mapping):
            continue
        vrf = str(vrf_doc.get("vrfName") or vrf_key)
        for key, n in sorted(vrf_doc.items()):
            if not isinstance(n, Mapping) or "bgpState" not in n:
                continue
            address = key if _is_address(key) else str(n.get("hostForeign") or "")
            if not address:
                continue
            port = n.get("portForeign")
            if not isinstance(port, int):
                port = ports.get((vrf, key), DEFAULT_PORT)
            state = str(n.get("bgpState"))
            stats = n.get("messageStats") or {}
            metrics = {name: _number(stats.get(src)) for src, name in _MESSAGE_COUNTERS.items()}
            families = n.get("addressFamilyInfo") or {}
            metrics["metallb_bgp_session_up"] = float(state == ESTABLISHED)
            metrics["metallb_bgp_announced_prefixes_total"] = sum(
                _number(f.get("sentPrefixCounter"))
                for f in families.values()
                if isinstance(f, Mapping)
            )
            out.append(NeighborStatus(address, port, vrf, state, metrics))
    return out


@dataclass(frozen=True)
class BFDStatus:
    """One BFD session: ``peer`` is the bare address (upstream's label)."""

    peer: str
    vrf: str
    up: bool
    metrics: Mapping[str, float] = field(default_factory=dict)


def parse_bfd(peers: Any, counters: Any) -> list[BFDStatus]:
    """BFD sessions from ``show bfd peers json`` and ``show bfd peers counters json``
    (each a list of sessions with ``peer`` and ``vrf``); counters join by both."""
    by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
    for c in counters if isinstance(counters, list) else ():
        if isinstance(c, Mapping) and c.get("peer"):
            by_key[(str(c["peer"]), str(c.get("vrf") or "default"))] = c
    out = []
    for p in peers if isinstance(peers, list) else ():
        if not isinstance(p, Mapping) or not p.get("peer"):
            continue
        key = (str(p["peer"]), str(p.get("vrf") or "default"))
        up = p.get("status") == "up"
        c = by_key.get(key, {})
        metrics = {name: _number(c.get(src)) for src, name in _BFD_COUNTERS.items()}
        metrics["metallb_bfd_session_up"] = float(up)
        out.append(BFDStatus(key[0], key[1], up, metrics))
    return sorted(out, key=lambda b: (b.vrf, b.peer))
