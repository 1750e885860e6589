"""The chart's monitoring RBAC, applied to the real apiserver, lets Prometheus scrape the
real controller; the chart's TLS flags and certificate Secret are what it serves with.

helm renders charts/metallb with a monitor enabled; its RBAC objects (and, for a
PodMonitor, the metrics-reader ServiceAccount and its token Secret) are applied for
real; then a running `metallb controller` is scraped over HTTPS with the token the
monitor would present: Prometheus's own ServiceAccount token (ServiceMonitor,
bearerTokenFile) or the token the token controller writes into the chart's Secret
(PodMonitor). The controller asks the apiserver (TokenReview, SubjectAccessReview), so
a missing or wrong rule in the chart fails here.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret, ServiceAccount

from metallb.k8s.scrape import fetch_metrics
from metallb.lab.controlplane import ControlPlane
from metallb.lab.ports import free_port
from metallb.lab.tokens import service_account_token
from metallb.web.pki import CertificateAuthority, write_pair
from tests.conftest import KUBECTL
from tests.integration.controller.conftest import NS
from tests.integration.controller.test_controller import wait_for
from tests.integration.test_deploy import helm_template, kinds

pytestmark = pytest.mark.controlplane

# What the chart adds for a monitor and the apiserver can hold (no prometheus-operator CRDs).
APPLIED = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Secret")


@pytest.fixture
def chart_rbac(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Render the chart (release namespace metallb-system) and apply its monitoring
    objects, named after a fullname of the test's own; deleted after the test."""
    kube = [KUBECTL, f"--kubeconfig={control_plane.kubeconfig}"]
    applied: list[Path] = []

    def apply(*values: str) -> str:
        fullname = f"t-{uuid.uuid4().hex[:8]}"
        objs = [
            o
            for o in helm_template("--set", f"fullnameOverride={fullname}", *values)
            if o["kind"] in APPLIED and o["metadata"]["name"].startswith(fullname)
        ]
        assert objs, "the chart rendered no monitoring RBAC"
        manifest = tmp_path / f"{fullname}.yaml"
        manifest.write_text(yaml.safe_dump_all(objs))
        subprocess.run(
            [*kube, "apply", "-f", str(manifest)], check=True, capture_output=True, timeout=60
        )
        applied.append(manifest)
        return fullname

    yield apply
    for manifest in applied:
        subprocess.run(
            [*kube, "delete", "--ignore-not-found", "-f", str(manifest)],
            check=True,
            capture_output=True,
            timeout=60,
        )


