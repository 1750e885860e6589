"""Shared pieces of the metallb.io models: the strict base class, metadata, selectors.

The models describe the API exactly as upstream's Go types and kubebuilder markers do:
the camelCase field names are the aliases, Python names are snake_case; defaults,
enums and ``ge``/``le`` bounds live in the field definitions so a CRD generator can read
them from ``Model.model_fields``. Models are strict (a string is not an integer, as in
the apiserver) and reject unknown spec fields, so a typo is reported, not ignored.
Anything kind-independent that a CRD needs (group, plural, printer columns) is in
:mod:`metallb.config.kinds`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

GROUP = "metallb.io"

UInt32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class Strict(BaseModel):
    """Base of every spec/status model: strict types, unknown fields refused, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, validate_by_name=False)


class Lenient(BaseModel):
    """Base for envelope parts (metadata, top level) that carry fields we don't model."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, validate_by_name=False)


class ObjectMeta(Lenient):
    """The subset of ``metav1.ObjectMeta`` the configuration reads."""

    name: str = ""
    namespace: str = ""
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class LabelSelectorRequirement(Strict):
    """``metav1.LabelSelectorRequirement``; the operator is checked when the selector is used."""

    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(Strict):
    """``metav1.LabelSelector``: matchLabels AND matchExpressions; empty selects everything."""

    match_labels: dict[str, str] | None = Field(default=None, alias="matchLabels")
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, alias="matchExpressions"
    )


class SecretReference(Strict):
    """``corev1.SecretReference``."""

    name: str | None = None
    namespace: str | None = None


class EmptyStatus(Strict):
    """Status of kinds that have none; tolerates whatever a server put there."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class Envelope(Lenient):
    """Common top level: apiVersion, kind, metadata. Subclasses add spec and status."""

    api_version: str = Field(default="", alias="apiVersion")
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)


def dump(model: BaseModel) -> dict[str, Any]:
    """The object as the API would serialise it: camelCase, unset optionals omitted."""
    return model.model_dump(by_alias=True, exclude_none=True)
