"""explain, status and doctor against the real apiserver: they read it and answer."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lightkube import Client
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Service

from metallb.lab.controlplane import ControlPlane

pytestmark = [pytest.mark.controlplane, pytest.mark.usefixtures("metallb_crds")]


def metallb(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", *args, f"--kubeconfig={cp.kubeconfig}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_explain_reads_the_service(
    control_plane: ControlPlane, kube: Client, namespace: str
) -> None:
    """A Service of another class is explained as someone else's, from the live API."""
    kube.create(
        Service(
            metadata=ObjectMeta(name="other", namespace=namespace),
            spec=ServiceSpec(
                type="LoadBalancer", loadBalancerClass="example.com/x", ports=[ServicePort(port=80)]
            ),
        )
    )
    proc = metallb(control_plane, "explain", f"{namespace}/other")
    assert proc.returncode == 0, proc.stderr
    assert "'example.com/x'" in proc.stdout
    assert "another implementation" in proc.stdout
    missing = metallb(control_plane, "explain", "service", f"{namespace}/absent")
    assert missing.returncode == 1
    assert "does not exist" in missing.stdout


def test_doctor_and_status_run_on_a_live_cluster(control_plane: ControlPlane) -> None:
    """With the CRDs installed, doctor gets past the CRD check; status prints its tables."""
    doc = metallb(control_plane, "doctor")
    assert "Traceback" not in doc.stderr
    assert "CRDs are not installed" not in doc.stdout
    assert doc.stdout.strip(), doc.stderr
    status = metallb(control_plane, "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("POOL")
    assert "SERVICE" in status.stdout