def can_i(control_plane: ControlPlane, user: str, *what: str) -> bool:
    """The apiserver's SubjectAccessReview answer, through `kubectl auth can-i --as`."""
    proc = subprocess.run(
        [
            KUBECTL,
            f"--kubeconfig={control_plane.kubeconfig}",
            "auth",
            "can-i",
            *what,
            f"--as={user}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.stdout.strip() == "yes"


def test_service_monitor_rbac_lets_prometheus_scrape(
    control_plane: ControlPlane,
    kube: Client,
    namespace: str,
    chart_rbac: Callable[..., str],
    start_controller: Callable[..., Any],
) -> None:
    """Prometheus's ServiceAccount, bound by the chart's rbacPrometheus objects, reads the
    controller's /metrics and may discover the release namespace's Services, Endpoints,
    EndpointSlices and Pods; before the chart's objects it may do none of it."""
    kube.create(ServiceAccount(metadata=ObjectMeta(name="prometheus", namespace=namespace)))
    user = f"system:serviceaccount:{namespace}:prometheus"
    discovery = [
        ("list", "services"),
        ("watch", "endpoints"),
        ("list", "endpointslices.discovery.k8s.io"),
        ("get", "pods"),
    ]
    assert not can_i(control_plane, user, "get", "/metrics")
    assert not can_i(control_plane, user, "list", "services", "-n", NS)

    chart_rbac(
        "--set", "prometheus.serviceMonitor.enabled=true",
        "--set", "prometheus.serviceAccount=prometheus",
        "--set", f"prometheus.namespace={namespace}",
    )  # fmt: skip
    assert can_i(control_plane, user, "get", "/metrics")
    for verb, resource in discovery:
        assert can_i(control_plane, user, verb, resource, "-n", NS), (verb, resource)
        # Discovery is granted in the release's namespace only.
        assert not can_i(control_plane, user, verb, resource, "-n", "default"), (verb, resource)
    assert not can_i(control_plane, user, "get", "secrets", "-n", NS)

    port = free_port()
    start_controller("--webhook-mode=disabled", f"--port={port}")
    token = service_account_token(kube, "prometheus", namespace, seconds=600)
    text = fetch_metrics(f"https://127.0.0.1:{port}/metrics", token, 5)
    assert "metallb_k8s_client_config_loaded_bool" in text


def reader_token(kube: Client, name: str) -> str | None:
    """The token the token controller wrote into the chart's Secret, once it has."""
    data = kube.get(Secret, name, namespace=NS).data or {}
    return base64.b64decode(data["token"]).decode() if "token" in data else None


def test_pod_monitor_token_secret_reads_metrics(
    control_plane: ControlPlane,
    kube: Client,
    chart_rbac: Callable[..., str],
    start_controller: Callable[..., Any],
) -> None:
    """The PodMonitors' credentials, the chart's service-account-token Secret, are filled
    by the token controller and accepted by the controller's /metrics."""
    fullname = chart_rbac(
        "--set", "prometheus.podMonitor.enabled=true",
        "--set", "prometheus.rbacPrometheus=false",
    )  # fmt: skip
    token = wait_for(
        "the metrics-reader token", lambda: reader_token(kube, f"{fullname}-metrics-token")
    )
    claims = json.loads(base64.b64decode(token.split(".")[1] + "==="))
    assert claims["sub"] == f"system:serviceaccount:{NS}:{fullname}-metrics-reader"
    port = free_port()
    start_controller("--webhook-mode=disabled", f"--port={port}")
    text = fetch_metrics(f"https://127.0.0.1:{port}/metrics", token, 5)
    assert "metallb_k8s_client_config_loaded_bool" in text


def test_chart_tls_args_serve_the_secret_certificate(
    tmp_path: Path, start_controller: Callable[..., Any]
) -> None:
    """The TLS flags the chart renders from tls.* start the real controller, which serves
    /metrics with the certificate of tls.controllerMetricsTLSSecret (tls.crt and tls.key
    in the mounted directory, as the kubelet projects a TLS Secret) and the cipher suite
    asked for (a curve or suite it did not know would stop it at start)."""
    (dep,) = kinds(
        helm_template(
            "--set", "tls.minVersion=VersionTLS12",
            "--set", "tls.cipherSuites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "--set", "tls.curvePreferences=23",
            "--set", "tls.controllerMetricsTLSSecret=controller-metrics-tls",
        ),
        "Deployment",
    )  # fmt: skip
    container = dep["spec"]["template"]["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "metrics-certs")
    secret_dir = tmp_path / "metrics-certs"
    secret_dir.mkdir()
    ca = CertificateAuthority.create("chart test metrics CA")
    name = "controller-metrics.example"
    write_pair(secret_dir, "tls", ca.issue(name, dns_names=(name,), server=True))
    flags = [
        a.replace(mount["mountPath"], str(secret_dir))
        for a in container["args"]
        if a.startswith(("--tls-", "--metrics-cert-dir"))
    ]
    assert f"--metrics-cert-dir={secret_dir}" in flags
    port = free_port()
    start_controller("--webhook-mode=disabled", f"--port={port}", *flags)

    client = ssl.create_default_context(cadata=ca.pem.cert.decode())
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        client.wrap_socket(sock, server_hostname=name) as tls,
    ):
        # Verified against the Secret's CA for the Secret's name: the Secret's certificate.
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        assert cipher is not None
        assert cipher[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
