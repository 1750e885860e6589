"""What the speaker's Layer 2 election sees of the cluster: Nodes and live members.

:mod:`metallb.k8s.speaker` re-decides Services when a Node or the membership changes.
Done plainly (upstream's "reprocess all"), that re-reads every Service and re-ranks every
node for each, which at 1,000 nodes and 10,000 Services takes seconds per change
(bench/scale.py). This module keeps the two inputs as values that are rebuilt only when
they change (one Node converted per Node event, the member set once per membership
event) and, with the incremental election (:class:`metallb.election.incremental.Elector`),
names the Services whose owner a change moved: the speaker re-decides only those.
"""

from __future__ import annotations

from typing import Any

from metallb import views
from metallb.election import ranking as election
from metallb.election.incremental import Elector
from metallb.k8s.cache import Cache
from metallb.k8s.source import EventType
from metallb.k8s.speaker_support import Members, as_dict


class ElectionWorld:
    """Nodes and members as the election takes them; the elector when incremental."""

    def __init__(
        self,
        nodes: Cache[Any],
        membership: Members | None,
        *,
        incremental: bool,
        ignore_exclude_lb: bool,
    ) -> None:
        self._cache = nodes
        self._membership = membership
        self.elector = Elector(ignore_exclude_lb=ignore_exclude_lb) if incremental else None
        self._by_name: dict[str, election.Node] | None = None
        self._nodes: tuple[election.Node, ...] | None = None
        self._members: frozenset[str] | None = None

    def nodes(self) -> tuple[election.Node, ...]:
        """Every Node object; the same tuple until a Node changes."""
        if self._nodes is None:
            if self._by_name is None:
                converted = (
                    views.Node.from_dict(as_dict(n, "v1", "Node")) for n in self._cache.objects()
                )
                self._by_name = {n.name: n for n in converted}
            self._nodes = tuple(self._by_name.values())
        return self._nodes

    def members(self) -> frozenset[str] | None:
        """The live members (None: membership disabled); the same set until an event."""
        if self._membership is None:
            return None
        if self._members is None:
            self._members = frozenset(r.name for r in self._membership.members())
        return self._members

    def node_changed(self, etype: EventType, key: str) -> None:
        """A Node event: convert that Node only (the others are unchanged)."""
        self._nodes = None
        if self._by_name is None:
            return
        obj = self._cache.get(key)
        name = key.rsplit("/", 1)[-1]
        self._by_name.pop(name, None)
        if obj is not None and etype is not EventType.DELETED:
            node = views.Node.from_dict(as_dict(obj, "v1", "Node"))
            self._by_name[node.name] = node

    def members_changed(self) -> None:
        """A membership event: read the live members again on next use."""
        self._members = None

    def moved(self) -> frozenset[str] | None:
        """The Service keys whose owner the changes so far moved; None means every
        Service must be re-decided (the plain election, without an elector)."""
        if self.elector is None:
            return None
        return self.elector.update(self.nodes(), self.members())
