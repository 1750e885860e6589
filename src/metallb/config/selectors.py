"""Kubernetes label selectors: checking, canonical text and matching.

Pools, advertisements and peers pick namespaces, Services, nodes and pools with
``metav1.LabelSelector`` values. Upstream converts each one with
``LabelSelectorAsSelector`` (which checks operators, values and label syntax) and compares
selectors by their canonical string to find duplicates; this module does the same on
plain dicts, and gives the core a frozen :class:`Selector` that can match label maps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from metallb.config.gotext import go_quote

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_key_error(key: str) -> str | None:
    """Why ``key`` is not a valid label key (``[prefix/]name``), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return f"invalid label key {go_quote(key)}: prefix part must be non-empty"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"invalid label key {go_quote(key)}: prefix must be a DNS subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"invalid label key {go_quote(key)}: name part must be at most 63 alphanumeric "
            "characters, '-', '_' or '.', starting and ending with an alphanumeric"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if value == "" or (len(value) <= 63 and _NAME.match(value)):
        return None
    return (
        f"invalid label value {go_quote(value)}: must be at most 63 alphanumeric characters, "
        "'-', '_' or '.', starting and ending with an alphanumeric"
    )


@dataclass(frozen=True, order=True)
class Requirement:
    """One ``matchExpressions`` entry (or one ``matchLabels`` pair, as ``In [value]``)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """A checked label selector; every requirement must hold (AND). Empty matches all."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def everything(cls) -> Selector:
        return cls(())

    @classmethod
    def of(cls, labels: Mapping[str, str] | None = None, *requirements: Requirement) -> Selector:
        """``matchLabels`` (as ``In [value]``, sorted) followed by ``requirements``."""
        pairs = sorted((labels or {}).items())
        return cls(tuple(Requirement(k, "In", (v,)) for k, v in pairs) + requirements)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _str_list(value: object) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def parse_selector(raw: object) -> tuple[Selector | None, list[tuple[str, str]]]:
    """Check a LabelSelector dict; return the selector (None if broken) and problems.

    Problems are ``(path relative to the selector, reason)`` pairs, so callers can prefix
    the field that holds the selector.
    """
    problems: list[tuple[str, str]] = []
    if raw is None:
        return Selector.everything(), problems
    if not isinstance(raw, Mapping):
        return None, [("", "must be a label selector object")]
    reqs: list[Requirement] = []
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        problems.append(("matchLabels", "must be a map of strings"))
        labels = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append((f"matchLabels[{go_quote(key)}]", "keys and values must be strings"))
            continue
        for err in (label_key_error(key), label_value_error(value)):
            if err:
                problems.append((f"matchLabels[{go_quote(key)}]", err))
        reqs.append(Requirement(key, "In", (value,)))
    exprs = raw.get("matchExpressions") or []
    if not isinstance(exprs, list):
        problems.append(("matchExpressions", "must be a list"))
        exprs = []
    for i, expr in enumerate(exprs):
        path = f"matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            problems.append((path, "must be an object with key, operator and values"))
            continue
        key, op, values = expr.get("key"), expr.get("operator"), _str_list(expr.get("values"))
        if not isinstance(key, str):
            problems.append((f"{path}.key", "must be a string"))
            continue
        if (err := label_key_error(key)) is not None:
            problems.append((f"{path}.key", err))
        if op not in OPERATORS:
            problems.append(
                (f"{path}.operator", f"{go_quote(op)} is not a valid label selector operator")
            )
            continue
        if values is None:
            problems.append((f"{path}.values", "must be a list of strings"))
            continue
        if op in ("In", "NotIn") and not values:
            problems.append((f"{path}.values", "values must not be empty for In and NotIn"))
        if op in ("Exists", "DoesNotExist") and values:
            problems.append((f"{path}.values", "values must be empty for Exists and DoesNotExist"))
        for v in values:
            if (err := label_value_error(v)) is not None:
                problems.append((f"{path}.values", err))
        assert isinstance(op, str)
        reqs.append(Requirement(key, op, tuple(sorted(set(values)))))
    if problems:
        return None, problems
    # Kubernetes sorts requirements by key, which gives every selector one canonical text.
    return Selector(tuple(sorted(reqs))), problems


def canonical_text(raw: object) -> str:
    """Text used to detect duplicate selectors: equal for selectors that mean the same."""
    sel, _ = parse_selector(raw)
    return repr(raw) if sel is None else str(sel)


def duplicate_problems(raws: Iterable[object], what: str) -> list[tuple[int, str]]:
    """Duplicate selectors in one list, and duplicate expressions or values inside each.

    Returns ``(index, reason)`` pairs; mirrors upstream's ``validateLabelSelectorDuplicate``
    (``what`` names the list, e.g. ``nodeSelectors``, as upstream's ``labelSelectorType``).
    """
    out: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raws):
        if isinstance(raw, Mapping):
            exprs = raw.get("matchExpressions")
            texts: set[str] = set()
            for expr in exprs if isinstance(exprs, list) else []:
                if not isinstance(expr, Mapping):
                    continue
                vals = expr.get("values")
                if isinstance(vals, list) and len({repr(v) for v in vals}) != len(vals):
                    # Upstream sorts the values, then names the first one repeated.
                    reprs = [repr(v) for v in vals]
                    dup = min(
                        str(v) for v, r in zip(vals, reprs, strict=True) if reprs.count(r) > 1
                    )
                    out.append(
                        (
                            i,
                            "duplicate definition of match expression value in label selector "
                            + go_quote(dup),
                        )
                    )
                sig = repr((expr.get("key"), expr.get("operator"), sorted(map(str, vals or []))))
                if sig in texts:
                    out.append((i, "duplicate definition of match expressions"))
                texts.add(sig)
        text = canonical_text(raw)
        if text in seen:
            out.append(
                (
                    i,
                    f"duplicate definition of {what}: duplicate of selector #{seen[text]} "
                    f"({text or 'everything'})",
                )
            )
        else:
            seen[text] = i
    return out
