"""A ValidatingWebhookConfiguration that sends metallb.io admissions to a local port.

Tests and benchmarks run the webhook server on loopback, outside any Pod, and point the
real apiserver at it by URL rather than through a Service; the rules are those of
upstream's ``config/webhook/manifests.yaml`` (CREATE and UPDATE of each kind, DELETE of
BFDProfiles too), scoped by namespace selector to one namespace.
"""

from __future__ import annotations

import base64

from lightkube.models.admissionregistration_v1 import (
    RuleWithOperations,
    ValidatingWebhook,
    WebhookClientConfig,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration

from metallb.config.kinds import KINDS
from metallb.web.webhook import VALIDATE_PATHS


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
