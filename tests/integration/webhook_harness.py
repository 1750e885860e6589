"""The admission webhook served from the test's event loop, behind the real apiserver.

The server gets a certificate issued and stored by ``ensure_serving_certificate``; a
ValidatingWebhookConfiguration scoped to the test's namespace points the apiserver at it,
with the CA injected by ``inject_ca_bundle``. The ``webhook`` fixture
(``tests/integration/conftest.py``) yields a :class:`Webhook`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration

from metallb.k8s.webhook_setup import inject_ca_bundle
from metallb.lab.controlplane import ControlPlane
from metallb.lab.ports import free_port
from metallb.lab.webhooks import local_configuration, local_webhook_server

Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")


class Webhook:
    """A running webhook server and the configuration that routes to it."""

    def __init__(self, client: AsyncClient, namespace: str, port: int, ca: bytes) -> None:
        self.client, self.namespace, self.port, self.ca = client, namespace, port, ca
        self.name = f"metallb-webhook-{namespace}"
        self.url = f"https://127.0.0.1:{port}"


@asynccontextmanager
async def serve_webhook(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> AsyncIterator[Webhook]:
    client = AsyncClient(config=KubeConfig.from_file(str(control_plane.kubeconfig)))
    port = free_port()
    async with local_webhook_server(client, namespace, tmp_path, port) as ca:
        hook = Webhook(client, namespace, port, ca)
        await client.create(
            local_configuration(hook.name, port, namespace=namespace, bfd_delete=True)
        )
        await inject_ca_bundle(client, ca, configuration=hook.name, crd=None)
        try:
            yield hook
        finally:
            await client.delete(ValidatingWebhookConfiguration, hook.name)
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
