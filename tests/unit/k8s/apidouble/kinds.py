"""The resources the API double serves: a few core kinds, and the metallb.io CRDs of deploy/crds.

Each :class:`Kind` says what the double needs to keep objects as the apiserver does:
where it lives (group, served versions, plural, scope), whether ``status`` is a
subresource (then the main endpoint ignores status and ``/status`` ignores the rest),
whether ``metadata.generation`` is kept (custom resources; core Services and Nodes have
none), and the CRD schema's ``default:`` values, applied on every write as the
apiserver's structural defaulting does. The metallb.io kinds are read from the CRD
manifests the project installs, so a CRD change reaches the double too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CRDS = Path(__file__).resolve().parents[4] / "deploy" / "crds"


@dataclass(frozen=True)
class Kind:
    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # status is a subresource
    generation: bool = False  # metadata.generation counts spec changes
    schema: Mapping[str, Any] = field(default_factory=dict)  # storage version's openAPIV3Schema

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version


CORE = (
    Kind("", ("v1",), "services", "Service", status=True),
    Kind("", ("v1",), "namespaces", "Namespace", namespaced=False, status=True),
    Kind("", ("v1",), "nodes", "Node", namespaced=False, status=True),
    Kind("", ("v1",), "pods", "Pod", status=True),
    Kind("", ("v1",), "secrets", "Secret"),
    Kind("", ("v1",), "events", "Event"),
    Kind("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice"),
)


def crd_kinds(directory: Path = CRDS) -> tuple[Kind, ...]:
    kinds = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        versions = [v for v in spec["versions"] if v.get("served")]
        storage = next(v for v in versions if v.get("storage"))
        kinds.append(
            Kind(
                spec["group"],
                tuple(v["name"] for v in versions),
                spec["names"]["plural"],
                spec["names"]["kind"],
                namespaced=spec["scope"] == "Namespaced",
                status="status" in (storage.get("subresources") or {}),
                generation=True,
                schema=(storage.get("schema") or {}).get("openAPIV3Schema") or {},
            )
        )
    return tuple(kinds)


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` with the schema's ``default:`` filled in where a field is absent
    (structural defaulting: object properties, array items, recursively)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        out = dict(value)
        for name, sub in props.items():
            if name not in out and "default" in sub:
                out[name] = sub["default"]
            if name in out:
                out[name] = apply_defaults(sub, out[name])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value
