"""Run `metallb controller` as a real process, as its own ServiceAccount.

The ServiceAccount and its permissions come from deploy/ (applied as is), and the
process authenticates with a token from the TokenRequest API: a permission missing
from the manifests fails these tests. Each test gets its own loadBalancerClass, so the
controller it starts only sees that test's Services (the session apiserver is shared).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta

from metallb.lab.controlplane import ControlPlane
from metallb.lab.daemon import Daemon
from metallb.lab.ports import free_port
from metallb.lab.tokens import service_account_token
from tests.conftest import KUBECTL, REPO

NS = "metallb-system"
Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")


@pytest.fixture(scope="session")
def metallb_system(control_plane: ControlPlane, metallb_crds: list[str]) -> str:
    """The MetalLB namespace and the controller's RBAC, applied from deploy/ unchanged."""
    subprocess.run(
        [
            KUBECTL,
            f"--kubeconfig={control_plane.kubeconfig}",
            "apply",
            "-f",
            str(REPO / "deploy" / "namespace.yaml"),
            "-f",
            str(REPO / "deploy" / "controller" / "rbac.yaml"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return NS


@pytest.fixture(scope="session")
def controller_kubeconfig(control_plane: ControlPlane, kube: Client, metallb_system: str) -> Path:
    """A kubeconfig holding a token of the `controller` ServiceAccount."""
    token = service_account_token(kube, "controller", NS)
    return control_plane.token_kubeconfig("metallb-controller", token)


class ControllerProcess(Daemon):
    """One `metallb controller` process with a fixed set of flags, ready when /readyz is 200."""

    def __init__(self, kubeconfig: Path, lb_class: str, log: Path, extra: list[str]) -> None:
        self.health_port = free_port()
        argv = [
            sys.executable,
            "-m",
            "metallb.cli.main",
            "controller",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={NS}",
            f"--lb-class={lb_class}",
            "--port=0",
            f"--health-probe-port={self.health_port}",
            "--log-level=debug",
            *extra,
        ]
        super().__init__(
            "controller", argv, log, ready_url=f"http://127.0.0.1:{self.health_port}/readyz"
        )


@pytest.fixture
def lb_class() -> str:
    return f"metallb-py.test/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pools(kube: Client, metallb_system: str) -> Iterator[list[str]]:
    """Names of pools a test creates in metallb-system; deleted afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        try:
            kube.delete(Pool, name, namespace=NS)
        except ApiError as err:
            if err.status.code != 404:
                raise


def make_pool(kube: Client, pools: list[str], name: str, *addresses: str, **spec: Any) -> None:
    kube.create(
        Pool(
            metadata=ObjectMeta(name=name, namespace=NS),
            spec={"addresses": list(addresses), **spec},
        )
    )
    pools.append(name)


@pytest.fixture
def start_controller(controller_kubeconfig: Path, lb_class: str, tmp_path: Path) -> Iterator[Any]:
    """Start a controller (call it with extra flags); stopped after the test."""
    procs: list[ControllerProcess] = []

    def start(*extra: str) -> ControllerProcess:
        proc = ControllerProcess(
            controller_kubeconfig, lb_class, tmp_path / f"controller-{len(procs)}.log", list(extra)
        )
        procs.append(proc)
        proc.start()
        return proc

    yield start
    for p in procs:
        p.stop()
