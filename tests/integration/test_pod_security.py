"""Pod Security Standards, checked by the real apiserver's PodSecurity admission.

The controller's Pod (from `kubectl apply -k deploy` and from the chart) must be
admitted in a namespace that enforces ``restricted``; the speaker's needs the host
network and NET_RAW/NET_ADMIN, which no level below ``privileged`` allows, so it must be
refused in a ``baseline`` namespace (for those reasons) and admitted in metallb-system,
whose labels (deploy/namespace.yaml) say ``privileged`` as upstream's do. Each Pod is a
server-side dry run of the workload's template: nothing is scheduled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod

from tests.conftest import REPO
from tests.integration.test_deploy import helm_template, kustomize

pytestmark = pytest.mark.controlplane


@pytest.fixture
def namespaces(kube: Client) -> Iterator[dict[str, str]]:
    """One namespace per level, each enforcing it: level -> namespace name."""
    made = {}
    for level in ("restricted", "baseline"):
        name = f"psa-{level}-{uuid.uuid4().hex[:6]}"
        labels = {f"pod-security.kubernetes.io/{m}": level for m in ("enforce", "warn")}
        kube.create(Namespace(metadata=ObjectMeta(name=name, labels=labels)))
        made[level] = name
    yield made
    for name in made.values():
        kube.delete(Namespace, name)


def pod_of(objs: list[dict[str, Any]], kind: str, namespace: str) -> Pod:
    """A Pod built from the ``kind`` workload's template, in ``namespace``."""
    work = next(o for o in objs if o["kind"] == kind)
    template = work["spec"]["template"]
    meta = {"name": f"{kind.lower()}-{uuid.uuid4().hex[:6]}", "namespace": namespace}
    pod = Pod.from_dict({"metadata": meta, "spec": template["spec"]})
    assert isinstance(pod, Pod)
    return pod


def rendered(install: str) -> list[dict[str, Any]]:
    return kustomize() if install == "kustomize" else helm_template()


def admit(kube: Client, pod: Pod) -> str | None:
    """None when the apiserver would admit ``pod``, else its refusal."""
    try:
        kube.create(pod, dry_run=True)
    except ApiError as err:
        return str(err.status.message)
    return None


@pytest.mark.parametrize("install", ["kustomize", "helm"])
def test_controller_passes_restricted(
    kube: Client, namespaces: dict[str, str], install: str
) -> None:
    objs = rendered(install)
    refusal = admit(kube, pod_of(objs, "Deployment", namespaces["restricted"]))
    assert refusal is None, refusal


@pytest.mark.parametrize("install", ["kustomize", "helm"])
def test_speaker_needs_privileged_and_says_why_elsewhere(
    kube: Client, namespaces: dict[str, str], install: str
) -> None:
    objs = rendered(install)
    refusal = admit(kube, pod_of(objs, "DaemonSet", namespaces["baseline"]))
    assert refusal is not None
    assert "violates PodSecurity" in refusal
    assert "host namespaces" in refusal  # hostNetwork
    assert "NET_ADMIN" in refusal  # NET_RAW alone is in baseline's list
    # metallb-system as installed: privileged, as upstream labels it.
    ns = next(o for o in objs if o["kind"] == "Namespace") if install == "kustomize" else None
    if ns is not None:
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_metallb_system_is_labelled_privileged_as_upstream() -> None:
    text = (REPO / "deploy" / "namespace.yaml").read_text()
    for mode in ("enforce", "audit", "warn"):
        assert f"pod-security.kubernetes.io/{mode}: privileged" in text
