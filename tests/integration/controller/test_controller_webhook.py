"""The webhook served by the controller process itself, and the Secrets it creates."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.core_v1 import Secret

from metallb.lab.controlplane import ControlPlane
from metallb.lab.ports import free_port
from metallb.lab.webhooks import local_configuration
from tests.conftest import KUBECTL
from tests.integration.controller.conftest import NS, Pool, make_pool

pytestmark = pytest.mark.controlplane


@pytest.fixture
def webhook_port(kube: Client, metallb_system: str) -> Iterator[int]:
    """metallb-webhook-configuration pointing at a local port, without a caBundle: the
    controller must inject it. Scoped to metallb-system; removed after the test."""
    port = free_port()
    kube.create(local_configuration("metallb-webhook-configuration", port, namespace=NS))
    try:
        yield port
    finally:
        kube.delete(ValidatingWebhookConfiguration, "metallb-webhook-configuration")


def apply(cp: ControlPlane, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={cp.kubeconfig}", "apply", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kubectl_apply_is_checked_by_the_controllers_webhook(
    kube: Client,
    control_plane: ControlPlane,
    pools: list[str],
    webhook_port: int,
    start_controller: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """Bad CIDR and overlap are refused at `kubectl apply`; a good pool is accepted."""
    start_controller(
        "--webhook-mode=enabled",
        f"--webhook-port={webhook_port}",
        "--webhook-cert-ips=127.0.0.1",
        f"--cert-dir={tmp_path / 'certs'}",
        "--ml-secret-name=memberlist",
    )
    vwc = kube.get(ValidatingWebhookConfiguration, "metallb-webhook-configuration")
    assert all(h.clientConfig.caBundle for h in vwc.webhooks or [])

    def pool_file(name: str, *addresses: str) -> Path:
        f = tmp_path / f"{name}.yaml"
        f.write_text(
            f"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
            f"metadata: {{name: {name}, namespace: {NS}}}\n"
            f"spec: {{addresses: {list(addresses)}}}\n"
        )
        return f

    # Valid, so it passes the webhook once the apiserver has the injected caBundle.
    deadline = time.monotonic() + 30
    while True:
        try:
            make_pool(kube, pools, "wh-existing", "192.0.2.64/28")
            break
        except ApiError as err:
            if err.status.code != 500 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    # The apiserver picks up a new webhook configuration asynchronously.
    deadline = time.monotonic() + 30
    while True:
        bad = apply(control_plane, pool_file("wh-bad", "192.0.2.500/32"))
        if bad.returncode != 0 or time.monotonic() > deadline:
            break
        kube.delete(Pool, "wh-bad", namespace=NS)
        time.sleep(0.2)
    assert bad.returncode == 1
    assert "denied the request" in bad.stderr
    assert f"IPAddressPool {NS}/wh-bad: spec.addresses[0]: invalid CIDR" in bad.stderr

    overlap = apply(control_plane, pool_file("wh-overlap", "192.0.2.72/29"))
    assert overlap.returncode == 1
    assert 'overlaps with already defined CIDR "192.0.2.64/28"' in overlap.stderr

    good = apply(control_plane, pool_file("wh-good", "192.0.2.96/28"))
    assert good.returncode == 0, good.stderr
    pools.append("wh-good")

    # --ml-secret-name: the speakers' gossip key exists and is long enough to derive from.
    secret = kube.get(Secret, "memberlist", namespace=NS)
    assert secret.data is not None
    assert len(base64.b64decode(base64.b64decode(secret.data["secretkey"]))) == 128
    # The webhook certificate is kept in the Secret upstream names.
    cert = kube.get(Secret, "metallb-webhook-cert", namespace=NS)
    assert cert.data is not None
    assert {"ca.crt", "ca.key", "tls.crt", "tls.key"} <= set(cert.data)


def test_webhook_secret_survives_controller_restart(
    kube: Client,
    metallb_system: str,
    webhook_port: int,
    start_controller: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """A second controller reuses the stored CA: the injected caBundle stays the same."""
    flags = (
        "--webhook-mode=onlywebhook",
        f"--webhook-port={webhook_port}",
        "--webhook-cert-ips=127.0.0.1",
        f"--cert-dir={tmp_path / 'certs'}",
    )
    first = start_controller(*flags)
    bundle = kube.get(ValidatingWebhookConfiguration, "metallb-webhook-configuration")
    first.stop()
    start_controller(*flags)
    again = kube.get(ValidatingWebhookConfiguration, "metallb-webhook-configuration")
    assert [h.clientConfig.caBundle for h in again.webhooks or []] == [
        h.clientConfig.caBundle for h in bundle.webhooks or []
    ]
