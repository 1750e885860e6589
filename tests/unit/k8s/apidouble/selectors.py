"""Label and field selectors as the apiserver reads them from ``labelSelector``/``fieldSelector``.

Labels: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``.
Fields: ``path=v``, ``path==v``, ``path!=v`` on a dotted path of the object; an Event's
``source`` is its ``source.component``, as the apiserver's Event field set has it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Test = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*(\S+)\s+(in|notin)\s+\((.*)\)\s*$")
FIELD_ALIASES = {"source": "source.component"}


def _terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [t.strip() for t in [*out, cur] if t.strip()]


def _label_test(term: str) -> Test:
    def labels(o: dict[str, Any]) -> dict[str, str]:
        return dict((o.get("metadata") or {}).get("labels") or {})

    m = _SET.match(term)
    if m:
        key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
        if op == "in":
            return lambda o: labels(o).get(key) in values
        return lambda o: labels(o).get(key) not in values
    for op in ("!=", "==", "="):
        if op in term:
            key, value = (s.strip() for s in term.split(op, 1))
            if op == "!=":
                return lambda o: labels(o).get(key) != value
            return lambda o: labels(o).get(key) == value
    if term.startswith("!"):
        return lambda o: term[1:] not in labels(o)
    return lambda o: term in labels(o)


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in FIELD_ALIASES.get(path, path).split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _field_test(term: str) -> Test:
    for op in ("!=", "==", "="):
        if op in term:
            path, value = (s.strip() for s in term.split(op, 1))
            if op == "!=":
                return lambda o: _field(o, path) != value
            return lambda o: _field(o, path) == value
    raise ValueError(f"field selector {term!r}: an operator is required")


@dataclass(frozen=True)
class Selector:
    """Both selectors of one request; the empty selector matches everything."""

    tests: tuple[Test, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, labels: str = "", fields: str = "") -> Selector:
        return cls(
            tuple(_label_test(t) for t in _terms(labels))
            + tuple(_field_test(t) for t in _terms(fields))
        )

    def matches(self, obj: dict[str, Any]) -> bool:
        return all(t(obj) for t in self.tests)
