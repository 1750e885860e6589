"""Fault table, BGP: hostile peers sending a malformed UPDATE (once Established) and a
malformed OPEN, while FRR holds our route through another session of the same speaker.

The scenario is :func:`bench.faults_bgp.scenario` (the benchmark prints its figures:
reconnect delays, connection rate, CPU); here outcomes are asserted: the NOTIFICATION
each peer got, decoded; that reconnects back off (each delay longer than the one
before: the order, not a time); that FRR's route and session never moved.
"""

from __future__ import annotations

import pytest
from bench.faults_bgp import NODE, ROUTER, notifications, reconnect_delays, scenario

from metallb.codec.bgp import ErrorCode, OpenSubcode, UpdateSubcode

pytestmark = pytest.mark.timeout(150)

CONNECTIONS = 4
EXPECTED = {
    # RFC 4271 6.3 / RFC 7606 section 4: Withdrawn Routes Length overrunning the message
    "update": (ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, ""),
    # RFC 4271 6.2: data is the largest version we support, 2 octets
    "open": (ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_VERSION, "0004"),
}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    workdir = tmp_path_factory.mktemp("faults-bgp")
    return scenario(workdir, dict.fromkeys(EXPECTED, CONNECTIONS))


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_each_malformed_message_gets_its_notification(result: dict[str, object], mode: str) -> None:
    """Every connection of the hostile peer ends with the NOTIFICATION RFC 4271 names."""
    lines = result["hostile"][mode]  # type: ignore[index]
    got = [(n["code"], n["subcode"], n["data"]) for n in notifications(lines)]
    assert got == [EXPECTED[mode]] * CONNECTIONS, lines


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_reconnects_back_off(result: dict[str, object], mode: str) -> None:
    """The speaker dials the hostile peer again each time, every delay longer than the
    last, including after sessions that had reached Established (the bad UPDATE)."""
    delays = reconnect_delays(result["hostile"][mode])  # type: ignore[index]
    assert len(delays) == CONNECTIONS - 1
    assert delays == sorted(delays), delays
    assert len(set(delays)) == len(delays), delays


def test_routes_at_the_real_router_are_untouched(result: dict[str, object]) -> None:
    """Throughout, FRR holds our /32 via the node; its session with us never dropped or
    re-established, and our side of it never left Established."""
    samples = result["frr_samples"]
    assert isinstance(samples, list)
    assert samples
    assert all(samples)
    before, after = result["frr_before"], result["frr_after"]
    assert isinstance(before, dict)
    assert isinstance(after, dict)
    assert after == before
    assert after["bgpState"] == "Established"
    moves = [(old, new) for old, new in result["frr_transitions"] if old != new]  # type: ignore[attr-defined]
    assert [m for m in moves if "Established" in m] == [("OpenConfirm", "Established")], (
        ROUTER,
        NODE,
        moves,
    )
