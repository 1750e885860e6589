"""Label matching for the election.

The election matches node labels against L2Advertisement ``nodeSelectors`` and
``preferredNodeSelectors`` and Service labels against ``serviceSelectors``. It takes any
object with a ``matches(labels)`` method (:class:`LabelMatcher`); in practice that is
:class:`metallb.config.selectors.Selector`, the one selector implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class LabelMatcher(Protocol):
    """Anything that can say whether a label set is selected."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True if ``labels`` is selected."""
        ...


def any_matches(selectors: Iterable[LabelMatcher], labels: Mapping[str, str]) -> bool:
    """Selectors in a list are ORed, as in ``nodeSelectors`` and ``serviceSelectors``."""
    return any(s.matches(labels) for s in selectors)
