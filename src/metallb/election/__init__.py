"""Layer 2 owner election core: which node answers for which IP. Pure.

:mod:`metallb.election.layer2` holds the election itself (upstream ``ShouldAnnounce`` and
``sortL2Candidates``); :mod:`metallb.election.labels` the label matching it needs.
"""

from metallb.election.labels import LabelMatcher
from metallb.election.layer2 import (
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
