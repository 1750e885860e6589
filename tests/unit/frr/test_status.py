"""Parsing FRR's ``show bgp vrf all neighbors json`` (a sample captured from FRR 8.4 in a
network namespace, trimmed, plus a neighbour that is down and an empty VRF)."""

from __future__ import annotations

import json
from pathlib import Path

from metallb.frr.status import parse_bfd, parse_neighbors

DATA = Path(__file__).parent / "data"
SAMPLE = json.loads((DATA / "frr_neighbors.json").read_text())
BFD = json.loads((DATA / "frr_bfd.json").read_text())  # captured from bfdd, one made down


def test_an_established_neighbour_reports_upstream_metric_names() -> None:
    up = next(n for n in parse_neighbors(SAMPLE) if n.address == "192.0.2.1")
    assert (up.peer, up.vrf, up.state, up.established) == (
        "192.0.2.1:179",
        "default",
        "Established",
        True,
    )
    m = up.metrics
    assert m["metallb_bgp_session_up"] == 1.0
    assert m["metallb_bgp_opens_sent"] == 1.0
    assert m["metallb_bgp_updates_total"] == 2.0
    assert m["metallb_bgp_updates_total_received"] == 2.0
    assert m["metallb_bgp_total_sent"] == 4.0
    # sentPrefixCounter summed over the address families (3 IPv4 + 0 IPv6).
    assert m["metallb_bgp_announced_prefixes_total"] == 3.0


def test_a_neighbour_without_connection_takes_the_configured_port() -> None:
    ports = {("default", "2001:db8::1"): 1179}
    down = next(n for n in parse_neighbors(SAMPLE, ports) if n.address == "2001:db8::1")
    assert down.peer == "2001:db8::1:1179"
    assert not down.established
    assert down.metrics["metallb_bgp_session_up"] == 0.0
    # Without the configuration's port the BGP default is assumed.
    default = next(n for n in parse_neighbors(SAMPLE) if n.address == "2001:db8::1")
    assert default.peer == "2001:db8::1:179"


def test_vrfs_and_unnumbered_neighbours() -> None:
    doc = {
        "red": {
            "vrfName": "red",
            "eth1": {"bgpState": "Established", "hostForeign": "fe80::1", "portForeign": 179},
            "eth2": {"bgpState": "Idle"},  # unnumbered, never connected: no address
        },
        "default": {"vrfName": "default"},
    }
    got = parse_neighbors(doc)
    assert [(n.peer, n.vrf) for n in got] == [("fe80::1:179", "red")]


def test_garbage_is_skipped_not_fatal() -> None:
    assert parse_neighbors({"default": "nope", "x": {"1.2.3.4": 5}}) == []


def test_bfd_sessions_with_their_counters() -> None:
    up, down = parse_bfd(BFD["peers"], BFD["counters"])
    assert (up.peer, up.vrf, up.up) == ("192.0.2.1", "default", True)
    assert up.metrics["metallb_bfd_session_up"] == 1.0
    assert up.metrics["metallb_bfd_control_packet_input"] == 7.0
    assert up.metrics["metallb_bfd_session_up_events"] == 1.0
    assert up.metrics["metallb_bfd_zebra_notifications"] == 2.0
    # No counters for the down session (other VRF): zeros, still reported as down.
    assert (down.peer, down.vrf, down.up) == ("2001:db8::1", "red", False)
    assert down.metrics["metallb_bfd_session_up"] == 0.0
    assert down.metrics["metallb_bfd_control_packet_input"] == 0.0
    assert parse_bfd({"not": "a list"}, None) == []
