"""The Layer 2 election kept up to date across membership and Node changes. Pure.

:func:`metallb.election.ranking.elect` ranks every candidate of a Service: one SHA-256
per node, so a speaker re-electing 10,000 Services over 1,000 nodes after one membership
change hashes ten million times. Only the owner matters to a speaker (it announces or
not), and one change moves few owners. :class:`Elector` remembers, per Service key, the
election's node-independent part and the owner with its rank key ``(-score, hash)``;
when the world (Nodes, live members) changes it re-ranks only what the change can move:

* a node ``d`` that changed (joined, left, relabelled, became unavailable) can only take
  a Service if it is now eligible and ranks before the owner: one eligibility check and
  at most one hash per Service and changed node;
* only when the owner itself changed is the whole candidate set ranked again.

This relies on a node's rank key depending only on that node (its labels give its score;
its name and the Service IP its hash), so a node that did not change keeps its place.
The outcome (owner and reason) is the same as :func:`~metallb.election.ranking.elect`'s;
tests/unit/election/test_incremental.py checks it over random clusters and changes.
:meth:`Elector.update` returns the keys whose owner moved, so the speaker re-decides
those Services only. A cached Service whose inputs changed is recomputed on its next
:meth:`Elector.elect`, so a stale entry can cost an extra re-decision, never a wrong one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from metallb.election.ranking import (
    EXCLUDE_LB_LABEL,
    Advertisement,
    Node,
    Reason,
    Service,
    applicable_advertisements,
    go_ip_string,
    local_hosts,
    refusal,
)

RankKey = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`~metallb.election.ranking.elect` decides, without the full ranking."""

    owner: str | None
    reason: Reason | None  # None: the node asked about announces


@dataclass(slots=True)
class _Entry:
    """One Service's cached election: its inputs, their node-independent part, its owner."""

    service: Service
    advertisements: tuple[Advertisement, ...]
    ads: tuple[Advertisement, ...]  # those that apply to the Service
    refused: Reason | None  # no endpoint / shared IP with service selectors: nobody wins
    ip_text: str
    hosting: frozenset[str | None] | None  # Local policy: nodes with a serving endpoint
    owner: str | None = None
    owner_key: RankKey | None = None


