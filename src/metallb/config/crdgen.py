"""CustomResourceDefinitions generated from the models, so the two cannot drift.

:func:`crds` walks :data:`~metallb.config.kinds.KINDS` and turns each version's
pydantic model into a structural OpenAPI v3 schema: ``$ref`` resolved inline,
optional fields (``X | None``) as plain ``X``, bounds and defaults kept, unknown-field
refusal left to the apiserver's pruning (``additionalProperties: false`` is not
allowed next to ``properties`` in a CRD). The rules upstream states in CEL rather
than in field types are added from :data:`CEL_RULES`. ``tools/gen-crds`` writes the
result to ``deploy/crds/``; a test fails when the files and the models disagree.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from metallb.config.crd_common import GROUP
from metallb.config.kinds import KINDS, KindInfo

Schema = dict[str, Any]

_IMMUTABLE = [{"message": "Value is immutable", "rule": "self == oldSelf"}]

# Rules upstream's CRDs carry as x-kubernetes-validations, keyed by kind, version and
# the dotted path of the schema node they attach to.
CEL_RULES: Mapping[tuple[str, str, str], list[dict[str, str]]] = {
    ("BGPAdvertisement", "v1beta1", "spec"): [
        {
            "message": "serviceSelectors and aggregationLength are mutually exclusive, can "
            "only be used together with default aggregationLength (32) and "
            "aggregationLengthV6 (128)",
            "rule": "!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || "
            "((!has(self.aggregationLength) || self.aggregationLength == 32) && "
            "(!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))",
        }
    ],
    ("BGPPeer", "v1beta2", "spec.connectTime"): [
        {
            "message": "connect time should be between 1 seconds to 65535",
            "rule": "duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535",
        },
        {
            "message": "connect time should contain a whole number of seconds",
            "rule": "duration(self).getMilliseconds() % 1000 == 0",
        },
    ],
    ("BGPPeer", "v1beta2", "spec.enableGracefulRestart"): [
        {
            "message": "EnableGracefulRestart cannot be changed after creation",
            "rule": "self == oldSelf",
        }
    ],
    **{
        (kind, "v1beta1", f"status.{field}"): _IMMUTABLE
        for kind in ("ServiceL2Status", "ServiceBGPStatus")
        for field in ("node", "serviceName", "serviceNamespace")
    },
}

# The defaults upstream's schemas declare (kubebuilder default markers). Other model
# defaults are Go zero values kept for convenience in Python and must not be written
# into stored objects: they would show up in `kubectl get` and change round trips.
SCHEMA_DEFAULTS: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("IPAddressPool", "v1beta1", "spec.autoAssign"),
        ("IPAddressPool", "v1beta1", "spec.avoidBuggyIPs"),
        ("BGPAdvertisement", "v1beta1", "spec.aggregationLength"),
        ("BGPAdvertisement", "v1beta1", "spec.aggregationLengthV6"),
        ("BGPPeer", "v1beta2", "spec.peerPort"),
        ("BGPPeer", "v1beta2", "spec.disableMP"),
        ("BGPPeer", "v1beta2", "spec.dualStackAddressFamily"),
    }
)

# Webhook conversion between the BGPPeer versions, served by the controller.
BGPPEER_CONVERSION: Schema = {
    "strategy": "Webhook",
    "webhook": {
        "conversionReviewVersions": ["v1beta1", "v1beta2"],
        "clientConfig": {
            "service": {
                "namespace": "metallb-system",
                "name": "metallb-webhook-service",
                "path": "/convert",
            }
        },
    },
}

_INT_FORMATS = {(-(2**31), 2**31 - 1): "int32", (-(2**63), 2**63 - 1): "int64"}
_KEEP = (
    "type",
    "format",
    "enum",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "default",
    "description",
    "required",
)


def _resolve(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    while "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _convert(
    node: Schema,
    defs: Mapping[str, Schema],
    path: str,
    rules: Mapping[str, Any],
    defaults: frozenset[str] = frozenset(),
) -> Schema:
    node = _resolve(node, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"{path}: a CRD schema cannot express {node['anyOf']}")
        merged = {**_resolve(options[0], defs), **{k: v for k, v in node.items() if k != "anyOf"}}
        return _convert(merged, defs, path, rules, defaults)
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    out: Schema = {k: copy.deepcopy(node[k]) for k in _KEEP if node.get(k) is not None}
    if path not in defaults:
        out.pop("default", None)
    if "description" in out:
        out["description"] = out["description"].replace("``", "")
    bounds = (out.get("minimum"), out.get("maximum"))
    if out.get("type") == "integer" and bounds in _INT_FORMATS:
        # Say "int32" as controller-gen does rather than spelling out the full range.
        out["format"] = _INT_FORMATS[bounds]
        del out["minimum"], out["maximum"]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        props = node.get("properties") or {}
        if props:
            out["properties"] = {
                name: _convert(sub, defs, f"{path}.{name}" if path else name, rules, defaults)
                for name, sub in props.items()
            }
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not props:
            out["additionalProperties"] = _convert(extra, defs, f"{path}.*", rules, defaults)
        if not props and extra is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "array" and "items" in node:
        out["items"] = _convert(node["items"], defs, f"{path}[]", rules, defaults)
    if path in rules:
        out["x-kubernetes-validations"] = rules[path]
    return out


def openapi_schema(kind: str, version: str, model: type[BaseModel]) -> Schema:
    """The structural schema of one version of one kind."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    rules = {path: r for (k, v, path), r in CEL_RULES.items() if (k, v) == (kind, version)}
    defaults = frozenset(path for k, v, path in SCHEMA_DEFAULTS if (k, v) == (kind, version))
    props = raw.get("properties", {})
    schema: Schema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
        },
    }
    for part in ("spec", "status"):
        if part in props:
            schema["properties"][part] = _convert(props[part], defs, part, rules, defaults)
    if "spec" in raw.get("required", []):
        schema["required"] = ["spec"]
    if raw.get("description"):
        schema["description"] = raw["description"].replace("``", "")
    return schema


