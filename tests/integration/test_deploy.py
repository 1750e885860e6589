"""The two ways to install: `kubectl apply -k deploy` and the Helm chart.

Both render, pass the real apiserver's server-side dry run, and describe the same
objects: the chart with default values must equal the kustomize output, so a change to
one that is not made to the other fails here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from metallb.lab.controlplane import ControlPlane
from metallb.lab.manifests import chart_files
from tests.conftest import KUBECTL, REPO

CHART = REPO / "charts" / "metallb"


def helm() -> str:
    return (
        os.environ.get("METALLB_HELM")
        or subprocess.run(
            ["bash", str(REPO / "tools" / "helm" / "build.sh")],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )


def run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{' '.join(argv[:3])} failed:\n{proc.stderr}"
    return proc.stdout


def kustomize() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(run(KUBECTL, "kustomize", str(REPO / "deploy"))) if d]


def helm_template(*values: str) -> list[dict[str, Any]]:
    out = run(
        helm(),
        "template",
        "metallb",
        str(CHART),
        "--namespace",
        "metallb-system",
        "--include-crds",
        *values,
    )
    return [d for d in yaml.safe_load_all(out) if d]


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def helm_fails(*values: str) -> str:
    """helm template's error output, asserting that the rendering fails."""
    proc = subprocess.run(
        [helm(), "template", "metallb", str(CHART), "--namespace", "metallb-system", *values],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout[:2000]
    return proc.stderr


# What the apiserver fills in for a probe that leaves them out.
PROBE_DEFAULTS = {"timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}


def probe(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    p = container.get(name)
    return None if p is None else {**PROBE_DEFAULTS, **p}


def kinds(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


# Upstream-chart values a values file may set (values.yaml of metallb/metallb's chart).
UPSTREAM_VALUES = {
    "crds": {"validationFailurePolicy": "Ignore"},
    "tls": {"minVersion": "VersionTLS13"},
    "controller": {
        "strategy": {"type": "Recreate"},
        "serviceAccount": {"annotations": {"example.com/role": "controller"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000},
        "runtimeClassName": "gvisor",
        "livenessProbe": {"port": 18000, "failureThreshold": 7, "initialDelaySeconds": 11},
        "readinessProbe": {"periodSeconds": 13, "successThreshold": 2, "timeoutSeconds": 4},
        "extraContainers": [{"name": "sidecar", "image": "example.com/sidecar:1"}],
    },
    "speaker": {
        "bgpDebounceTimeout": 5000,
        "updateStrategy": {"type": "OnDelete"},
        "serviceAccount": {"annotations": {"example.com/role": "speaker"}},
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "runtimeClassName": "kata",
        "livenessProbe": {"enabled": False},
        "readinessProbe": {"initialDelaySeconds": 21, "failureThreshold": 9},
        "extraContainers": [{"name": "logger", "image": "example.com/logger:1"}],
    },
}


def test_chart_copies_of_deploy_are_current() -> None:
    """charts/metallb/{crds,files} are generated from deploy/: run tools/gen-crds if stale."""
    for rel, text in chart_files(REPO).items():
        path = CHART / rel
        assert path.is_file(), f"{path} missing: run tools/gen-crds"
        assert path.read_text() == text, f"{path} is stale: run tools/gen-crds"


def test_helm_lint_passes() -> None:
    """The chart passes the real helm's lint, with default and FRR values."""
    run(helm(), "lint", str(CHART))
    run(helm(), "lint", str(CHART), "--set", "speaker.frr.enabled=true")
    run(helm(), "lint", str(CHART), "--set", "frrk8s.enabled=true")


def test_chart_equals_kustomize_output() -> None:
    """Same objects, same RBAC rules, same containers (apart from Helm's own labels)."""
    ours = {key(o): o for o in kustomize() if o["kind"] != "Namespace"}
    chart = {key(o): o for o in helm_template()}
    assert sorted(chart) == sorted(ours)
    for k, obj in ours.items():
        other = chart[k]
        if obj["kind"] in ("ClusterRole", "Role"):
            assert other["rules"] == obj["rules"], k
        elif obj["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            assert other["subjects"] == obj["subjects"], k
            assert other["roleRef"] == obj["roleRef"], k
        elif obj["kind"] in ("Deployment", "DaemonSet"):
            a = obj["spec"]["template"]["spec"]
            b = other["spec"]["template"]["spec"]
            for field in ("serviceAccountName", "hostNetwork", "volumes", "tolerations"):
                assert a.get(field) == b.get(field), (k, field)
            ca, cb = a["containers"][0], b["containers"][0]
            for field in ("args", "env", "ports", "securityContext", "volumeMounts"):
                assert ca.get(field) == cb.get(field), (k, field)
            for field in ("livenessProbe", "readinessProbe"):
                assert probe(ca, field) == probe(cb, field), (k, field)
        elif obj["kind"] in (
            "CustomResourceDefinition",
            "ValidatingWebhookConfiguration",
            "ConfigMap",
            "Service",
        ):
            strip = {"metadata"}
            assert {f: v for f, v in other.items() if f not in strip} == {
                f: v for f, v in obj.items() if f not in strip
            }, k


def test_speaker_has_only_net_raw_and_net_admin() -> None:
    """The speaker drops every capability but the two it needs, in both installs."""
    for objs in (kustomize(), helm_template()):
        ds = next(o for o in objs if o["kind"] == "DaemonSet")
        caps = ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]
        assert caps == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}


def test_values_reach_the_workloads() -> None:
    """Upstream-shaped values change what they should."""
    objs = helm_template(
        "--set",
        "loadBalancerClass=example.com/lb",
        "--set",
        "speaker.frr.enabled=true",
        "--set",
        "controller.logLevel=debug",
        "--set",
        "speaker.memberlist.enabled=false",
    )
    dep = next(o for o in objs if o["kind"] == "Deployment")
    ds = next(o for o in objs if o["kind"] == "DaemonSet")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    s = ds["spec"]["template"]["spec"]["containers"][0]
    assert "--lb-class=example.com/lb" in c["args"]
    assert "--lb-class=example.com/lb" in s["args"]
    assert "--log-level=debug" in c["args"]
    assert s["image"].startswith("quay.io/metallb-py/speaker-frr:")
    assert {"name": "METALLB_BGP_TYPE", "value": "frr"} in s["env"]
    assert not [e for e in s["env"] if e["name"].startswith("METALLB_ML_")]
    # FRR mode: FRR runs beside the speaker (watchfrr), sockets and work dir shared.
    pod = ds["spec"]["template"]["spec"]
    frr = next(x for x in pod["containers"] if x["name"] == "frr")
    assert frr["image"] == s["image"]
    assert frr["command"][0] == "/usr/lib/frr/watchfrr"
    assert {"bgpd", "bfdd", "zebra"} <= set(frr["command"])
    mounts = {m["name"]: m["mountPath"] for m in s["volumeMounts"]}
    assert mounts["frr-sockets"] == "/var/run/frr"
    assert mounts["frr-work"] == "/var/lib/metallb/frr"  # the speaker's --frr-workdir default
    assert {"name": "frr-sockets", "mountPath": "/var/run/frr"} in frr["volumeMounts"]
    assert {v["name"] for v in pod["volumes"]} >= {"frr-sockets", "frr-work"}


def test_upstream_values_reach_the_objects(tmp_path: Path) -> None:
    """Upstream's probe, strategy, security, runtime class, service account annotation,
    extra container, debounce and webhook policy values land where upstream puts them."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(UPSTREAM_VALUES))
    objs = helm_template("-f", str(values))
    dep = kinds(objs, "Deployment")[0]
    ds = kinds(objs, "DaemonSet")[0]
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert ds["spec"]["updateStrategy"] == {"type": "OnDelete"}
    cpod, spod = dep["spec"]["template"]["spec"], ds["spec"]["template"]["spec"]
    assert cpod["runtimeClassName"] == "gvisor"
    assert spod["runtimeClassName"] == "kata"
    assert cpod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000}
    assert spod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert [c["name"] for c in cpod["containers"]] == ["controller", "sidecar"]
    assert [c["name"] for c in spod["containers"]] == ["speaker", "logger"]
    c, s = cpod["containers"][0], spod["containers"][0]
    # livenessProbe.port is the health port, as upstream passes it.
    assert "--health-probe-port=18000" in c["args"]
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 18000},
        "initialDelaySeconds": 11,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 7,
    }
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": 17472},
        "initialDelaySeconds": 5,
        "periodSeconds": 13,
        "timeoutSeconds": 4,
        "successThreshold": 2,
        "failureThreshold": 3,
    }
    assert "livenessProbe" not in s
    assert s["readinessProbe"]["httpGet"] == {"host": "127.0.0.1", "path": "/readyz", "port": 17472}
    assert s["readinessProbe"]["initialDelaySeconds"] == 21
    assert s["readinessProbe"]["failureThreshold"] == 9
    assert "--bgp-debounce-timeout=5000" in s["args"]
    assert "--tls-min-version=VersionTLS13" in c["args"]
    assert "--tls-min-version=VersionTLS13" in s["args"]
    assert not [a for a in s["args"] if a.startswith("--health-probe-port")]
    accounts = {o["metadata"]["name"]: o for o in kinds(objs, "ServiceAccount")}
    assert accounts["controller"]["metadata"]["annotations"] == {"example.com/role": "controller"}
    assert accounts["speaker"]["metadata"]["annotations"] == {"example.com/role": "speaker"}
    assert accounts["speaker"]["metadata"]["labels"] == {"app": "metallb", "component": "speaker"}
    # The other objects of the generated files are untouched.
    assert sorted(map(key, objs)) == sorted(map(key, helm_template()))


def test_defaults_leave_upstream_only_flags_out() -> None:
    """Unset bgpDebounceTimeout and the default health port add no flags; the probes
    are on by default."""
    objs = helm_template()
    for workload in kinds(objs, "Deployment") + kinds(objs, "DaemonSet"):
        pod = workload["spec"]["template"]["spec"]
        assert "runtimeClassName" not in pod
        c = pod["containers"][0]
        flags = ("--bgp-debounce", "--health-probe", "--tls-min-version")
        assert not [a for a in c["args"] if a.startswith(flags)]
        assert c["livenessProbe"]["httpGet"]["port"] == 17472
        assert c["readinessProbe"]["httpGet"]["port"] == 17472
    (ds,) = kinds(objs, "DaemonSet")
    assert "securityContext" not in ds["spec"]["template"]["spec"]
    for sa in kinds(objs, "ServiceAccount"):
        assert "annotations" not in sa["metadata"]


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_validation_failure_policy_reaches_every_webhook(policy: str) -> None:
    """crds.validationFailurePolicy sets every webhook's failurePolicy, as upstream's."""
    objs = helm_template("--set", f"crds.validationFailurePolicy={policy}")
    (vwc,) = kinds(objs, "ValidatingWebhookConfiguration")
    assert len(vwc["webhooks"]) >= 6
    assert {w["failurePolicy"] for w in vwc["webhooks"]} == {policy}


def test_bad_validation_failure_policy_fails() -> None:
    assert "must be Fail or Ignore" in helm_fails("--set", "crds.validationFailurePolicy=fail")


def test_bad_tls_min_version_fails() -> None:
    """The binaries accept only these two; a typo stops the install, not the pods."""
    assert "VersionTLS12 or VersionTLS13" in helm_fails("--set", "tls.minVersion=TLS13")


def test_config_inline_fails_like_upstream(tmp_path: Path) -> None:
    """A pre-0.13 values file with configInline stops the install instead of doing nothing."""
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "configInline": {
                    "address-pools": [
                        {"name": "default", "protocol": "layer2", "addresses": ["10.0.0.0/24"]}
                    ]
                }
            }
        )
    )
    err = helm_fails("-f", str(values))
    assert "Starting from v0.13.0 configInline is no longer supported" in err


@pytest.mark.controlplane
@pytest.mark.usefixtures("metallb_crds")
@pytest.mark.parametrize(
    "source",
    [
        "kustomize",
        "helm",
        "helm-frr",
        "helm-upstream-values",
        "helm-servicemonitor",
        "helm-podmonitor",
    ],
)
def test_server_side_dry_run(control_plane: ControlPlane, tmp_path: Path, source: str) -> None:
    """The real apiserver accepts every object of both installs (schemas, RBAC, webhook),
    also with the monitoring, metrics TLS and NetworkPolicy values on. The
    prometheus-operator kinds are left out: the test apiserver has not their CRDs
    (test_chart_monitoring.py checks them)."""
    # A dry run creates nothing, so the namespace the objects go into must exist for real.
    kube = [KUBECTL, f"--kubeconfig={control_plane.kubeconfig}"]
    run(*kube, "apply", "-f", str(REPO / "deploy" / "namespace.yaml"))
    if source == "kustomize":
        objs = kustomize()
    elif source == "helm-upstream-values":
        values = tmp_path / "values.yaml"
        values.write_text(yaml.safe_dump(UPSTREAM_VALUES))
        objs = helm_template("-f", str(values), "--set", "speaker.frr.enabled=true")
    elif source.endswith("monitor"):
        monitor = "serviceMonitor" if source == "helm-servicemonitor" else "podMonitor"
        settings = {
            "prometheus": {
                monitor: {"enabled": True},
                "prometheusRule": {"enabled": True},
                "serviceAccount": "prometheus-k8s",
                "namespace": "monitoring",
            },
            "networkpolicies": {"enabled": True, "defaultDeny": True},
            "tls": {"controllerMetricsTLSSecret": "c-tls", "speakerMetricsTLSSecret": "s-tls"},
        }
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(settings))
        rendered = helm_template("-f", str(tmp_path / "values.yaml"))
        objs = [o for o in rendered if not o["apiVersion"].startswith("monitoring.coreos.com/")]
        assert len(objs) < len(rendered)
        assert {"NetworkPolicy", "ClusterRoleBinding", "RoleBinding"} <= {o["kind"] for o in objs}
    else:
        objs = helm_template(*(["--set", "speaker.frr.enabled=true"] if "frr" in source else []))
    manifest = tmp_path / "all.yaml"
    manifest.write_text(yaml.safe_dump_all(objs))
    out = run(*kube, "apply", "--dry-run=server", "-f", str(manifest))
    assert out.count("(server dry run)") == len(objs)


def test_frrk8s_values_give_the_deploy_component() -> None:
    """frrk8s.external (upstream's values) renders what deploy/components/frr-k8s adds:
    METALLB_BGP_TYPE=frr-k8s on both workloads, the speaker's frr-k8s flags, and the
    speaker's Role on FRRConfigurations in frr-k8s's namespace only."""
    component = [
        d
        for d in yaml.safe_load_all(
            (REPO / "deploy" / "components" / "frr-k8s" / "rbac.yaml").read_text()
        )
        if d
    ]
    values = ("external=true", "namespace=frr-k8s-system", "secretPassthrough=true")
    objs = helm_template(*(a for v in values for a in ("--set", f"frrk8s.{v}")))
    c, s = (
        next(o for o in objs if o["kind"] == kind)["spec"]["template"]["spec"]["containers"][0]
        for kind in ("Deployment", "DaemonSet")
    )
    assert {"name": "METALLB_BGP_TYPE", "value": "frr-k8s"} in c["env"]
    assert {"name": "METALLB_BGP_TYPE", "value": "frr-k8s"} in s["env"]
    assert "--frrk8s-namespace=frr-k8s-system" in s["args"]
    assert "--frrk8s-secret-passthrough" in s["args"]
    mine = {key(o): o for o in objs if o["metadata"].get("namespace") == "frr-k8s-system"}
    assert set(mine) == {key(o) for o in component}
    for want in component:
        got = mine[key(want)]
        assert got.get("rules") == want.get("rules")
        assert got.get("subjects") == want.get("subjects")

    # frr-k8s beside MetalLB: the Role in the release's namespace, no namespace flag.
    objs = helm_template("--set", "frrk8s.enabled=true")
    s = next(o for o in objs if o["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    assert {"name": "METALLB_BGP_TYPE", "value": "frr-k8s"} in s["containers"][0]["env"]
    assert not [a for a in s["containers"][0]["args"] if a.startswith("--frrk8s")]
    role = next(o for o in objs if key(o) == ("Role", "metallb-speaker"))
    assert role["metadata"]["namespace"] == "metallb-system"
    # Off by default: no Role, no BGP type.
    objs = helm_template()
    assert ("Role", "metallb-speaker") not in map(key, objs)


def test_frrk8s_bad_values_fail_like_upstream() -> None:
    assert "mutually exclusive" in helm_fails(
        "--set", "frrk8s.enabled=true", "--set", "frrk8s.external=true"
    )
    assert "mutually exclusive" in helm_fails(
        "--set", "frrk8s.enabled=true", "--set", "speaker.frr.enabled=true"
    )
    assert "namespace is required" in helm_fails("--set", "frrk8s.external=true")
