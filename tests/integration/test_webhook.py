"""The admission and conversion webhooks behind the real apiserver.

The webhook server runs in the test's event loop with a certificate issued and stored
by ``ensure_serving_certificate``; a ValidatingWebhookConfiguration scoped to the test's
namespace points the apiserver at it, with the CA injected by ``inject_ca_bundle``.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from metallb.k8s.webhook_setup import api_lister, ensure_serving_certificate, inject_ca_bundle
from metallb.lab.controlplane import ControlPlane
from metallb.lab.ports import free_port
from metallb.lab.webhooks import local_configuration
from metallb.web.pki import write_pair
from metallb.web.tls import server_ssl_context
from metallb.web.webhook import add_webhook_routes

pytestmark = [pytest.mark.controlplane, pytest.mark.usefixtures("metallb_crds")]

Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")
PeerV2 = create_namespaced_resource("metallb.io", "v1beta2", "BGPPeer", "bgppeers")
PeerV1 = create_namespaced_resource("metallb.io", "v1beta1", "BGPPeer", "bgppeers")
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


class Webhook:
    """A running webhook server and the configuration that routes to it."""

    def __init__(self, client: AsyncClient, namespace: str, port: int, ca: bytes) -> None:
        self.client, self.namespace, self.port, self.ca = client, namespace, port, ca
        self.name = f"metallb-webhook-{namespace}"
        self.url = f"https://127.0.0.1:{port}"


@pytest_asyncio.fixture
async def webhook(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> AsyncIterator[Webhook]:
    client = AsyncClient(config=KubeConfig.from_file(str(control_plane.kubeconfig)))
    ca, tls = await ensure_serving_certificate(
        client,
        namespace=namespace,
        secret_name="metallb-webhook-cert",
        dns_names=(f"metallb-webhook-service.{namespace}.svc",),
        ip_addresses=("127.0.0.1",),
    )
    files = write_pair(tmp_path, "tls", tls)
    app = web.Application()
    add_webhook_routes(app, api_lister(client, namespace), namespace=namespace, bgp_type="native")
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(
        runner, "127.0.0.1", port, ssl_context=server_ssl_context(files.cert, files.key)
    )
    await site.start()
    hook = Webhook(client, namespace, port, ca)
    await client.create(local_configuration(hook.name, port, namespace=namespace, bfd_delete=True))
    await inject_ca_bundle(client, ca, configuration=hook.name, crd=None)
    try:
        yield hook
    finally:
        await client.delete(ValidatingWebhookConfiguration, hook.name)
        await runner.cleanup()
        await client.close()


def pool(name: str, ns: str, *addresses: str) -> Any:
    return Pool(metadata=ObjectMeta(name=name, namespace=ns), spec={"addresses": list(addresses)})


async def refused(client: AsyncClient, obj: Any) -> str:
    """Create ``obj``; return the apiserver's refusal message (fail if it was accepted)."""
    try:
        await client.create(obj)
    except ApiError as err:
        return err.status.message or ""
    pytest.fail(f"{obj.metadata.name} was accepted")


async def wait_until_enforced(hook: Webhook) -> None:
    """The apiserver learns of a new webhook configuration through an informer."""
    for _ in range(100):
        try:
            await hook.client.create(pool("probe", hook.namespace, "192.0.2.999/32"))
        except ApiError as err:
            if "denied the request" in (err.status.message or ""):
                return
            raise
        await hook.client.delete(Pool, "probe", namespace=hook.namespace)
        await asyncio.sleep(0.1)
    pytest.fail("the webhook configuration never took effect")


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
