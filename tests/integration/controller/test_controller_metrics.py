"""The controller's /metrics and health endpoints, scraped from the real process.

Dashboards and alerts written for upstream MetalLB select on the metric names and the
``pool`` label, so the names are checked exactly, with values that follow from what the
test did: an 8-address pool, 3 Services allocated from it. Metrics are HTTPS and need a
token Kubernetes authorizes for ``get`` on ``/metrics``, as upstream's: who is refused
and why is checked here too, against the real apiserver's TokenReview and
SubjectAccessReview.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from lightkube import Client
from prometheus_client.parser import text_string_to_metric_families

from metallb.k8s.scrape import fetch_metrics
from metallb.lab.ports import free_port
from metallb.lab.tokens import metrics_reader_token, service_account_token
from tests.integration.controller.conftest import NS, make_pool
from tests.integration.controller.test_controller import lb_service, wait_for, wait_ips

pytestmark = pytest.mark.controlplane
POOL = "ctl-metrics"


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


def samples(port: int, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, by (sample name, sorted labels)."""
    text = fetch_metrics(f"https://127.0.0.1:{port}/metrics", token, 5)
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
    token = metrics_reader_token(kube, NS)
    port = free_port()
    # A later --port wins over the fixture's --port=0 (argparse keeps the last value).
    proc = start_controller("--webhook-mode=disabled", f"--port={port}")
    for name in ("m1", "m2", "m3"):
        kube.create(lb_service(name, namespace, lb_class))
    ips = {ip for name in ("m1", "m2", "m3") for ip in wait_ips(kube, namespace, name)}
    assert len(ips) == 3

    pool = (("pool", POOL),)

    def three_in_use() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        scraped = samples(port, token)
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


def refusal(url: str, token: str | None) -> tuple[int, str]:
    """The HTTP status and body of a refused scrape."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        fetch_metrics(url, token, 5)
    return refused.value.code, refused.value.read().decode()


def test_metrics_need_a_token_kubernetes_authorizes(
    kube: Client, start_controller: Callable[..., Any]
) -> None:
    """No token: 401. A token the apiserver does not know: 401. A real ServiceAccount's
    token without RBAC on /metrics: 403 naming it. The reader's token: 200. Plain HTTP
    gets no metrics at all."""
    port = free_port()
    start_controller("--webhook-mode=disabled", f"--port={port}")
    url = f"https://127.0.0.1:{port}/metrics"
    code, body = refusal(url, None)
    assert code == 401, body
    code, body = refusal(url, "not-a-token")
    assert code == 401, body
    # The controller's own ServiceAccount may review tokens but not read /metrics.
    code, body = refusal(url, service_account_token(kube, "controller", NS, seconds=600))
    assert code == 403, body
    assert 'user "system:serviceaccount:metallb-system:controller"' in body
    assert 'get path "/metrics"' in body
    text = fetch_metrics(url, metrics_reader_token(kube, NS), 5)
    assert "metallb_k8s_client_config_loaded_bool" in text
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        get(f"http://127.0.0.1:{port}/metrics")
