"""The validating webhook's decision, as a pure function.

Upstream validates a create or update by rebuilding the configuration from every
existing object of the kinds that matter, with the incoming object in place of its
same-named predecessor, and refusing the request when that configuration does not
build. :func:`admit` does the same through :func:`~metallb.config.build.build_config`,
so the webhook, the controller and ``metallb config validate`` share one set of rules.

Which existing objects take part depends on the kind (upstream's internal/k8s/webhooks):
IPAddressPool sees pools; L2Advertisement sees L2 advertisements and pools;
BGPAdvertisement sees BGP advertisements, pools and Nodes; BGPPeer sees peers and Nodes;
Community sees communities. Cross-object references that can only be satisfied later
(a peer's BFD profile or password Secret, a community alias) are not checked here, as
upstream blanks them, so objects may be applied in any order; the controller and
speaker still report them. BFDProfile is checked for its namespace on create, and its
deletion is refused while a BGPPeer uses it. Other deletions are always allowed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from metallb.config.build import build_config
from metallb.config.build_peers import DISABLE_MP_DEPRECATED
from metallb.config.crd_bgppeer import v1beta1_to_v1beta2
from metallb.config.errors import ConfigError
from metallb.config.types import BGPType

# For each kind under review, the kinds whose existing objects take part.
CONTEXT_KINDS: Mapping[str, tuple[str, ...]] = {
    "IPAddressPool": ("IPAddressPool",),
    "L2Advertisement": ("L2Advertisement", "IPAddressPool"),
    "BGPAdvertisement": ("BGPAdvertisement", "IPAddressPool", "Node"),
    "BGPPeer": ("BGPPeer", "Node"),
    "Community": ("Community",),
    "BFDProfile": (),
}


def needed_kinds(kind: str, operation: str) -> tuple[str, ...]:
    """The kinds whose current objects :func:`admit` needs for this request."""
    if operation == "DELETE":
        return ("BGPPeer",) if kind == "BFDProfile" else ()
    return CONTEXT_KINDS.get(kind, ())


@dataclass(frozen=True)
class Verdict:
    """The webhook's answer: allowed or not, why, and any warnings to show the user."""

    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()


def _meta(obj: Mapping[str, Any] | None) -> tuple[str, str]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping):
        return "", ""
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _blank_runtime_references(kind: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop references upstream's webhook ignores so that apply order does not matter."""
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return obj
    if kind == "BGPPeer":
        spec = {k: v for k, v in spec.items() if k not in ("bfdProfile", "passwordSecret")}
    elif kind == "BGPAdvertisement" and isinstance(spec.get("communities"), list):
        # A value without ':' is an alias of a Community object, resolved at runtime.
        spec = {
            **spec,
            "communities": [c for c in spec["communities"] if not isinstance(c, str) or ":" in c],
        }
    else:
        return obj
    return {**obj, "spec": spec}


def _as_v1beta2(kind: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    if kind == "BGPPeer" and obj.get("apiVersion") == "metallb.io/v1beta1":
        return v1beta1_to_v1beta2(copy.deepcopy(dict(obj)))
    return obj


def _kind_of(obj: Mapping[str, Any]) -> str:
    return str(obj.get("kind") or "")


def admit(
    kind: str,
    operation: str,
    obj: Mapping[str, Any] | None,
    existing: Iterable[Mapping[str, Any]],
    *,
    namespace: str,
    bgp_type: BGPType | str = BGPType.NATIVE,
) -> Verdict:
    """Decide one admission request.

    ``obj`` is the request's object: the new one on CREATE and UPDATE, the old one on
    DELETE. ``existing`` is what the API holds now, objects of any kind; only those
    that matter for ``kind`` are used.
    """
    existing = list(existing)
    if operation == "DELETE":
        return _admit_delete(kind, obj, existing)
    if obj is None:
        return Verdict(False, f"{operation} of {kind} without an object")
    obj = _as_v1beta2(kind, obj)
    ns, name = _meta(obj)
    if kind == "BGPPeer" and operation == "CREATE":
        spec = obj.get("spec")
        if isinstance(spec, Mapping) and spec.get("disableMP") is True:
            # Upstream lets this through at once, with a warning, before any other check
            # (validatePeerCreate's text).
            return Verdict(True, warnings=(DISABLE_MP_DEPRECATED,))
    if operation == "CREATE" and ns != namespace:
        return Verdict(False, f"resource must be created in {namespace} namespace")
    if kind == "BFDProfile":
        return Verdict(True)
    wanted = CONTEXT_KINDS.get(kind)
    if wanted is None:
        return Verdict(True)
    objects: list[Mapping[str, Any]] = []
    for other in existing:
        other_kind = _kind_of(other)
        if other_kind not in wanted:
            continue
        if other_kind == kind and _meta(other) == (ns, name):
            continue  # replaced by the incoming object
        objects.append(_blank_runtime_references(other_kind, _as_v1beta2(other_kind, other)))
    objects.append(_blank_runtime_references(kind, obj))
    try:
        build_config(objects, bgp_type=bgp_type, namespace=namespace)
    except ConfigError as err:
        blocking = [p for p in err.problems if not p.transient]
        if blocking:
            return Verdict(False, str(ConfigError(tuple(blocking))))
    return Verdict(True)


def _admit_delete(
    kind: str, obj: Mapping[str, Any] | None, existing: list[Mapping[str, Any]]
) -> Verdict:
    if kind != "BFDProfile":
        return Verdict(True)
    _, name = _meta(obj)
    users = sorted(
        _meta(p)[1]
        for p in existing
        if _kind_of(p) == "BGPPeer"
        and isinstance(p.get("spec"), Mapping)
        and p["spec"].get("bfdProfile") == name
    )
    if users:
        return Verdict(False, f"failed to delete BFDProfile {name}, used by BGPPeer {users[0]}")
    return Verdict(True)
