"""Shared fixtures: a real control plane per session, a fresh namespace per test.

The control plane starts only when a test asks for it, so the pure-core unit
tests run without it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from metallb.lab.controlplane import Binaries, ControlPlane


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd, kube-apiserver and kube-controller-manager, shared by the whole session."""
    with ControlPlane(Binaries.locate()) as cp:
        yield cp


def client_for(kubeconfig: str) -> Client:
    """A lightkube client that talks to the control plane with the given credentials."""
    return Client(config=KubeConfig.from_file(kubeconfig), field_manager="metallb-py-tests")


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Client:
    """An admin client (group system:masters)."""
    return client_for(str(control_plane.kubeconfig))


@pytest.fixture
def namespace(kube: Client) -> Iterator[str]:
    """A namespace of the test's own, deleted (and finalized by the namespace controller) after."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name)


REPO = Path(__file__).resolve().parents[1]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


@pytest.fixture(scope="session")
def metallb_crds(control_plane: ControlPlane) -> list[str]:
    """The metallb.io CRDs from deploy/crds, installed and established; returns their names."""
    base = [KUBECTL, f"--kubeconfig={control_plane.kubeconfig}"]
    subprocess.run(
        [*base, "apply", "-k", str(REPO / "deploy" / "crds")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    names = sorted(
        subprocess.run(
            [*base, "get", "crd", "-o", "name"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()
    )
    ours = [
        n.removeprefix("customresourcedefinition.apiextensions.k8s.io/")
        for n in names
        if n.endswith(".metallb.io")
    ]
    subprocess.run(
        [
            *base,
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *(f"crd/{n}" for n in ours),
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    # Established is not the end: the apiserver answers 429 ("storage is (re)initializing")
    # until the new resource's watch cache is ready. Wait until each kind can be listed.
    deadline = time.monotonic() + 60
    for name in ours:
        while (
            subprocess.run(
                [*base, "get", name, "-A", "-o", "name"],
                check=False,
                capture_output=True,
                timeout=60,
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline:
                pytest.fail(f"{name} never became listable")
            time.sleep(0.2)
    return ours
