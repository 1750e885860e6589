"""Fault table, membership: datagrams sealed with a wrong key and garbage, at 10,000/s to
the members' port, change nothing and are counted as dropped.

The scenario is :func:`bench.faults_membership.scenario` (the benchmark prints its
figures, CPU included); here only outcomes are asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.faults_membership import scenario

pytestmark = pytest.mark.timeout(120)


def test_wrong_key_and_garbage_are_dropped_counted_and_disturb_nobody(tmp_path: Path) -> None:
    """Three members under 3 s of bad datagrams, then 3 s of quiet: no member goes down,
    up or changes state in anyone's view, every view still holds all three, and the
    members' drop counters account for the datagrams (wrong key and garbage opening
    with our envelope version as ``auth``, other garbage as ``version``)."""
    result = scenario(tmp_path, rate=10000, seconds=3, after=3)
    sent = sum(result["sent"].values())
    assert result["sent"]["wrong_key"] > 0
    assert result["sent"]["garbage"] > 0
    dropped = 0
    for name, member in result["members"].items():
        assert member["changes"] == [], name
        assert member["view"] == result["names"], name
        assert member["dropped"]["malformed"] == 0, name  # nothing bad ever authenticated
        assert member["dropped"]["auth"] >= result["sent"]["wrong_key"] // 3 // 2, name
        assert member["dropped"]["version"] > 0, name
        dropped += member["dropped"]["auth"] + member["dropped"]["version"]
    # Counted, not merely lost: bench/faults_membership.py counted all of them; the
    # bound leaves room for what the kernel drops when a shared machine starves a member.
    assert 0.5 * sent <= dropped <= sent
