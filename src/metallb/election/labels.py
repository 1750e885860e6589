"""Label matching for the election: a structural protocol and a minimal selector.

The election matches node labels against L2Advertisement ``nodeSelectors`` and
``preferredNodeSelectors`` and Service labels against ``serviceSelectors``. It takes any
object with a ``matches(labels)`` method (:class:`LabelMatcher`), so the configuration
package's validated selectors plug in without this package importing it (the layers
contract keeps the two independent). :class:`LabelSelector` is a small implementation of
Kubernetes ``metav1.LabelSelector`` semantics for callers and tests that have no other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class LabelMatcher(Protocol):
    """Anything that can say whether a label set is selected."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True if ``labels`` is selected."""
        ...


class Operator(Enum):
    """``matchExpressions`` operators of a Kubernetes label selector."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes semantics: ``NotIn`` also matches when the key is absent."""
        if self.operator is Operator.EXISTS:
            return self.key in labels
        if self.operator is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        if self.operator is Operator.IN:
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """``matchLabels`` and ``matchExpressions``, ANDed; the empty selector selects all."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    @classmethod
    def of(
        cls, match_labels: Mapping[str, str] | None = None, *expressions: Requirement
    ) -> LabelSelector:
        """Build from a label dict and requirements, in a canonical (sorted) order."""
        return cls(tuple(sorted((match_labels or {}).items())), tuple(expressions))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True if every label pair and every requirement holds."""
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )


def any_matches(selectors: Iterable[LabelMatcher], labels: Mapping[str, str]) -> bool:
    """Selectors in a list are ORed, as in ``nodeSelectors`` and ``serviceSelectors``."""
    return any(s.matches(labels) for s in selectors)
