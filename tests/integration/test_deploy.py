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


@pytest.mark.controlplane
@pytest.mark.usefixtures("metallb_crds")
@pytest.mark.parametrize("source", ["kustomize", "helm", "helm-frr"])
def test_server_side_dry_run(control_plane: ControlPlane, tmp_path: Path, source: str) -> None:
    """The real apiserver accepts every object of both installs (schemas, RBAC, webhook)."""
    # A dry run creates nothing, so the namespace the objects go into must exist for real.
    kube = [KUBECTL, f"--kubeconfig={control_plane.kubeconfig}"]
    run(*kube, "apply", "-f", str(REPO / "deploy" / "namespace.yaml"))
    if source == "kustomize":
        objs = kustomize()
    else:
        objs = helm_template(*(["--set", "speaker.frr.enabled=true"] if "frr" in source else []))
    manifest = tmp_path / "all.yaml"
    manifest.write_text(yaml.safe_dump_all(objs))
    out = run(*kube, "apply", "--dry-run=server", "-f", str(manifest))
    assert out.count("(server dry run)") == len(objs)
