"""A ValidatingWebhookConfiguration that sends metallb.io admissions to a local port.

Tests and benchmarks run the webhook server on loopback, outside any Pod, and point the
real apiserver at it by URL rather than through a Service; the rules are those of
upstream's ``config/webhook/manifests.yaml`` (CREATE and UPDATE of each kind, DELETE of
BFDProfiles too), scoped by namespace selector to one namespace.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from lightkube import AsyncClient
from lightkube.models.admissionregistration_v1 import (
    RuleWithOperations,
    ValidatingWebhook,
    WebhookClientConfig,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration

from metallb.config.kinds import KINDS
from metallb.k8s.webhook_setup import api_lister, ensure_serving_certificate
from metallb.web.pki import write_pair
from metallb.web.tls import server_ssl_context
from metallb.web.webhook import VALIDATE_PATHS, add_webhook_routes


def local_configuration(
    name: str,
    port: int,
    *,
    namespace: str,
    ca: bytes | None = None,
    bfd_delete: bool = False,
) -> ValidatingWebhookConfiguration:
    """The configuration; without ``ca`` the caBundle is left for the controller to inject.
    ``bfd_delete`` also routes BFDProfile deletions, as upstream's manifests do."""
    bundle = base64.b64encode(ca).decode() if ca is not None else None
    hooks = [
        ValidatingWebhook(
            name=f"{kind.lower()}validationwebhook.metallb.io",
            admissionReviewVersions=["v1"],
            sideEffects="None",
            failurePolicy="Fail",
            clientConfig=WebhookClientConfig(
                url=f"https://127.0.0.1:{port}{path}", caBundle=bundle
            ),
            namespaceSelector=LabelSelector(matchLabels={"kubernetes.io/metadata.name": namespace}),
            rules=[
                RuleWithOperations(
                    apiGroups=["metallb.io"],
                    apiVersions=[path.split("-")[3]],
                    operations=["CREATE", "UPDATE", "DELETE"]
                    if bfd_delete and kind == "BFDProfile"
                    else ["CREATE", "UPDATE"],
                    resources=[KINDS[kind].plural],
                )
            ],
        )
        for path, kind in VALIDATE_PATHS.items()
    ]
    return ValidatingWebhookConfiguration(metadata=ObjectMeta(name=name), webhooks=hooks)


@asynccontextmanager
async def local_webhook_server(
    client: AsyncClient, namespace: str, workdir: Path, port: int
) -> AsyncIterator[bytes]:
    """Our webhook server on ``127.0.0.1:port`` (native BGP mode), with the certificate
    the controller would store in ``namespace``; yields its CA for the caBundle."""
    ca, tls = await ensure_serving_certificate(
        client,
        namespace=namespace,
        secret_name="metallb-webhook-cert",
        dns_names=(f"metallb-webhook-service.{namespace}.svc",),
        ip_addresses=("127.0.0.1",),
    )
    files = write_pair(workdir, "tls", tls)
    app = web.Application()
    add_webhook_routes(app, api_lister(client, namespace), namespace=namespace, bgp_type="native")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        ssl_ctx = server_ssl_context(files.cert, files.key)
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_ctx).start()
        yield ca
    finally:
        await runner.cleanup()
