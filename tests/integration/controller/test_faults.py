"""Faults of the control plane's MetalLB side, on the real kube-apiserver (issue 17's table).

Each test injects one fault into a real `metallb controller` process (run by the
fixtures of conftest.py as its own ServiceAccount) and prints the figure of its row
(visible with ``pytest -s``); bench/faults_controller.py measures row A the same way.

- **Row A, the controller SIGKILLed in the middle of a burst of 500 Service creations**:
  proves that a crash at any point of allocation loses nothing and corrupts nothing.
  After the restart every one of the 500 Services holds exactly one IP from the pools,
  no IP held before the kill has moved, an IP is held by two Services only when they
  share compatibly (``metallb.io/allow-shared-ip``), and of each pair requesting one IP
  incompatibly exactly one holds it while the other is pending with an
  ``AllocationFailed`` Event. Prints the IPs assigned before the kill and the time from
  the restart to all served.
- **Row B, the webhook's Pod gone**: proves what ``kubectl apply`` of an IPAddressPool
  tells the user while nothing serves the webhook, for each ``failurePolicy`` as
  installed: deploy/controller/webhook.yaml (``Fail``) refuses the pool with a message
  naming the webhook and the connection failure; the chart with
  ``crds.validationFailurePolicy=Ignore`` accepts it, and an invalid pool gets in too
  (upstream's behaviour: Ignore means unchecked). With the controller back, an invalid
  pool is refused again with a message naming the field.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.faults_controller import (
    AUTO_POOL,
    MANUAL_POOL,
    Burst,
    crash_during_burst,
    verdict,
)
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration

from metallb.lab.controlplane import ControlPlane
from metallb.lab.ports import free_port
from tests.conftest import KUBECTL, REPO
from tests.integration.controller.conftest import NS, make_pool
from tests.integration.test_deploy import helm_template

pytestmark = pytest.mark.controlplane
WEBHOOK = "ipaddresspoolvalidationwebhook.metallb.io"
CONFIGURATION = "metallb-webhook-configuration"


# -- row A --------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_controller_killed_in_a_burst_of_500_services(
    kube: Client,
    control_plane: ControlPlane,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    """SIGKILL at half of 500 assigned, restart: all served, nothing moved or shared wrongly."""
    make_pool(kube, pools, "faults-auto", AUTO_POOL)
    make_pool(kube, pools, "faults-manual", MANUAL_POOL, autoAssign=False)
    ctl = start_controller("--webhook-mode=disabled")
    burst = Burst(namespace, lb_class, served=500)
    client = AsyncClient(config=KubeConfig.from_file(str(control_plane.kubeconfig)))
    try:
        outcome = await crash_during_burst(client, burst, ctl, limit=150)
    finally:
        await client.close()
    print(
        f"\nrow A: {outcome.created_before_kill} created and "
        f"{outcome.assigned_before_kill} assigned before the kill "
        f"({outcome.kill_after_s:.2f} s into the burst); restart to ready "
        f"{outcome.restart_ready_s:.2f} s, to all {burst.served} served "
        f"{outcome.restart_to_all_served_s:.2f} s"
    )
    # The kill landed in the middle: some were served before it, and not all.
    assert 0 < outcome.assigned_before_kill < burst.served
    assert verdict(burst, outcome) == []
    assert outcome.moved() == []


# -- row B --------------------------------------------------------------------------------
def installed_configuration(source: str) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration a user installs: from deploy/ or the chart."""
    if source == "deploy":
        docs = yaml.safe_load_all((REPO / "deploy" / "controller" / "webhook.yaml").read_text())
    else:
        docs = iter(helm_template("--set", "crds.validationFailurePolicy=Ignore"))
    found: list[dict[str, Any]] = [
        d for d in docs if d and d["kind"] == "ValidatingWebhookConfiguration"
    ]
    (vwc,) = found
    assert vwc["metadata"]["name"] == CONFIGURATION
    return vwc


def at_local_port(vwc: dict[str, Any], port: int) -> dict[str, Any]:
    """The same configuration dialling 127.0.0.1:port, each webhook keeping its path.

    The only change: the test's apiserver has no kube-proxy, so it would dial the
    Service's ClusterIP through the host's default route. In a cluster the message posts
    to ``https://metallb-webhook-service.metallb-system.svc:443/...`` and the refused dial
    names the ClusterIP, where here they name 127.0.0.1:port.
    """
    hooks = [
        {
            **h,
            "clientConfig": {
                "url": f"https://127.0.0.1:{port}{h['clientConfig']['service']['path']}"
            },
        }
        for h in vwc["webhooks"]
    ]
    return {**vwc, "webhooks": hooks}


def kubectl(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={cp.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pool_file(tmp: Path, name: str, *addresses: str) -> Path:
    f = tmp / f"{name}.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"addresses": list(addresses)},
            }
        )
    )
    return f


