"""Metric names exactly as upstream's Go client exposes them, also for counters without
a ``_total`` suffix (prometheus_client would otherwise add one)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from metallb.web.observe import counter_family


class _Two(Collector):
    def collect(self) -> Iterator[Metric]:
        plain = counter_family("metallb_layer2_requests_received", "Requests.", ["ip"])
        plain.add_metric(["192.0.2.1"], 3)
        total = counter_family("metallb_bgp_updates_total", "Updates.", ["peer"])
        total.add_metric(["192.0.2.1:179"], 7)
        yield plain
        yield total


def test_counter_names_match_upstream() -> None:
    registry = CollectorRegistry()
    registry.register(_Two())
    text = generate_latest(registry).decode()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert 'metallb_layer2_requests_received{ip="192.0.2.1"} 3.0' in samples
    assert 'metallb_bgp_updates_total{peer="192.0.2.1:179"} 7.0' in samples
    assert "metallb_layer2_requests_received_total" not in text
    assert "# TYPE metallb_bgp_updates_total counter" in text
