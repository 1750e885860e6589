"""Problems found in a configuration, and the one error that carries them all.

Every check in this package reports through a :class:`Problems` collector rather than
raising, so that one pass over a snapshot names every mistake at once: a user fixing a
file should not have to run the validator once per typo. :class:`ConfigError` is the
only exception the public functions of the package raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object a problem is about: ``kind`` plus ``namespace/name``."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where or '<unnamed>'}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of one object.

    ``transient`` marks problems upstream only detects when loading the configuration
    (an unknown BFD profile, community alias or password Secret): they may go away once
    the missing object is created, so a webhook lets them through while a controller
    retries.
    """

    ref: ObjectRef
    field: str
    reason: str
    transient: bool = False

    def __str__(self) -> str:
        where = f"{self.ref}: {self.field}" if self.field else str(self.ref)
        return f"{where}: {self.reason}"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every reason, in input order."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.problems)
        head = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


@dataclass
class Problems:
    """Mutable collector used while building; turned into a ConfigError at the end."""

    items: list[Problem] = field(default_factory=list)

    def add(self, ref: ObjectRef, path: str, reason: str, *, transient: bool = False) -> None:
        self.items.append(Problem(ref, path, reason, transient))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(tuple(self.items))