def crd(info: KindInfo) -> Schema:
    """The CustomResourceDefinition of one kind."""
    versions = []
    for v in info.versions:
        entry: Schema = {"name": v.name, "served": True, "storage": v.storage}
        if v.deprecation_warning:
            entry["deprecated"] = True
            entry["deprecationWarning"] = v.deprecation_warning
        if info.columns:
            entry["additionalPrinterColumns"] = [
                {
                    "name": c.name,
                    "type": c.type,
                    "jsonPath": c.json_path,
                    **({"priority": c.priority} if c.priority else {}),
                }
                for c in info.columns
            ]
        entry["schema"] = {"openAPIV3Schema": openapi_schema(info.kind, v.name, v.model)}
        if info.has_status_subresource:
            entry["subresources"] = {"status": {}}
        versions.append(entry)
    spec: Schema = {
        "group": GROUP,
        "names": {
            "kind": info.kind,
            "listKind": f"{info.kind}List",
            "plural": info.plural,
            "singular": info.kind.lower(),
        },
        "scope": "Namespaced",
        "versions": versions,
    }
    if len(info.versions) > 1:
        spec["conversion"] = BGPPEER_CONVERSION
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{info.plural}.{GROUP}"},
        "spec": spec,
    }


def crds() -> list[Schema]:
    """Every metallb.io CRD, in a stable order."""
    return [crd(KINDS[k]) for k in sorted(KINDS)]


class _NoAliases(yaml.SafeDumper):
    """Plain YAML without anchors, as people read and diff it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_files() -> dict[str, str]:
    """The files of ``deploy/crds/``: one YAML per CRD plus a kustomization listing them."""
    header = "# Generated by tools/gen-crds from src/metallb/config; do not edit.\n"
    files = {}
    for c in crds():
        name = f"{GROUP}_{c['spec']['names']['plural']}.yaml"
        files[name] = header + yaml.dump(c, Dumper=_NoAliases, sort_keys=False, width=100)
    files["kustomization.yaml"] = header + yaml.dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(n for n in files),
        },
        Dumper=_NoAliases,
        sort_keys=False,
    )
    return files
