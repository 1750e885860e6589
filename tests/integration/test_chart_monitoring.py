"""The chart's monitoring, metrics TLS and NetworkPolicy values, as upstream's chart has them.

Rendered with the real helm and checked object by object: the TLS values become the
components' flags and the certificate Secret their --metrics-cert-dir; the
ServiceMonitors and PodMonitors scrape over HTTPS with a token whose ServiceAccount the
rendered RBAC lets `get` /metrics, and select the Pods the chart runs; the alerts use
the metric names the components export; the NetworkPolicies open the controller's
ports only. The prometheus-operator kinds are checked structurally (the test apiserver
has no such CRDs); the rest passes the real apiserver's dry run in test_deploy.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.test_deploy import CHART, helm, helm_fails, helm_template, key, kinds, run

PROM = (
    "--set",
    "prometheus.serviceAccount=prometheus-k8s",
    "--set",
    "prometheus.namespace=monitoring",
)
SERVICE_MONITOR = ("--set", "prometheus.serviceMonitor.enabled=true", *PROM)
POD_MONITOR = ("--set", "prometheus.podMonitor.enabled=true", *PROM)
TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def workloads(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """component -> its Pod template (controller Deployment, speaker DaemonSet)."""
    return {
        o["spec"]["template"]["metadata"]["labels"]["component"]: o["spec"]["template"]
        for o in objs
        if o["kind"] in ("Deployment", "DaemonSet")
    }


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def by_key(objs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {key(o): o for o in objs}


def exported_metric_names() -> set[str]:
    """The metric names the components' collectors are written to export."""
    text = "".join(
        (REPO / "src" / "metallb" / p).read_text()
        for p in ("web/observe.py", "k8s/speaker_metrics.py")
    )
    return set(re.findall(r'"(metallb_[a-z0-9_]+)"', text))


def test_helm_lint_passes_with_every_feature() -> None:
    """The real helm's lint accepts the chart with the monitors, rules, TLS and policies on."""
    for monitor in SERVICE_MONITOR, POD_MONITOR:
        run(
            helm(), "lint", str(CHART), *monitor,
            "--set", "prometheus.prometheusRule.enabled=true",
            "--set", "networkpolicies.enabled=true",
            "--set", "networkpolicies.defaultDeny=true",
            "--set", "tls.controllerMetricsTLSSecret=c",
            "--set", "tls.speakerMetricsTLSSecret=s",
        )  # fmt: skip


def test_tls_values_reach_both_components() -> None:
    """tls.cipherSuites/curvePreferences become both components' flags; each component's
    *MetricsTLSSecret is mounted read-only and named by --metrics-cert-dir."""
    objs = helm_template(
        "--set", "tls.cipherSuites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "--set-string", "tls.curvePreferences=29\\,23",
        "--set", "tls.controllerMetricsTLSSecret=controller-metrics-tls",
        "--set", "tls.speakerMetricsTLSSecret=speaker-metrics-tls",
    )  # fmt: skip
    for component, template in workloads(objs).items():
        pod = template["spec"]
        c = pod["containers"][0]
        assert "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in c["args"]
        assert "--tls-curve-preferences=29,23" in c["args"]
        assert "--metrics-cert-dir=/etc/metrics" in c["args"]
        assert {"name": "metrics-certs", "mountPath": "/etc/metrics", "readOnly": True} in c[
            "volumeMounts"
        ]
        volume = next(v for v in pod["volumes"] if v["name"] == "metrics-certs")
        assert volume == {
            "name": "metrics-certs",
            "secret": {"secretName": f"{component}-metrics-tls"},
        }
    # Only the component whose Secret is set gets it.
    pods = workloads(helm_template("--set", "tls.speakerMetricsTLSSecret=s"))
    assert "--metrics-cert-dir=/etc/metrics" in pods["speaker"]["spec"]["containers"][0]["args"]
    controller = pods["controller"]["spec"]
    assert not [a for a in controller["containers"][0]["args"] if "metrics-cert-dir" in a]
    assert "metrics-certs" not in {v["name"] for v in controller["volumes"]}


