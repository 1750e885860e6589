"""Plain per-session counters, named after upstream's metrics (internal/bgp/metrics/metrics.go).

The session only counts; an adapter above publishes :meth:`SessionCounters.metrics`
to Prometheus with the ``peer`` label.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SessionCounters:
    session_up: bool = False
    sessions_established: int = 0
    sessions_dropped: int = 0
    connect_attempts: int = 0
    opens_sent: int = 0
    opens_received: int = 0
    updates_sent: int = 0
    updates_received: int = 0
    keepalives_sent: int = 0
    keepalives_received: int = 0
    notifications_sent: int = 0
    notifications_received: int = 0
    announced_prefixes: int = 0  # prefixes the peer currently holds from us
    pending_prefixes: int = 0  # prefixes desired
    prefixes_announced_total: int = 0  # prefix announcements sent, replays included
    prefixes_withdrawn_total: int = 0

    def metrics(self) -> dict[str, float]:
        """Values under the upstream metric names (gauges and counters alike)."""
        return {
            "metallb_bgp_session_up": float(self.session_up),
            "metallb_bgp_updates_total": float(self.updates_sent),
            "metallb_bgp_updates_total_received": float(self.updates_received),
            "metallb_bgp_announced_prefixes_total": float(self.announced_prefixes),
            "metallb_bgp_pending_prefixes_total": float(self.pending_prefixes),
            "metallb_bgp_opens_sent": float(self.opens_sent),
            "metallb_bgp_opens_received": float(self.opens_received),
            "metallb_bgp_keepalives_sent": float(self.keepalives_sent),
            "metallb_bgp_keepalives_received": float(self.keepalives_received),
            "metallb_bgp_notifications_sent": float(self.notifications_sent),
        }
