"""Which input documents the configuration reads, and why each other one is left out.

``metallb config validate`` must not answer "valid, 0 pools" for a file it ignored: an
empty file, a Helm values file, a GKE cluster file, the removed ``AddressPool`` kind, a
misspelt kind or apiVersion, a ConfigMap under the wrong data key. :func:`classify`
looks at every document (items of a ``kind: List`` included) and says, for each one the
configuration does not read, what it is and what to do instead. It is pure: the same
rules as :func:`metallb.config.snapshot.snapshot_from_objects`, which picks the objects
it reads by the same :func:`used_kind` test.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from metallb.config.crd_common import GROUP
from metallb.config.kinds import KINDS

# The kinds build_config reads; statuses and ConfigurationState are outputs, not inputs.
CONFIG_KINDS = (
    "IPAddressPool",
    "L2Advertisement",
    "BGPAdvertisement",
    "BGPPeer",
    "BFDProfile",
    "Community",
)
# Core kinds that take part: selectors match Namespaces and Nodes, peers read Secrets.
CONTEXT_KINDS = ("Namespace", "Secret", "Node")
# The key upstream's last ConfigMap release read its configuration from.
LEGACY_KEY = "config"
# Top-level keys of the metallb Helm chart's values.yaml (charts/metallb/values.yaml).
_HELM_KEYS = frozenset(
    {
        "controller",
        "speaker",
        "crds",
        "prometheus",
        "frrk8s",
        "rbac",
        "imagePullSecrets",
        "nameOverride",
        "fullnameOverride",
        "loadBalancerClass",
        "configInline",
        "psp",
    }
)
# Keys of a GKE on VMware cluster file (or a fragment of one) that hold MetalLB's part.
_GKE_KEYS = frozenset({"loadBalancer", "metalLB", "addressPools", "nodePools"})
_REMOVED = {
    "AddressPool": "AddressPool was removed in MetalLB v0.14: write an IPAddressPool "
    "(metallb.io/v1beta1) and an L2Advertisement or BGPAdvertisement selecting it",
}
_PLAN_KINDS = {"Service": "v1", "EndpointSlice": "discovery.k8s.io/v1"}
_OUTPUTS = ("ServiceL2Status", "ServiceBGPStatus", "ConfigurationState")


@dataclass(frozen=True)
class Unused:
    """One document the configuration does not read: what it is and why."""

    what: str  # "IPAddressPool metallb-system/x", "document 3", ...
    reason: str
    # Meant for MetalLB but unreadable by it (a removed or misspelt kind, a wrong key, a
    # file of another format): an error, where a Service or a Deployment is just skipped.
    mistake: bool = True

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


def flatten_lists(objects: Iterable[object]) -> list[object]:
    """Documents with each ``kind: List`` (or ``*List``) replaced by its items, as
    ``kubectl get -o yaml`` prints several objects and ``kubectl apply`` reads them."""
    out: list[object] = []
    for obj in objects:
        if isinstance(obj, Mapping) and str(obj.get("kind", "")).endswith("List"):
            items = obj.get("items")
            if isinstance(items, list):
                out.extend(flatten_lists(items))
                continue
        out.append(obj)
    return out


def used_kind(obj: object) -> str | None:
    """The kind under which the configuration reads ``obj``, or None if it does not."""
    if not isinstance(obj, Mapping):
        return None
    kind, api = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str):
        return None
    if api == "v1" and kind in CONTEXT_KINDS:
        return kind
    if kind in CONFIG_KINDS and KINDS[kind].model_for(api) is not None:
        return kind
    if api == "v1" and kind == "ConfigMap" and is_legacy_configmap(obj):
        return "ConfigMap"
    return None


def is_legacy_configmap(obj: Mapping[str, Any]) -> bool:
    data = obj.get("data")
    return isinstance(data, Mapping) and LEGACY_KEY in data


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return "<unnamed>"
    ns, name = meta.get("namespace"), meta.get("name")
    name = name if isinstance(name, str) and name else "<unnamed>"
    return f"{ns}/{name}" if isinstance(ns, str) and ns else name


def _suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` for a near miss, compared without case; else ""."""
    by_lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.75)
    return f" (did you mean {by_lower[hits[0]]}?)" if hits else ""


def _served(kind: str) -> str:
    return ", ".join(f"{GROUP}/{v.name}" for v in KINDS[kind].versions)


