"""The speaker's Prometheus metrics, read at scrape time (upstream's names:
internal/layer2/stats.go, internal/bgp/metrics, internal/k8s/controllers/stats.go).

Upstream's names: ``metallb_layer2_requests_received``, ``metallb_layer2_responses_sent``
and ``metallb_layer2_gratuitous_sent`` (label ``ip``) from the announcer's counters,
``metallb_speaker_announced`` (labels ``service``, ``protocol``, ``node``, ``ip``) from
what the speaker announces, and the ``metallb_k8s_client_*`` family. Ours: the
membership counters (``metallb_memberlist_*``) and
``metallb_speaker_layer2_reelections_total`` (full re-elections after membership or Node
changes: each failover shows up there).

BGP, per session with label ``peer`` (``address:port``): ``metallb_bgp_session_up``,
``metallb_bgp_updates_total`` (UPDATEs sent), ``metallb_bgp_announced_prefixes_total``
(prefixes the peer holds from us) and ``metallb_bgp_pending_prefixes_total`` (prefixes we
want it to hold); in FRR mode also label ``vrf`` and the message counters of upstream's
FRR metrics sidecar (``metallb_bgp_opens_sent``, ``..._keepalives_received``, ...), read
from FRR by :class:`metallb.k8s.speaker_bgp.FRRBGP`.

Names are exactly upstream's, also for counters without a ``_total`` suffix
(:func:`metallb.web.observe.counter_family`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from ipaddress import IPv4Address, IPv6Address

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from metallb.frr.status import GAUGES
from metallb.k8s.speaker import Speaker
from metallb.net.responder import L2Stats
from metallb.web.observe import ExactNameCounter, counter_family

_LABELLED = re.compile(r"^(\w+)\{(\w+)=([^}]*)\}$")
Metric = CounterMetricFamily | GaugeMetricFamily | ExactNameCounter


class SpeakerCollector(Collector):
    def __init__(
        self,
        speaker: Speaker,
        l2stats: L2Stats,
        membership_stats: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        self.speaker = speaker
        self.l2stats = l2stats
        self.membership_stats = membership_stats

    def collect(self) -> Iterator[Metric]:
        s = self.speaker
        yield CounterMetricFamily("metallb_k8s_client_updates", "Reconciles run.", value=s.updates)
        yield CounterMetricFamily(
            "metallb_k8s_client_update_errors", "Reconciles that failed.", value=s.update_errors
        )
        yield GaugeMetricFamily(
            "metallb_k8s_client_config_loaded_bool",
            "1 once a configuration is loaded.",
            value=int(s.config is not None),
        )
        yield GaugeMetricFamily(
            "metallb_k8s_client_config_stale_bool",
            "1 while running on a stale configuration.",
            value=int(s.config_stale),
        )
        yield CounterMetricFamily(
            "metallb_speaker_layer2_reelections",
            "Full Layer 2 re-elections (membership or Node changes).",
            value=s.reelections,
        )
        announced = GaugeMetricFamily(
            "metallb_speaker_announced",
            "Services announced from this node.",
            labels=["service", "protocol", "node", "ip"],
        )
        for protocol in s.protocols:
            # BGP as upstream: whenever the node may advertise it, whatever the sessions.
            for key, ann in sorted(protocol.announced.items()):
                for ip in ann.ips:
                    announced.add_metric([key, protocol.name, s.node_name, ip], 1)
        yield announced
        for name, text, counts in (
            (
                "requests_received",
                "ARP/NDP requests for owned IPs.",
                self.l2stats.requests_received,
            ),
            ("responses_sent", "ARP/NDP replies sent.", self.l2stats.responses_sent),
            (
                "gratuitous_sent",
                "Gratuitous ARP/unsolicited NA sent.",
                self.l2stats.gratuitous_sent,
            ),
        ):
            yield _per_ip(f"metallb_layer2_{name}", text, counts)
        if self.membership_stats is not None:
            yield from _membership(self.membership_stats())
        yield from _bgp(s)


def _bgp(s: Speaker) -> Iterator[Metric]:
    """Per-session families from the driver (native: label ``peer``; FRR: ``peer`` and
    ``vrf``, as upstream's FRR metrics sidecar)."""
    families: dict[str, Metric] = {}
    for pm in s.bgp.peer_metrics():
        labels = ["peer"] if pm.vrf is None else ["peer", "vrf"]
        values = [pm.peer] if pm.vrf is None else [pm.peer, pm.vrf]
        for name, value in sorted(pm.values.items()):
            if name not in families:
                families[name] = _family(name, labels)
            families[name].add_metric(values, value)
    yield from families.values()


def _family(name: str, labels: list[str]) -> Metric:
    text = _BGP_HELP.get(name, name.removeprefix("metallb_bgp_").replace("_", " ") + ".")
    if name in GAUGES:
        return GaugeMetricFamily(name, text, labels=labels)
    return counter_family(name, text, labels)


_BGP_HELP = {
    "metallb_bgp_session_up": "BGP session state (1 established).",
    "metallb_bgp_updates_total": "BGP UPDATE messages sent.",
    "metallb_bgp_announced_prefixes_total": "Prefixes the peer currently holds from this node.",
    "metallb_bgp_pending_prefixes_total": "Prefixes this node wants the peer to hold.",
}


def _per_ip(name: str, text: str, counts: Mapping[IPv4Address | IPv6Address, int]) -> Metric:
    family = counter_family(name, text, ["ip"])
    for ip, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
        family.add_metric([str(ip)], n)
    return family


def _membership(stats: Mapping[str, float]) -> Iterator[Metric]:
    """The membership node's ``name`` / ``name{label=value}`` counters as families."""
    families: dict[str, Metric] = {}
    for key, value in sorted(stats.items()):
        m = _LABELLED.match(key)
        name, label, lvalue = (m.group(1), m.group(2), m.group(3)) if m else (key, "", "")
        gauge = name == "metallb_memberlist_members"
        base = name.removesuffix("_total")
        if base not in families:
            kind = GaugeMetricFamily if gauge else CounterMetricFamily
            families[base] = kind(base, "Membership: " + base, labels=[label] if label else None)
        if label:
            families[base].add_metric([lvalue], value)
        else:
            families[base].add_metric([], value)
    yield from families.values()
