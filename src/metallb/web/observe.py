"""Health endpoints and Prometheus metrics, with upstream's names.

``/healthz`` answers as long as the process serves HTTP; ``/readyz`` answers 200 once
the ``ready`` callable says so (for the controller: after its start-up pass, so a
rolling update does not route webhook traffic to a process that has not loaded its
configuration). Metrics are read from plain counters the adapters keep, through a
collector, so the core never imports prometheus_client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class PoolCountersLike(Protocol):
    @property
    def assigned_ipv4(self) -> int: ...
    @property
    def assigned_ipv6(self) -> int: ...
    @property
    def available_ipv4(self) -> int: ...
    @property
    def available_ipv6(self) -> int: ...


class ControllerStats(Protocol):
    updates: int
    update_errors: int
    config_loaded: bool
    config_stale: bool

    @property
    def pool_counters(self) -> Mapping[str, PoolCountersLike]: ...


def add_health_routes(app: web.Application, ready: Callable[[], bool]) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok")
        return web.Response(text="not ready", status=503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


class ControllerCollector(Collector):
    """The controller's metrics (reference section 8), read at scrape time."""

    def __init__(self, stats: ControllerStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self.stats
        yield CounterMetricFamily("metallb_k8s_client_updates", "Reconciles run.", value=s.updates)
        yield CounterMetricFamily(
            "metallb_k8s_client_update_errors", "Reconciles that failed.", value=s.update_errors
        )
        yield GaugeMetricFamily(
            "metallb_k8s_client_config_loaded_bool",
            "1 once a configuration is loaded.",
            value=int(s.config_loaded),
        )
        yield GaugeMetricFamily(
            "metallb_k8s_client_config_stale_bool",
            "1 while running on a stale configuration.",
            value=int(s.config_stale),
        )
        gauges = {
            name: GaugeMetricFamily(name, text, labels=["pool"])
            for name, text in (
                ("metallb_allocator_addresses_total", "Usable IPs in the pool."),
                ("metallb_allocator_ipv4_addresses_total", "Usable IPv4 addresses."),
                ("metallb_allocator_ipv6_addresses_total", "Usable IPv6 addresses."),
                ("metallb_allocator_addresses_in_use_total", "Distinct IPs in use."),
                ("metallb_allocator_ipv4_addresses_in_use_total", "IPv4 addresses in use."),
                ("metallb_allocator_ipv6_addresses_in_use_total", "IPv6 addresses in use."),
            )
        }
        for pool, c in sorted(s.pool_counters.items()):
            v4 = c.assigned_ipv4 + c.available_ipv4
            v6 = c.assigned_ipv6 + c.available_ipv6
            for name, value in (
                ("metallb_allocator_addresses_total", v4 + v6),
                ("metallb_allocator_ipv4_addresses_total", v4),
                ("metallb_allocator_ipv6_addresses_total", v6),
                ("metallb_allocator_addresses_in_use_total", c.assigned_ipv4 + c.assigned_ipv6),
                ("metallb_allocator_ipv4_addresses_in_use_total", c.assigned_ipv4),
                ("metallb_allocator_ipv6_addresses_in_use_total", c.assigned_ipv6),
            ):
                gauges[name].add_metric([pool], value)
        yield from gauges.values()


class ExactNameCounter(Metric):
    """A counter exposed under exactly the name it is given, typed ``untyped``.

    prometheus_client exposes every counter as ``<name>_total``; Go's client (upstream)
    does not add the suffix. For upstream names without it
    (``metallb_layer2_requests_received``, ``metallb_bgp_opens_sent``) this keeps the
    name that dashboards and alerts query, at the price of the type line.
    """

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        super().__init__(name, documentation, "unknown")
        self._labelnames = tuple(labels)

    def add_metric(self, labels: Sequence[str], value: float) -> None:
        self.add_sample(self.name, dict(zip(self._labelnames, labels, strict=True)), value)


def counter_family(
    name: str, text: str, labels: Sequence[str]
) -> CounterMetricFamily | ExactNameCounter:
    """A counter family whose samples carry exactly upstream's ``name``."""
    if name.endswith("_total"):
        return CounterMetricFamily(name.removesuffix("_total"), text, labels=list(labels))
    return ExactNameCounter(name, text, labels)


def add_metrics_route(app: web.Application, registry: CollectorRegistry) -> None:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    app.router.add_get("/metrics", metrics)
