"""Tokens the lab and the tests hand out: ServiceAccount tokens and a metrics reader.

MetalLB's metrics need a bearer token that Kubernetes authorizes for ``get`` on
``/metrics`` (:mod:`metallb.web.metrics_auth`). :func:`metrics_reader_token` gives one
the way an operator gives Prometheus one: a ServiceAccount, a ClusterRole on the
non-resource URL and a binding (created once, kept), then a token from the
TokenRequest API.
"""

from __future__ import annotations

from lightkube import ApiError, Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

READER = "metallb-metrics-reader"


def service_account_token(kube: Client, sa: str, namespace: str, seconds: int = 86400) -> str:
    """A token of ServiceAccount ``namespace/sa`` from the TokenRequest API."""
    req = kube.create(
        ServiceAccount.Token(
            metadata=ObjectMeta(name=sa, namespace=namespace),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=seconds),
        ),
        sa,
        namespace=namespace,
    )
    token = req.status.token if req.status else None
    if not token:
        raise RuntimeError(f"TokenRequest for {namespace}/{sa} returned no token")
    return str(token)


def _create(kube: Client, obj: object) -> None:
    try:
        kube.create(obj)  # type: ignore[call-overload]
    except ApiError as err:
        if err.status.code != 409:  # made by an earlier call: kept
            raise


def metrics_reader_token(kube: Client, namespace: str) -> str:
    """A token allowed to read ``/metrics`` (and nothing else), of the ServiceAccount
    ``metallb-metrics-reader`` in ``namespace``."""
    _create(kube, ServiceAccount(metadata=ObjectMeta(name=READER, namespace=namespace)))
    _create(
        kube,
        ClusterRole(
            metadata=ObjectMeta(name=READER),
            rules=[PolicyRule(nonResourceURLs=["/metrics"], verbs=["get"])],
        ),
    )
    _create(
        kube,
        ClusterRoleBinding(
            metadata=ObjectMeta(name=f"{READER}-{namespace}"),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=READER),
            subjects=[Subject(kind="ServiceAccount", name=READER, namespace=namespace)],
        ),
    )
    return service_account_token(kube, READER, namespace)
