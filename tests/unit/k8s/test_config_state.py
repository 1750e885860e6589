"""ConfigurationState's status and owner, as values (the writes are tested on the apiserver
in tests/integration/controller/test_events.py)."""

from __future__ import annotations

from typing import Any

from lightkube.models.meta_v1 import OwnerReference

from metallb.k8s.config_state import StateOwner, status_body
from metallb.k8s.owner import upsert_owner

T0 = 1_800_000_000.0
CTL = StateOwner.controller()


def transition_time(status: dict[str, Any]) -> str:
    (cond,) = status["conditions"]
    return str(cond["lastTransitionTime"])


def test_the_transition_time_moves_only_with_the_status() -> None:
    valid = status_body(CTL, None, None, T0)
    assert transition_time(valid) == "2027-01-15T08:00:00Z"
    assert status_body(CTL, None, valid, T0 + 60) == valid
    invalid = status_body(CTL, "pool a overlaps b", valid, T0 + 60)
    assert transition_time(invalid) == "2027-01-15T08:01:00Z"
    assert invalid["result"] == "Invalid"
    # Still invalid, another reason: the message changes, the time does not.
    other = status_body(CTL, "pool c is empty", invalid, T0 + 120)
    assert transition_time(other) == transition_time(invalid)
    assert other["errorSummary"] == "configuration error: pool c is empty"
    assert transition_time(status_body(CTL, None, other, T0 + 180)) == "2027-01-15T08:03:00Z"
    # Another process's condition type is not ours to continue.
    speaker = status_body(StateOwner.speaker("n1"), None, valid, T0 + 240)
    assert transition_time(speaker) == "2027-01-15T08:04:00Z"


def test_the_owner_is_added_once_and_replaces_an_earlier_pod_of_that_name() -> None:
    pod = OwnerReference(apiVersion="v1", kind="Pod", name="controller-x", uid="u2")
    assert upsert_owner(None, pod) == [pod.to_dict()]
    assert upsert_owner([pod], pod) is None
    old = OwnerReference(apiVersion="v1", kind="Pod", name="controller-x", uid="u1")
    other = OwnerReference(apiVersion="apps/v1", kind="Deployment", name="controller", uid="d")
    assert upsert_owner([old, other], pod) == [other.to_dict(), pod.to_dict()]