@pytest.fixture
def installed_webhook(
    kube: Client, control_plane: ControlPlane, metallb_system: str, tmp_path: Path
) -> Iterator[Callable[[str], int]]:
    """Install the configuration from a source with `kubectl apply`; returns its port."""

    def install(source: str) -> int:
        port = free_port()
        f = tmp_path / "webhook.yaml"
        f.write_text(yaml.safe_dump(at_local_port(installed_configuration(source), port)))
        done = kubectl(control_plane, "apply", "-f", str(f))
        assert done.returncode == 0, done.stderr
        return port

    yield install
    kube.delete(ValidatingWebhookConfiguration, CONFIGURATION)


@pytest.mark.parametrize(("source", "policy"), [("deploy", "Fail"), ("chart", "Ignore")])
def test_kubectl_apply_with_the_webhooks_pod_gone(
    kube: Client,
    control_plane: ControlPlane,
    pools: list[str],
    installed_webhook: Callable[[str], int],
    start_controller: Callable[..., Any],
    tmp_path: Path,
    source: str,
    policy: str,
) -> None:
    """Controller up (webhook live), then gone: what `kubectl apply` of a pool says; then back."""
    port = installed_webhook(source)
    vwc = kube.get(ValidatingWebhookConfiguration, CONFIGURATION)
    assert {h.failurePolicy for h in vwc.webhooks or []} == {policy}
    flags = (
        "--webhook-mode=enabled",
        f"--webhook-port={port}",
        "--webhook-cert-ips=127.0.0.1",
        f"--cert-dir={tmp_path / 'certs'}",
    )
    ctl = start_controller(*flags)

    def refused_naming_the_field(name: str) -> str:
        """Apply an invalid pool until the webhook (caBundle injected, configuration
        picked up by the apiserver: both asynchronous) refuses it; the message."""
        deadline = time.monotonic() + 30
        while True:
            bad = kubectl(
                control_plane, "apply", "-f", str(pool_file(tmp_path, name, "192.0.2.500/32"))
            )
            if "denied the request" in bad.stderr or time.monotonic() > deadline:
                break
            if bad.returncode == 0:
                kubectl(control_plane, "delete", "-n", NS, "ipaddresspool", name)
            time.sleep(0.2)
        assert bad.returncode == 1
        assert f"IPAddressPool {NS}/{name}: spec.addresses[0]: invalid CIDR" in bad.stderr
        return bad.stderr.strip()

    refused_naming_the_field("fault-bad-live")
    ctl.stop()  # the webhook's Pod is gone: nothing listens on the port

    good = kubectl(
        control_plane, "apply", "-f", str(pool_file(tmp_path, "fault-good", "192.0.2.16/28"))
    )
    said = good.stderr.strip() or good.stdout.strip()
    print(f"\nrow B, failurePolicy {policy}, webhook gone: rc={good.returncode}\n{said}")
    exists = kubectl(control_plane, "get", "-n", NS, "ipaddresspool", "fault-good")
    if policy == "Fail":
        assert good.returncode == 1
        assert f'failed calling webhook "{WEBHOOK}"' in good.stderr
        assert "connection refused" in good.stderr
        assert "NotFound" in exists.stderr
    else:
        pools.append("fault-good")
        assert good.returncode == 0, good.stderr
        assert exists.returncode == 0
        # Unchecked: an invalid pool gets in as well (the CRD's schema cannot tell).
        bad = kubectl(
            control_plane, "apply", "-f", str(pool_file(tmp_path, "fault-bad-in", "192.0.2.500/32"))
        )
        pools.append("fault-bad-in")
        print(f"invalid pool, webhook gone: rc={bad.returncode} {bad.stdout.strip()}")
        assert bad.returncode == 0, bad.stderr
        assert (
            kubectl(control_plane, "get", "-n", NS, "ipaddresspool", "fault-bad-in").returncode == 0
        )

    start_controller(*flags)
    message = refused_naming_the_field("fault-bad-back")
    print(f"controller back, invalid pool:\n{message}")
    later = pool_file(tmp_path, "fault-good-later", "192.0.2.48/28")
    if policy == "Ignore":
        # The webhook checks the new pool with all existing ones, as upstream's: the
        # invalid pool that got in blocks every later pool until it is deleted.
        blocked = kubectl(control_plane, "apply", "-f", str(later))
        print(f"controller back, valid pool:\n{blocked.stderr.strip()}")
        assert blocked.returncode == 1
        assert f"IPAddressPool {NS}/fault-bad-in: spec.addresses[0]: invalid CIDR" in blocked.stderr
        gone = kubectl(control_plane, "delete", "-n", NS, "ipaddresspool", "fault-bad-in")
        assert gone.returncode == 0, gone.stderr
    accepted = kubectl(control_plane, "apply", "-f", str(later))
    assert accepted.returncode == 0, accepted.stderr
    pools.append("fault-good-later")
