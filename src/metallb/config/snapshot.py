"""A snapshot of cluster objects, and turning its raw dicts into checked models.

The input is whatever the API or a YAML file gives: plain dicts, possibly of the wrong
shape. :func:`snapshot_from_objects` sorts them by kind (ignoring kinds the configuration
does not use) and :func:`parse_models` validates each metallb.io object against its
model, reporting type and range mistakes as problems instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from metallb.config.crd_bgppeer import v1beta1_to_v1beta2
from metallb.config.crd_common import GROUP, Envelope
from metallb.config.errors import ObjectRef, Problems
from metallb.config.gotext import go_quote
from metallb.config.inventory import CONFIG_KINDS, flatten_lists, used_kind
from metallb.config.kinds import KINDS

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Snapshot:
    """Raw objects by kind, in input order. BGPPeers are all v1beta2 here."""

    objects: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    namespaces: tuple[Any, ...] = ()
    secrets: tuple[Any, ...] = ()
    nodes: tuple[Any, ...] = ()

    def of(self, kind: str) -> tuple[Any, ...]:
        return self.objects.get(kind, ())


def snapshot_from_objects(objects: Iterable[object]) -> Snapshot:
    """Sort objects by kind. Unknown kinds and versions, other groups and non-dicts are
    ignored (legacy ConfigMaps too: :func:`metallb.config.legacy.expand_configmaps` first)."""
    by_kind: dict[str, list[Any]] = {k: [] for k in CONFIG_KINDS}
    core: dict[str, list[Any]] = {"Namespace": [], "Secret": [], "Node": []}
    for obj in flatten_lists(objects):
        kind = used_kind(obj)
        if kind is None or not isinstance(obj, Mapping):
            continue  # classify() says why, for the tools that report it
        if kind in core:
            core[kind].append(obj)
        elif kind == "BGPPeer" and obj.get("apiVersion") == f"{GROUP}/v1beta1":
            by_kind["BGPPeer"].append(v1beta1_to_v1beta2(dict(obj)))
        elif kind in by_kind:
            by_kind[kind].append(obj)
    return Snapshot(
        objects={k: tuple(v) for k, v in by_kind.items()},
        namespaces=tuple(core["Namespace"]),
        secrets=tuple(core["Secret"]),
        nodes=tuple(core["Node"]),
    )


def ref_of(kind: str, raw: object) -> ObjectRef:
    """Name an object even when its metadata is malformed."""
    meta = raw.get("metadata") if isinstance(raw, Mapping) else None
    if not isinstance(meta, Mapping):
        return ObjectRef(kind, "", "")
    name, ns = meta.get("name"), meta.get("namespace")
    return ObjectRef(kind, ns if isinstance(ns, str) else "", name if isinstance(name, str) else "")


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _reason(err: Mapping[str, Any]) -> str:
    kind = err.get("type")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    got = repr(err.get("input"))
    return f"{msg} (got {got[:60]}{'...' if len(got) > 60 else ''})"


def _validate(
    model: type[BaseModel], ref: ObjectRef, raw: Mapping[str, Any], problems: Problems
) -> BaseModel | None:
    """Validate; on failure report, then retry without the bad spec fields.

    The retry lets the semantic checks run on the rest of the object, so one run reports
    a wrong type in one field and a bad CIDR in another. The object is already known to
    be invalid, so nothing built from it can reach a Config.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
    except (ValueError, TypeError, RecursionError) as exc:  # pathological input
        problems.add(ref, "", f"cannot be read: {exc}")
        return None
    for err in errors:
        problems.add(ref, _path(err["loc"]), _reason(err))
    spec = raw.get("spec")
    bad = {e["loc"][1] for e in errors if len(e["loc"]) > 1 and e["loc"][0] == "spec"}
    if not isinstance(spec, Mapping) or len(bad) != len(errors):
        return None
    trimmed = {**raw, "spec": {k: v for k, v in spec.items() if k not in bad}}
    try:
        return model.model_validate(trimmed)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return None


def parse_models(
    kind: str, raws: Iterable[object], problems: Problems, *, namespace: str | None
) -> list[tuple[ObjectRef, Envelope]]:
    """Validate each raw object of ``kind``; bad ones are reported and left out."""
    info = KINDS[kind]
    model = info.versions[-1].model
    out: list[tuple[ObjectRef, Envelope]] = []
    seen: set[tuple[str, str]] = set()
    for raw in raws:
        ref = ref_of(kind, raw)
        if not isinstance(raw, Mapping):
            problems.add(ref, "", "must be an object")
            continue
        # The apiserver drops status on create and update (a status subresource), and
        # `kubectl get -o yaml` or upstream's converter print one: never a mistake.
        body = {k: v for k, v in raw.items() if k != "status"}
        parsed = _validate(model, ref, body, problems)
        if parsed is None:
            continue
        assert isinstance(parsed, Envelope)
        if not ref.name:
            problems.add(ref, "metadata.name", f"missing {kind} name")
            continue
        if namespace and ref.namespace and ref.namespace != namespace:
            reason = f"resource must be created in {namespace} namespace"
            problems.add(ref, "metadata.namespace", reason)
        if (ref.namespace, ref.name) in seen:
            problems.add(
                ref, "metadata.name", f"duplicate definition of {kind} {go_quote(ref.name)}"
            )
            continue
        seen.add((ref.namespace, ref.name))
        out.append((ref, parsed))
    return out


def labels_of(raw: object) -> dict[str, str]:
    """A core object's labels, tolerating junk (junk labels match nothing)."""
    meta = raw.get("metadata") if isinstance(raw, Mapping) else None
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    if not isinstance(labels, Mapping):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def name_of(raw: object) -> str:
    return ref_of("", raw).name