def test_tls_defaults_add_no_flags() -> None:
    """Unset: the binaries' defaults and their self-signed certificate."""
    for template in workloads(helm_template()).values():
        c = template["spec"]["containers"][0]
        assert not [a for a in c["args"] if a.startswith(("--tls-", "--metrics-cert-dir"))]
        assert "metrics-certs" not in {m["name"] for m in c.get("volumeMounts") or []}
        # Metrics are HTTPS: the scrape annotations say so.
        assert template["metadata"]["annotations"]["prometheus.io/scheme"] == "https"


def test_service_monitors_scrape_https_with_prometheus_token(tmp_path: Path) -> None:
    """One ServiceMonitor and one headless Service per component: scheme https, the
    Prometheus token file, the tlsConfig and the per-component labels/annotations, and a
    Service that selects the chart's own Pods on their metrics port."""
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "prometheus": {
                    "metricsPort": 9333,
                    "serviceMonitor": {
                        "interval": "30s",
                        "relabelings": [{"targetLabel": "cluster", "replacement": "lab"}],
                        "metricRelabelings": [
                            {"action": "drop", "regex": "go_.*", "sourceLabels": ["__name__"]}
                        ],
                        "speaker": {
                            "additionalLabels": {"release": "kube-prometheus"},
                            "annotations": {"example.com/team": "net"},
                            "tlsConfig": {"insecureSkipVerify": False, "serverName": "speaker"},
                        },
                    },
                }
            }
        )
    )
    objs = helm_template(*SERVICE_MONITOR, "-f", str(values))
    pods = workloads(objs)
    monitors = {o["metadata"]["name"]: o for o in kinds(objs, "ServiceMonitor")}
    assert set(monitors) == {"metallb-speaker-monitor", "metallb-controller-monitor"}
    services = {o["metadata"]["name"]: o for o in kinds(objs, "Service")}
    for component in ("speaker", "controller"):
        sm = monitors[f"metallb-{component}-monitor"]
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        assert sm["metadata"]["namespace"] == "metallb-system"
        assert sm["spec"]["namespaceSelector"] == {"matchNames": ["metallb-system"]}
        assert sm["spec"]["jobLabel"] == "app.kubernetes.io/name"
        (endpoint,) = sm["spec"]["endpoints"]
        assert endpoint["scheme"] == "https"
        assert endpoint["bearerTokenFile"] == TOKEN_FILE
        assert endpoint["honorLabels"] is True
        assert endpoint["interval"] == "30s"
        assert endpoint["relabelings"] == [{"targetLabel": "cluster", "replacement": "lab"}]
        assert endpoint["metricRelabelings"][0]["regex"] == "go_.*"
        # The Service it selects, and the Pods that Service selects.
        (svc,) = [
            s
            for s in services.values()
            if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert svc["metadata"]["name"] == f"metallb-{component}-monitor-service"
        assert svc["spec"]["clusterIP"] == "None"
        assert svc["metadata"]["annotations"]["prometheus.io/scheme"] == "https"
        # The job label Prometheus takes from the Service is what the alerts match.
        assert svc["metadata"]["labels"][sm["spec"]["jobLabel"]] == "metallb"
        (port,) = svc["spec"]["ports"]
        assert port["name"] == endpoint["port"] == "metricshttps"
        assert port["port"] == port["targetPort"] == 9333
        matched = [
            c for c, t in pods.items() if selects(svc["spec"]["selector"], t["metadata"]["labels"])
        ]
        assert matched == [component]
        container = pods[component]["spec"]["containers"][0]
        assert "--port=9333" in container["args"]
        assert 9333 in {p["containerPort"] for p in container["ports"]}
    speaker = monitors["metallb-speaker-monitor"]
    assert speaker["metadata"]["labels"]["release"] == "kube-prometheus"
    assert speaker["metadata"]["annotations"] == {"example.com/team": "net"}
    assert (
        services["metallb-speaker-monitor-service"]["metadata"]["annotations"]["example.com/team"]
        == "net"
    )
    assert speaker["spec"]["endpoints"][0]["tlsConfig"] == {
        "insecureSkipVerify": False,
        "serverName": "speaker",
    }
    controller = monitors["metallb-controller-monitor"]
    assert controller["spec"]["endpoints"][0]["tlsConfig"] == {"insecureSkipVerify": True}
    assert "release" not in controller["metadata"]["labels"]
    # A disabled component has no monitor.
    objs = helm_template(*SERVICE_MONITOR, "--set", "speaker.enabled=false")
    assert [o["metadata"]["name"] for o in kinds(objs, "ServiceMonitor")] == [
        "metallb-controller-monitor"
    ]


def test_service_monitor_rbac_lets_prometheus_scrape() -> None:
    """rbacPrometheus: Prometheus's ServiceAccount may get /metrics (the SubjectAccessReview
    the components make) and discover the Services, Endpoints and Pods of the release's
    namespace; nothing more, and nothing without rbacPrometheus."""
    objs = by_key(helm_template(*SERVICE_MONITOR))
    prometheus = [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}]
    role = objs[("ClusterRole", "metallb-metrics-reader")]
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    binding = objs[("ClusterRoleBinding", "metallb-metrics-reader")]
    assert binding["roleRef"]["name"] == "metallb-metrics-reader"
    assert binding["subjects"] == prometheus
    discovery = objs[("Role", "metallb-prometheus")]
    assert discovery["metadata"]["namespace"] == "metallb-system"
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in discovery["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    watch = {"get", "list", "watch"}
    assert granted == {
        ("", "pods"): watch,
        ("", "services"): watch,
        ("", "endpoints"): watch,
        ("discovery.k8s.io", "endpointslices"): watch,
    }
    rb = objs[("RoleBinding", "metallb-prometheus")]
    assert rb["subjects"] == prometheus
    assert rb["roleRef"]["name"] == "metallb-prometheus"
    # rbacPrometheus off: the monitors only, no grants (and no need for the account).
    objs = by_key(
        helm_template(
            "--set",
            "prometheus.serviceMonitor.enabled=true",
            "--set",
            "prometheus.rbacPrometheus=false",
        )
    )
    assert ("ServiceMonitor", "metallb-speaker-monitor") in objs
    assert not [
        k for k in objs if k[1].startswith(("metallb-prometheus", "metallb-metrics-reader"))
    ]


def test_pod_monitors_present_the_reader_token() -> None:
    """PodMonitors select the chart's Pods on their metrics port, over HTTPS, with the
    token of the chart's metrics-reader ServiceAccount, which may get /metrics."""
    objs = helm_template(*POD_MONITOR, "--set", "prometheus.podMonitor.interval=20s")
    pods = workloads(objs)
    monitors = {o["metadata"]["name"]: o for o in kinds(objs, "PodMonitor")}
    assert set(monitors) == {"metallb-controller", "metallb-speaker"}
    objs_by_key = by_key(objs)
    secret = objs_by_key[("Secret", "metallb-metrics-token")]
    assert secret["type"] == "kubernetes.io/service-account-token"
    reader = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    assert objs_by_key[("ServiceAccount", reader)]["automountServiceAccountToken"] is False
    binding = objs_by_key[("ClusterRoleBinding", "metallb-metrics-reader")]
    assert {"kind": "ServiceAccount", "name": reader, "namespace": "metallb-system"} in binding[
        "subjects"
    ]
    assert objs_by_key[("ClusterRole", binding["roleRef"]["name"])]["rules"] == [
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}
    ]
    for component in ("controller", "speaker"):
        pm = monitors[f"metallb-{component}"]
        assert pm["spec"]["namespaceSelector"] == {"matchNames": ["metallb-system"]}
        matched = [
            c
            for c, t in pods.items()
            if selects(pm["spec"]["selector"]["matchLabels"], t["metadata"]["labels"])
        ]
        assert matched == [component]
        # jobLabel names a label the Pods carry, so the job is "metallb" as the alerts expect.
        assert pods[component]["metadata"]["labels"][pm["spec"]["jobLabel"]] == "metallb"
        (endpoint,) = pm["spec"]["podMetricsEndpoints"]
        assert endpoint["scheme"] == "https"
        assert endpoint["path"] == "/metrics"
        assert endpoint["interval"] == "20s"
        assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}
        assert endpoint["authorization"]["credentials"] == {
            "name": "metallb-metrics-token",
            "key": "token",
        }
        ports = {p.get("name") for p in pods[component]["spec"]["containers"][0]["ports"]}
        assert endpoint["port"] in ports
    # Discovery of the Pods for Prometheus's own account.
    discovery = objs_by_key[("Role", "metallb-prometheus")]
    assert discovery["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    assert objs_by_key[("RoleBinding", "metallb-prometheus")]["subjects"] == [
        {"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}
    ]
    # No monitor: none of this.
    names = {k[1] for k in map(key, helm_template())}
    assert not {"metallb-metrics-token", "metallb-metrics-reader", "metallb-prometheus"} & names


def test_both_monitors_fail() -> None:
    err = helm_fails(*SERVICE_MONITOR, "--set", "prometheus.podMonitor.enabled=true")
    assert "prometheus.serviceMonitor.enabled and prometheus.podMonitor.enabled" in err


@pytest.mark.parametrize("monitor", ["serviceMonitor", "podMonitor"])
@pytest.mark.parametrize("missing", ["serviceAccount", "namespace"])
def test_rbac_prometheus_needs_the_account(monitor: str, missing: str) -> None:
    """As upstream: with rbacPrometheus on (the default) and a monitor enabled, an empty
    prometheus.serviceAccount or prometheus.namespace stops the rendering, naming it."""
    given = "namespace=monitoring" if missing == "serviceAccount" else "serviceAccount=prom"
    err = helm_fails("--set", f"prometheus.{monitor}.enabled=true", "--set", f"prometheus.{given}")
    assert f"prometheus.{missing}" in err
    assert f"prometheus.{monitor}.enabled" in err
    assert "prometheus.rbacPrometheus" in err


def rules_of(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (rule,) = kinds(objs, "PrometheusRule")
    (group,) = rule["spec"]["groups"]
    return {r["alert"]: r for r in group["rules"]}


def test_prometheus_rule_alerts_use_exported_metrics() -> None:
    """Upstream's alert names and thresholds, on metric names our components export."""
    objs = helm_template("--set", "prometheus.prometheusRule.enabled=true")
    alerts = rules_of(objs)
    assert set(alerts) == {
        "MetalLBStaleConfig",
        "MetalLBConfigNotLoaded",
        "MetalLBAddressPoolExhausted",
        "MetalLBAddressPoolUsage75Percent",
        "MetalLBAddressPoolUsage85Percent",
        "MetalLBAddressPoolUsage95Percent",
        "MetalLBBGPSessionDown",
    }
    exported = exported_metric_names()
    for name, alert in alerts.items():
        used = set(re.findall(r"metallb_[a-z0-9_]+", alert["expr"]))
        assert used, name
        assert used <= exported, (name, used - exported)
    assert alerts["MetalLBStaleConfig"]["expr"].startswith("metallb_k8s_client_config_stale_bool{")
    assert alerts["MetalLBStaleConfig"]["expr"].endswith("== 1")
    assert alerts["MetalLBConfigNotLoaded"]["expr"].endswith("== 0")
    assert "metallb_bgp_session_up" in alerts["MetalLBBGPSessionDown"]["expr"]
    # The job the monitors give (jobLabel app.kubernetes.io/name: "metallb") matches.
    assert 'job=~"metallb.*"' in alerts["MetalLBBGPSessionDown"]["expr"]
    assert alerts["MetalLBAddressPoolUsage85Percent"]["expr"].endswith("* 100 > 85")
    assert alerts["MetalLBAddressPoolUsage95Percent"]["labels"] == {"severity": "critical"}
    assert alerts["MetalLBAddressPoolExhausted"]["labels"] == {"severity": "critical"}
    assert alerts["MetalLBStaleConfig"]["for"] == "1m"
    # Prometheus's own templating is passed through, not executed by helm.
    assert "{{ $labels.pod }}" in alerts["MetalLBStaleConfig"]["annotations"]["summary"]
    assert not kinds(helm_template(), "PrometheusRule")


def test_prometheus_rule_values(tmp_path: Path) -> None:
    """excludePools, custom thresholds, disabled alerts, extra alerts and labels."""
    extra = {"alert": "MyOwn", "expr": "up == 0", "labels": {"severity": "info"}}
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "prometheus": {
                    "prometheusRule": {
                        "enabled": True,
                        "additionalLabels": {"release": "kube-prometheus"},
                        "staleConfig": {"enabled": False},
                        "bgpSessionDown": {"labels": {"severity": "page"}},
                        "addressPoolExhausted": {"excludePools": "lab-.*|test"},
                        "addressPoolUsage": {
                            "excludePools": "scratch",
                            "thresholds": [{"percent": 50, "labels": {"severity": "info"}}],
                        },
                        "extraAlerts": [extra],
                    }
                }
            }
        )
    )
    objs = helm_template("-f", str(values))
    (rule,) = kinds(objs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus"
    alerts = rules_of(objs)
    assert "MetalLBStaleConfig" not in alerts
    assert set(a for a in alerts if a.startswith("MetalLBAddressPoolUsage")) == {
        "MetalLBAddressPoolUsage50Percent"
    }
    usage = alerts["MetalLBAddressPoolUsage50Percent"]
    assert 'metallb_allocator_addresses_in_use_total{pool!~"scratch"}' in usage["expr"]
    assert usage["expr"].endswith("> 50")
    assert usage["labels"] == {"severity": "info"}
    assert 'pool!~"lab-.*|test"' in alerts["MetalLBAddressPoolExhausted"]["expr"]
    assert alerts["MetalLBBGPSessionDown"]["labels"] == {"severity": "page"}
    assert alerts["MyOwn"] == extra


def test_network_policies() -> None:
    """The controller's policy admits the metrics and webhook ports and lets it reach the
    apiserver port only; defaultDeny closes the rest; nothing for the host-network
    speakers; nothing by default."""
    objs = helm_template(
        "--set", "networkpolicies.enabled=true",
        "--set", "networkpolicies.defaultDeny=true",
        "--set", "networkpolicies.apiPort=8443",
        "--set", "prometheus.metricsPort=9333",
    )  # fmt: skip
    policies = {o["metadata"]["name"]: o for o in kinds(objs, "NetworkPolicy")}
    assert set(policies) == {"default-deny", "controller"}
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ctl = policies["controller"]
    assert ctl["metadata"]["namespace"] == "metallb-system"
    spec = ctl["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    pods = workloads(objs)
    matched = [
        c
        for c, t in pods.items()
        if selects(spec["podSelector"]["matchLabels"], t["metadata"]["labels"])
    ]
    assert matched == ["controller"]
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [
        {"protocol": "TCP", "port": 9333},
        {"protocol": "TCP", "port": 9443},
    ]
    container_ports = {
        p["containerPort"] for p in pods["controller"]["spec"]["containers"][0]["ports"]
    }
    assert {9333, 9443} <= container_ports
    assert spec["egress"] == [{"ports": [{"protocol": "TCP", "port": 8443}]}]

    # No webhook, no webhook port; no defaultDeny, no deny-all policy.
    objs = helm_template(
        "--set", "networkpolicies.enabled=true", "--set", "controller.webhookMode=disabled"
    )
    (ctl,) = kinds(objs, "NetworkPolicy")
    assert ctl["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9120}]
    assert ctl["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 6443}]
    assert not kinds(helm_template(), "NetworkPolicy")
