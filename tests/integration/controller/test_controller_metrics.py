"""The controller's /metrics and health endpoints, scraped from the real process.

Dashboards and alerts written for upstream MetalLB select on the metric names and the
``pool`` label, so the names are checked exactly, with values that follow from what the
test did: an 8-address pool, 3 Services allocated from it.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from lightkube import Client
from prometheus_client.parser import text_string_to_metric_families

from metallb.lab.ports import free_port
from tests.integration.controller.conftest import make_pool
from tests.integration.controller.test_controller import lb_service, wait_for, wait_ips

pytestmark = pytest.mark.controlplane
POOL = "ctl-metrics"


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, by (sample name, sorted labels)."""
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_have_upstream_names_and_values(
    kube: Client,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    # 192.0.2.240-247: 8 addresses, none of them used by the other controller tests.
    make_pool(kube, pools, POOL, "192.0.2.240-192.0.2.247")
    port = free_port()
    # A later --port wins over the fixture's --port=0 (argparse keeps the last value).
    proc = start_controller("--webhook-mode=disabled", f"--port={port}")
    for name in ("m1", "m2", "m3"):
        kube.create(lb_service(name, namespace, lb_class))
    ips = {ip for name in ("m1", "m2", "m3") for ip in wait_ips(kube, namespace, name)}
    assert len(ips) == 3

    pool = (("pool", POOL),)

    def three_in_use() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        scraped = samples(port)
        in_use = scraped.get(("metallb_allocator_addresses_in_use_total", pool))
        return scraped if in_use == 3 else None

    # Pool counters are published by the pool-status loop, shortly after the allocations.
    scraped = wait_for("3 addresses in use in the metrics", three_in_use)
    assert scraped[("metallb_allocator_addresses_total", pool)] == 8
    assert scraped[("metallb_allocator_ipv4_addresses_total", pool)] == 8
    assert scraped[("metallb_allocator_ipv4_addresses_in_use_total", pool)] == 3
    assert scraped[("metallb_allocator_ipv6_addresses_total", pool)] == 0
    assert scraped[("metallb_k8s_client_config_loaded_bool", ())] == 1
    assert scraped[("metallb_k8s_client_config_stale_bool", ())] == 0
    # At least one reconcile per Service (there are also configuration reconciles).
    assert scraped[("metallb_k8s_client_updates_total", ())] >= 3
    assert ("metallb_k8s_client_update_errors_total", ()) in scraped

    for path in ("/healthz", "/readyz"):
        status, _ = get(f"http://127.0.0.1:{proc.health_port}{path}")
        assert status == 200, path
