"""The shape of the core objects ``plan`` reads (Services, Nodes, Namespaces,
EndpointSlices), checked before anything reads them.

Objects from the API always have these shapes; files people write may not (``spec: []``,
``ports: "80"``, ``labels: [a]``). The apiserver would refuse such an object on create;
``plan`` reports it the same way, naming the object and the field, instead of failing
deep inside the allocator. Only the fields the controller and speakers read are
checked, and only when present: a missing or null field is the API's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from metallb.config.errors import ObjectRef, Problem

# A shape: a Python type, a mapping of field shapes, a one-element list (every item has
# that shape), or STRMAP (string keys to string values, as labels).
STRMAP = "map of strings"
_META: dict[str, Any] = {
    "name": str,
    "namespace": str,
    "labels": STRMAP,
    "annotations": STRMAP,
}
SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("v1", "Service"): {
        "metadata": _META,
        "spec": {
            "type": str,
            "clusterIP": str,
            "clusterIPs": [str],
            "ipFamilies": [str],
            "ipFamilyPolicy": str,
            "ports": [{"port": int, "protocol": str, "name": str}],
            "loadBalancerClass": str,
            "loadBalancerIP": str,
            "externalTrafficPolicy": str,
            "selector": STRMAP,
        },
        "status": {"loadBalancer": {"ingress": [{"ip": str}]}},
    },
    ("v1", "Node"): {
        "metadata": _META,
        "status": {"conditions": [{"type": str, "status": str}]},
    },
    ("v1", "Namespace"): {"metadata": _META},
    ("discovery.k8s.io/v1", "EndpointSlice"): {
        "metadata": _META,
        "endpoints": [
            {
                "nodeName": str,
                "addresses": [str],
                "conditions": {"ready": bool, "serving": bool},
            }
        ],
    },
}
_NAMES = {str: "a string", int: "an integer", bool: "a boolean"}


def _check(value: object, shape: Any, path: str, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if shape == STRMAP:
        ok = isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
        if not ok:
            out.append((path, "must be a map of strings to strings"))
    elif isinstance(shape, dict):
        if not isinstance(value, Mapping):
            out.append((path, "must be an object"))
            return
        for key, sub in shape.items():
            _check(value.get(key), sub, f"{path}.{key}" if path else key, out)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            out.append((path, "must be a list"))
            return
        for i, item in enumerate(value):
            _check(item, shape[0], f"{path}[{i}]", out)
    elif not isinstance(value, shape) or (shape is int and isinstance(value, bool)):
        out.append((path, f"must be {_NAMES[shape]}"))


def shape_problems(objects: Iterable[object]) -> list[Problem]:
    """A problem for each malformed field of each Service, Node, Namespace and
    EndpointSlice in ``objects``."""
    problems: list[Problem] = []
    for obj in objects:
        if not isinstance(obj, Mapping):
            continue
        kind = str(obj.get("kind"))
        shape = SHAPES.get((str(obj.get("apiVersion")), kind))
        if shape is None:
            continue
        found: list[tuple[str, str]] = []
        _check(obj, shape, "", found)
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        name, ns = meta.get("name"), meta.get("namespace")
        ref = ObjectRef(
            kind,
            ns if isinstance(ns, str) else "",
            name if isinstance(name, str) else "",
        )
        problems.extend(Problem(ref, path, reason) for path, reason in found)
    return problems
