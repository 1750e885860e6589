"""Fault table, ARP flood: the real announcer keeps answering a real client (iputils
arping) while another namespace floods the LAN with ARP requests for unrelated IPs.

The scenario is :func:`bench.faults_arp.scenario` (the benchmark prints its figures);
here only outcomes are asserted, never a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.faults_arp import NODE_MAC, scenario

pytestmark = pytest.mark.timeout(120)


def test_owned_ip_is_answered_through_an_arp_flood(tmp_path: Path) -> None:
    """Every probe of the client, with and without a 3 s flood offered at 50,000
    requests/s, is answered once with the node's MAC; the flood really reached the
    announcer (it read and dropped most of it as not announced) and got no answer."""
    result = scenario(tmp_path, rate=50000, seconds=3, procs=2)
    for phase in ("baseline", "flood"):
        series = result[phase]
        assert series["probes"] >= 20
        assert series["macs"] == [NODE_MAC] * series["probes"], phase
    assert result["flood_sent"] > 0
    # Frames for 192.0.2.128-255 are read by the announcer, counted and not answered.
    assert result["announcer_drops"].get("announceIP", 0) >= result["flood_sent"] // 2
    assert set(result["announcer_responses"]) == {"192.0.2.100"}
