"""Layer 2 owner election core: which node answers for which IP. Pure.

:mod:`metallb.election.ranking` holds the election itself: which nodes are candidates,
in which order (upstream ``ShouldAnnounce`` and ``sortL2Candidates``);
:mod:`metallb.election.incremental` keeps its outcome up to date as Nodes and members
change, at scale; :mod:`metallb.election.labels` the label matching it needs.
"""

from metallb.election.labels import LabelMatcher
from metallb.election.ranking import (
    EXCLUDE_LB_LABEL,
    Advertisement,
    Election,
    Endpoint,
    Exclusion,
    Node,
    PreferredNodeSelector,
    Reason,
    Service,
    candidates,
    elect,
    election_key,
    exclusions,
    local_hosts,
    owner,
    preference_scores,
    rank,
    refusal,
)

__all__ = [
    "EXCLUDE_LB_LABEL",
    "Advertisement",
    "Election",
    "Endpoint",
    "Exclusion",
    "LabelMatcher",
    "Node",
    "PreferredNodeSelector",
    "Reason",
    "Service",
    "candidates",
    "elect",
    "election_key",
    "exclusions",
    "local_hosts",
    "owner",
    "preference_scores",
    "rank",
    "refusal",
]
