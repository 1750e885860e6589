"""Shared state and small checks used by every builder while one snapshot is parsed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from metallb.config.crd_common import LabelSelector, dump
from metallb.config.errors import ObjectRef, Problems
from metallb.config.gotext import go_quote
from metallb.config.selectors import Selector, duplicate_problems, parse_selector
from metallb.config.snapshot import Snapshot, labels_of, name_of
from metallb.config.types import BGPType


@dataclass
class Context:
    snapshot: Snapshot
    bgp_type: BGPType | None
    problems: Problems = field(default_factory=Problems)
    warnings: list[str] = field(default_factory=list)
    # References to objects absent from the snapshot (a BFD profile, community alias or
    # Secret) as warnings instead of transient problems: ``config validate`` checks files
    # that are one part of what the cluster holds, as upstream's webhook lets them pass.
    missing_refs_warn: bool = False
    secret_passthrough: bool = False  # --frrk8s-secret-passthrough: Secrets not resolved

    def __post_init__(self) -> None:
        self.nodes = [(name_of(n), labels_of(n)) for n in self.snapshot.nodes]
        self.namespaces = [(name_of(n), labels_of(n)) for n in self.snapshot.namespaces]

    def add(self, ref: ObjectRef, path: str, reason: str, *, transient: bool = False) -> None:
        self.problems.add(ref, path, reason, transient=transient)

    def missing_ref(self, ref: ObjectRef, path: str, reason: str) -> bool:
        """Report a reference to an object not in the snapshot; True when it is only a
        warning (the referring object stays usable), False when it is a transient problem."""
        if self.missing_refs_warn:
            self.warnings.append(f"{ref}: {path}: {reason}")
            return True
        self.add(ref, path, reason, transient=True)
        return False

    def selectors(
        self, ref: ObjectRef, path: str, sels: Sequence[LabelSelector] | None, what: str
    ) -> tuple[Selector, ...] | None:
        """Check a selector list (syntax and duplicates); None when any is broken."""
        raws = [dump(s) for s in sels or ()]
        ok = True
        for i, reason in duplicate_problems(raws, what):
            self.add(ref, f"{path}[{i}]", reason)
            ok = False
        out: list[Selector] = []
        for i, raw in enumerate(raws):
            sel, errs = parse_selector(raw)
            for sub, reason in errs:
                self.add(ref, f"{path}[{i}]" + (f".{sub}" if sub else ""), reason)
            if sel is None:
                ok = False
            else:
                out.append(sel)
        return tuple(out) if ok else None

    def unique(
        self,
        ref: ObjectRef,
        path: str,
        values: Sequence[str] | None,
        what: str,
        *,
        reason: str | None = None,
    ) -> bool:
        """Report repeated entries of a string list, as upstream's ``validateDuplicate``.

        ``reason`` replaces upstream's generic ``duplicate definition of <what> "<v>"``
        where upstream words the check differently.
        """
        seen: set[str] = set()
        ok = True
        for i, v in enumerate(values or ()):
            if v in seen:
                self.add(
                    ref, f"{path}[{i}]", reason or f"duplicate definition of {what} {go_quote(v)}"
                )
                ok = False
            seen.add(v)
        return ok

    def matching_nodes(self, selectors: Sequence[Selector]) -> frozenset[str]:
        """Names of snapshot Nodes matching any selector; every node when there are none."""
        if not selectors:
            return frozenset(n for n, _ in self.nodes)
        return frozenset(n for n, labels in self.nodes if any(s.matches(labels) for s in selectors))