def _why_not_metallb(kind: str, api: str, obj: Mapping[str, Any]) -> tuple[str, bool]:
    """Why a document with a kind and an apiVersion is not read, and if it is a mistake."""
    reason = _mistake(kind, api, obj)
    if reason:
        return reason, True
    if kind in _OUTPUTS:
        return f"{kind} is written by MetalLB, not configuration", False
    if kind in _PLAN_KINDS and api == _PLAN_KINDS[kind]:
        return f"not configuration: {kind}s are read by `metallb plan`", False
    if api == "v1" and kind == "ConfigMap":
        return f"not MetalLB configuration (a ConfigMap without data.{LEGACY_KEY})", False
    return f"not MetalLB configuration ({api} {kind})", False


def _mistake(kind: str, api: str, obj: Mapping[str, Any]) -> str:
    """Why a document meant for MetalLB cannot be read by it; "" if it is not one."""
    group = api.rpartition("/")[0]
    if kind in _REMOVED:
        return _REMOVED[kind]
    if kind in _OUTPUTS:
        return ""
    if kind in KINDS and group == GROUP:
        return f"unknown apiVersion {api} for {kind} (served: {_served(kind)})"
    if kind in CONFIG_KINDS:
        hint = _suggest(group, [GROUP])
        return f"{kind} belongs to {GROUP}, not {api!r}{hint}"
    if group == GROUP or _suggest(group, [GROUP]):
        hint = _suggest(kind, [*KINDS, *_REMOVED])
        return f"unknown {GROUP} kind {kind}{hint}" + ("" if group == GROUP else f" in {api!r}")
    if api == "v1" and kind == "ConfigMap":
        data = obj.get("data")
        keys = sorted(str(k) for k in data) if isinstance(data, Mapping) else []
        legacy = [k for k in keys if _looks_legacy(data[k])] if isinstance(data, Mapping) else []
        if legacy:
            return (
                f"data.{legacy[0]} holds legacy MetalLB configuration, but MetalLB reads only "
                f"the key {LEGACY_KEY!r}: rename data.{legacy[0]} to data.{LEGACY_KEY}"
            )
        return ""
    hint = _suggest(kind, [*KINDS, *_REMOVED])
    return f"not a MetalLB object: {api} {kind}{hint}" if hint else ""


def _looks_legacy(text: object) -> bool:
    return isinstance(text, str) and any(
        k in text for k in ("address-pools:", "peers:", "bgp-communities:", "bfd-profiles:")
    )


def _why_no_kind(obj: Mapping[str, Any]) -> tuple[str, bool]:
    keys = {str(k) for k in obj}
    if keys & _GKE_KEYS or str(obj.get("kind", "")) in ("UserCluster", "AdminCluster"):
        return (
            "a GKE cluster file (or part of one), not MetalLB configuration: convert it with "
            "`metallb config convert --from gke -f FILE`"
        ), True
    if keys & _HELM_KEYS:
        return "a Helm values file, not Kubernetes objects: pass it to `helm install -f`", True
    if keys & {"address-pools", "peers", "bgp-communities", "bfd-profiles"}:
        return (
            "the contents of a legacy ConfigMap's data.config, not an object: convert it with "
            "`metallb config convert --from configmap -f FILE`"
        ), True
    missing = " and ".join(k for k in ("apiVersion", "kind") if not isinstance(obj.get(k), str))
    return f"not a Kubernetes object (no {missing})", False


def classify(objects: Iterable[object]) -> tuple[int, list[Unused]]:
    """(number of MetalLB configuration documents, every document left out and why).

    ``objects`` are flattened first; Namespaces, Nodes and Secrets are read (as context)
    but do not count as MetalLB configuration.
    """
    used = 0
    unused: list[Unused] = []
    for i, obj in enumerate(flatten_lists(objects)):
        kind = used_kind(obj)
        if kind is not None:
            used += kind not in CONTEXT_KINDS
            continue
        if not isinstance(obj, Mapping):
            unused.append(Unused(f"document {i + 1}", "not a mapping", mistake=False))
            continue
        k, api = obj.get("kind"), obj.get("apiVersion")
        if isinstance(k, str) and isinstance(api, str) and k not in ("UserCluster", "AdminCluster"):
            reason, mistake = _why_not_metallb(k, api, obj)
            what = f"{k} {_name(obj)}"
        else:
            reason, mistake = _why_no_kind(obj)
            what = f"{k} {_name(obj)}" if isinstance(k, str) else f"document {i + 1}"
        unused.append(Unused(what, reason, mistake))
    return used, unused