class Elector:
    """Per-Service owners over one world of Nodes and members (see the module docstring).

    ``members`` None means membership is disabled: every Node counts as live.
    """

    def __init__(self, *, ignore_exclude_lb: bool = False) -> None:
        self.ignore_exclude_lb = ignore_exclude_lb
        self._nodes: dict[str, Node] = {}
        self._live: frozenset[str] = frozenset()
        self._source: tuple[object, object] | None = None  # the last inputs, by identity
        self._entries: dict[str, _Entry] = {}

    # -- the world -------------------------------------------------------------------------

    def update(self, nodes: Iterable[Node], members: Collection[str] | None) -> frozenset[str]:
        """Make ``nodes`` and ``members`` the world; return the keys whose owner moved.

        Passing the very objects of the previous call is free, so callers may call this
        before every election with their cached values.
        """
        if self._source is not None and self._source[0] is nodes and self._source[1] is members:
            return frozenset()
        self._source = (nodes, members)
        new_nodes = {node.name: node for node in nodes}
        new_live = frozenset(new_nodes if members is None else members)
        changed = {
            name
            for name in self._nodes.keys() | new_nodes.keys()
            if self._nodes.get(name) != new_nodes.get(name)
        }
        changed |= self._live ^ new_live
        self._nodes, self._live = new_nodes, new_live
        if not changed:
            return frozenset()
        moved = set()
        for key, entry in self._entries.items():
            if entry.refused is not None:
                continue
            before = entry.owner
            if before is not None and before in changed:
                self._rank_all(entry)
            else:
                for name in changed:
                    self._consider(entry, name)
            if entry.owner != before:
                moved.add(key)
        return frozenset(moved)

    # -- elections -------------------------------------------------------------------------

    def elect(
        self, key: str, my_node: str, service: Service, advertisements: Iterable[Advertisement]
    ) -> Outcome:
        """Whether ``my_node`` announces ``service`` (stored under ``key``) in this world."""
        ads = tuple(advertisements)
        entry = self._entries.get(key)
        if entry is None or entry.service != service or entry.advertisements != ads:
            entry = self._entry(service, ads)
            self._entries[key] = entry
        if entry.refused is not None:
            return Outcome(None, entry.refused)
        # The order of upstream's ShouldAnnounce: not selected wins over "no candidates".
        me = self._nodes.get(my_node)
        if me is None or not any(ad.selects_node(me) for ad in entry.ads):
            return Outcome(entry.owner, Reason.NO_MATCHING_ADVERTISEMENT)
        if entry.owner is None:
            return Outcome(None, Reason.NO_CANDIDATES)
        return Outcome(entry.owner, None if entry.owner == my_node else Reason.NOT_OWNER)

    def forget(self, key: str) -> None:
        """Drop a Service that no longer takes part in the Layer 2 election."""
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    # -- internals -------------------------------------------------------------------------

    def _entry(self, service: Service, advertisements: tuple[Advertisement, ...]) -> _Entry:
        ads = applicable_advertisements(service, advertisements)
        refused = refusal(service, ads)
        if refused is Reason.NO_ACTIVE_ENDPOINT:
            ads = ()
        hosting = local_hosts(service)
        entry = _Entry(service, advertisements, ads, refused, go_ip_string(service.ip), hosting)
        if refused is None:
            self._rank_all(entry)
        return entry

    def _eligible(self, entry: _Entry, name: str) -> Node | None:
        """The node if it is a candidate for ``entry`` (as layer2.candidates decides).

        The rules of :func:`~metallb.election.ranking.exclusions`, inlined: this runs once
        per live member on every full ranking, where walking the generator cost a fifth
        more; tests/unit/election/test_incremental.py holds the two to the same answers.
        """
        node = self._nodes.get(name)
        if node is None or name not in self._live or node.network_unavailable:
            return None
        if not self.ignore_exclude_lb and EXCLUDE_LB_LABEL in node.labels:
            return None
        if entry.hosting is not None and name not in entry.hosting:
            return None
        return node if any(ad.selects_node(node) for ad in entry.ads) else None

    def _rank_key(self, entry: _Entry, node: Node) -> RankKey:
        score = sum(ad.preference(node) for ad in entry.ads)
        digest = hashlib.sha256(f"{node.name}#{entry.ip_text}".encode()).digest()
        return (-score, digest)

    def _consider(self, entry: _Entry, name: str) -> None:
        """Let ``name`` take ``entry`` if it is a candidate ranking before the owner."""
        node = self._eligible(entry, name)
        if node is None:
            return
        rank_key = self._rank_key(entry, node)
        if entry.owner_key is None or rank_key < entry.owner_key:
            entry.owner, entry.owner_key = name, rank_key

    def _rank_all(self, entry: _Entry) -> None:
        """Rank every candidate: :meth:`_consider` over the live members, inlined with
        the hash prefix hoisted, since a Service's first election pays it N times."""
        entry.owner = entry.owner_key = None
        if any(ad.preferred for ad in entry.ads):
            for name in self._live:
                self._consider(entry, name)
            return
        # No preferences: every score is 0, so the hash alone ranks.
        best: str | None = None
        best_hash = b""
        suffix = f"#{entry.ip_text}".encode()
        sha256, eligible = hashlib.sha256, self._eligible
        for name in self._live:
            if eligible(entry, name) is None:
                continue
            digest = sha256(name.encode() + suffix).digest()
            if best is None or digest < best_hash:
                best, best_hash = name, digest
        if best is not None:
            entry.owner, entry.owner_key = best, (0, best_hash)
