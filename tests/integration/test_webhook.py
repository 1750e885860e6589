"""The admission and conversion webhooks behind the real apiserver.

The webhook server and its configuration come from ``tests/integration/webhook_harness.py``
(fixture ``webhook``).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from pathlib import Path

import pytest
from lightkube import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from metallb.k8s.webhook_setup import ensure_serving_certificate, inject_ca_bundle
from metallb.lab.controlplane import ControlPlane
from tests.integration.webhook_harness import Webhook, pool, refused, wait_until_enforced

pytestmark = [pytest.mark.controlplane, pytest.mark.usefixtures("metallb_crds")]

PeerV2 = create_namespaced_resource("metallb.io", "v1beta2", "BGPPeer", "bgppeers")
PeerV1 = create_namespaced_resource("metallb.io", "v1beta1", "BGPPeer", "bgppeers")
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


@pytest.mark.asyncio
async def test_invalid_pools_are_refused_with_a_clear_message(webhook: Webhook) -> None:
    """Bad CIDR and overlap are refused by our webhook; a valid pool is accepted."""
    await wait_until_enforced(webhook)
    ns, client = webhook.namespace, webhook.client
    msg = await refused(client, pool("bad", ns, "192.0.2.300/32"))
    assert 'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied' in msg
    assert 'invalid CIDR "192.0.2.300/32"' in msg
    assert f"IPAddressPool {ns}/bad" in msg

    await client.create(pool("first", ns, "192.0.2.0/28"))
    msg = await refused(client, pool("second", ns, "192.0.2.8/29"))
    assert 'overlaps with already defined CIDR "192.0.2.0/28" of pool "first"' in msg
    await client.create(pool("third", ns, "192.0.2.16/28"))


@pytest.mark.asyncio
async def test_kubectl_apply_shows_the_refusal(
    webhook: Webhook, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """What a user sees from `kubectl apply` names the object and the field."""
    await wait_until_enforced(webhook)
    manifest = tmp_path / "pool.yaml"
    manifest.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        f"metadata: {{name: broken, namespace: {webhook.namespace}}}\n"
        "spec: {addresses: ['198.51.100.10-198.51.100.5']}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--kubeconfig={control_plane.kubeconfig}",
        "apply",
        "-f",
        str(manifest),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    text = err.decode()
    assert "denied the request" in text
    assert "spec.addresses[0]" in text


@pytest.mark.asyncio
async def test_certificate_is_kept_across_restarts(webhook: Webhook) -> None:
    """A second start reuses the stored certificate, so the caBundle stays valid."""
    again_ca, again_tls = await ensure_serving_certificate(
        webhook.client,
        namespace=webhook.namespace,
        secret_name="metallb-webhook-cert",
        dns_names=(f"metallb-webhook-service.{webhook.namespace}.svc",),
        ip_addresses=("127.0.0.1",),
    )
    assert again_ca == webhook.ca
    ctx = ssl.create_default_context(cadata=webhook.ca.decode())
    # The stored certificate still verifies against the injected CA over a real handshake.
    _reader, writer = await asyncio.open_connection("127.0.0.1", webhook.port, ssl=ctx)
    writer.close()
    await writer.wait_closed()
    assert again_tls.cert.startswith(b"-----BEGIN CERTIFICATE-----")
    vwc = await webhook.client.get(ValidatingWebhookConfiguration, webhook.name)
    assert all(h.clientConfig.caBundle for h in vwc.webhooks or [])


@pytest.mark.asyncio
async def test_conversion_webhook_serves_both_bgppeer_versions(webhook: Webhook) -> None:
    """A peer stored as v1beta2 reads back as v1beta1 through our /convert endpoint."""
    client = webhook.client
    crd = await client.get(CustomResourceDefinition, "bgppeers.metallb.io")
    conversion = crd.spec.conversion
    original = conversion.webhook.clientConfig if conversion and conversion.webhook else None
    assert original is not None
    await client.patch(
        CustomResourceDefinition,
        "bgppeers.metallb.io",
        {
            "spec": {
                "conversion": {
                    "webhook": {"clientConfig": {"url": f"{webhook.url}/convert", "service": None}}
                }
            }
        },
        patch_type=PatchType.MERGE,
    )
    await inject_ca_bundle(client, webhook.ca, configuration=webhook.name)
    try:
        await client.create(
            PeerV2(
                metadata=ObjectMeta(name="r1", namespace=webhook.namespace),
                spec={
                    "myASN": 64500,
                    "peerASN": 64501,
                    "peerAddress": "192.0.2.1",
                    "nodeSelectors": [{"matchLabels": {"rack": "a"}}],
                },
            )
        )
        for _ in range(100):
            try:
                old = await client.get(PeerV1, "r1", namespace=webhook.namespace)
                break
            except ApiError as err:  # conversion config not yet picked up
                last = err.status.message
                await asyncio.sleep(0.1)
        else:
            pytest.fail(f"v1beta1 read never succeeded: {last}")
        assert old.apiVersion == "metallb.io/v1beta1"
        assert old["spec"]["nodeSelectors"] == [
            {"matchLabels": {"rack": "a"}, "matchExpressions": []}
        ]
        assert old["spec"]["holdTime"] == "0s"
    finally:
        await client.patch(
            CustomResourceDefinition,
            "bgppeers.metallb.io",
            {
                "spec": {
                    "conversion": {
                        "webhook": {
                            "clientConfig": {
                                "url": None,
                                "service": original.service.to_dict() if original.service else None,
                            }
                        }
                    }
                }
            },
            patch_type=PatchType.MERGE,
        )
