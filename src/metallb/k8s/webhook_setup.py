"""Everything the webhook needs from the API: its certificate, its caBundle, its lister.

- The serving certificate and its CA live in a Secret (upstream's
  ``metallb-webhook-cert``, keys ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``), so a
  restarted controller keeps serving with the CA the apiserver already trusts. A
  certificate that is missing, not signed by the stored CA, close to expiry or lacking a
  required name is issued again; the CA is replaced only when it is itself unusable.
- The CA goes into the ``caBundle`` of every webhook of the
  ValidatingWebhookConfiguration and of the BGPPeer CRD's conversion webhook.
- The lister reads the API directly (no cache), as upstream's webhook does.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Node, Secret
from lightkube.types import PatchType

from metallb.config.kinds import KINDS
from metallb.web.pki import CertificateAuthority, PemPair, subject_names
from metallb.web.webhook import ListExisting

log = logging.getLogger(__name__)

WEBHOOK_CONFIGURATION = "metallb-webhook-configuration"
BGPPEER_CRD = "bgppeers.metallb.io"
# Renew when less than this is left, so a certificate never expires while served.
RENEW_BEFORE = dt.timedelta(days=30)
CA_VALIDITY = dt.timedelta(days=3650)
CERT_VALIDITY = dt.timedelta(days=365)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _secret_pairs(secret: Secret | None) -> tuple[PemPair | None, PemPair | None]:
    data = (secret.data or {}) if secret is not None else {}
    try:
        raw = {k: base64.b64decode(v) for k, v in data.items()}
    except ValueError:
        return None, None
    ca = PemPair(raw["ca.crt"], raw["ca.key"]) if {"ca.crt", "ca.key"} <= raw.keys() else None
    tls = PemPair(raw["tls.crt"], raw["tls.key"]) if {"tls.crt", "tls.key"} <= raw.keys() else None
    return ca, tls


def _usable(
    ca: CertificateAuthority, pair: PemPair, names: Sequence[str], now: dt.datetime
) -> bool:
    return (
        ca.signed(pair)
        and pair.not_after - now > RENEW_BEFORE
        and set(names) <= subject_names(pair)
    )


async def ensure_serving_certificate(
    client: AsyncClient,
    *,
    namespace: str,
    secret_name: str,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
) -> tuple[bytes, PemPair]:
    """Return (CA certificate PEM, serving pair), issuing and storing them if needed."""
    now = dt.datetime.now(dt.UTC)
    try:
        secret: Secret | None = await client.get(Secret, secret_name, namespace=namespace)
    except ApiError as err:
        if err.status.code != 404:
            raise
        secret = None
    ca_pem, tls = _secret_pairs(secret)
    ca: CertificateAuthority | None = None
    if ca_pem is not None:
        try:
            ca = CertificateAuthority.load(ca_pem)
            if ca_pem.not_after - now <= RENEW_BEFORE:
                ca = None
        except ValueError:
            ca = None
    names = [*dns_names, *ip_addresses]
    if ca is not None and tls is not None and _usable(ca, tls, names, now):
        return ca.pem.cert, tls
    if ca is None:
        log.info("webhook: creating a new CA in Secret %s/%s", namespace, secret_name)
        ca = CertificateAuthority.create("cert", organizations=("metallb",), validity=CA_VALIDITY)
    tls = ca.issue(
        dns_names[0] if dns_names else "metallb-webhook",
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ip_addresses),
        server=True,
        validity=CERT_VALIDITY,
    )
    data = {
        "ca.crt": _b64(ca.pem.cert),
        "ca.key": _b64(ca.pem.key),
        "tls.crt": _b64(tls.cert),
        "tls.key": _b64(tls.key),
    }
    if secret is None:
        await client.create(
            Secret(metadata=ObjectMeta(name=secret_name, namespace=namespace), data=data)
        )
    else:
        await client.patch(
            Secret, secret_name, {"data": data}, namespace=namespace, patch_type=PatchType.MERGE
        )
    log.info("webhook: issued a serving certificate for %s", ", ".join(names))
    return ca.pem.cert, tls


async def inject_ca_bundle(
    client: AsyncClient,
    ca_cert: bytes,
    *,
    configuration: str = WEBHOOK_CONFIGURATION,
    crd: str | None = BGPPEER_CRD,
) -> None:
    """Put the CA into every webhook of ``configuration`` and the CRD's conversion webhook.

    Writes only what differs, so a restart does not churn the objects.
    """
    bundle = _b64(ca_cert)
    vwc = await client.get(ValidatingWebhookConfiguration, configuration)
    patch = [
        {
            "op": "replace" if hook.clientConfig.caBundle else "add",
            "path": f"/webhooks/{i}/clientConfig/caBundle",
            "value": bundle,
        }
        for i, hook in enumerate(vwc.webhooks or [])
        if hook.clientConfig.caBundle != bundle
    ]
    if patch:
        await client.patch(
            ValidatingWebhookConfiguration, configuration, patch, patch_type=PatchType.JSON
        )
    if crd is None:
        return
    obj = await client.get(CustomResourceDefinition, crd)
    conv = obj.spec.conversion
    if conv is None or conv.webhook is None or conv.webhook.clientConfig is None:
        return
    if conv.webhook.clientConfig.caBundle != bundle:
        await client.patch(
            CustomResourceDefinition,
            crd,
            {"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": bundle}}}}},
            patch_type=PatchType.MERGE,
        )


def api_lister(client: AsyncClient, namespace: str) -> ListExisting:
    """List metallb.io objects of the MetalLB namespace, and Nodes, straight from the API."""
    resources = {
        kind: create_namespaced_resource("metallb.io", info.versions[-1].name, kind, info.plural)
        for kind, info in KINDS.items()
    }

    async def lister(kinds: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind in kinds:
            if kind == "Node":
                async for node in client.list(Node):
                    out.append({"apiVersion": "v1", "kind": "Node", **node.to_dict()})
                continue
            res = resources[kind]
            async for obj in client.list(res, namespace=namespace):
                body: dict[str, Any] = obj.to_dict()  # type: ignore[no-untyped-call]
                out.append(
                    {
                        "apiVersion": f"metallb.io/{KINDS[kind].versions[-1].name}",
                        "kind": kind,
                        **body,
                    }
                )
        return out

    return lister
