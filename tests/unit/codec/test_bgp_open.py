"""OPEN and capabilities: hand-checked bytes, round trips, RFC 4271 6.2 errors, negotiation."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from metallb.codec.bgp import (
    AS_TRANS,
    IPV4_UNICAST,
    IPV6_UNICAST,
    BGPError,
    Family,
    FourOctetAS,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    Negotiated,
    Open,
    RouteRefresh,
    UnknownCapability,
    check_peer_open,
    decode_message,
    decode_open,
    encode_open,
    keepalive_interval,
    negotiate,
    negotiate_hold_time,
)

M = "ff" * 16
RID = IPv4Address("192.0.2.1")

# Hand-assembled from RFC 4271 4.2 and RFC 5492 4: version 4, AS 65001 (fde9), hold 90
# (005a), identifier 192.0.2.1, one Capabilities parameter (02, length 0c) holding
# Multiprotocol IPv4 unicast (01 04 0001 00 01) and 4-octet AS 65001 (41 04 0000fde9).
OPEN_HEX = (
    M + "002b" + "01" + "04fde9005ac0000201" + "0e" + "020c" + "010400010001" + "41040000fde9"
)


def test_open_bytes_hand_checked() -> None:
    """Our encoding matches the RFC layout assembled by hand, and decodes back."""
    msg = Open(65001, 90, RID, (Multiprotocol(IPV4_UNICAST), FourOctetAS(65001)))
    assert encode_open(msg).hex() == OPEN_HEX
    assert decode_open(bytes.fromhex(OPEN_HEX)) == msg


def test_open_without_parameters() -> None:
    """An OPEN with no capabilities has Opt Parm Len 0 and speaks IPv4 unicast only."""
    wire = encode_open(Open(64512, 0, RID))
    assert wire.hex() == M + "001d" + "01" + "04fc000000c0000201" + "00"
    assert decode_open(wire).families == frozenset({IPV4_UNICAST})


def test_four_octet_asn_travels_as_as_trans() -> None:
    """RFC 6793 4.1: My AS holds AS_TRANS, the capability the real ASN."""
    msg = Open(4200000000, 90, RID, (FourOctetAS(4200000000),))
    wire = encode_open(msg)
    assert wire[20:22] == AS_TRANS.to_bytes(2, "big")
    assert decode_open(wire).asn == 4200000000


def test_four_octet_asn_without_capability_is_a_caller_bug() -> None:
    """Without the capability an ASN above 65535 cannot be expressed."""
    with pytest.raises(ValueError, match="4-octet"):
        encode_open(Open(4200000000, 90, RID))


def test_all_capabilities_round_trip() -> None:
    """Every capability kind, unknown ones included, survives encode then decode."""
    caps = (
        Multiprotocol(IPV4_UNICAST),
        Multiprotocol(IPV6_UNICAST),
        RouteRefresh(),
        GracefulRestart(120, 0x8, (GracefulRestartFamily(IPV6_UNICAST, 0x80),)),
        FourOctetAS(65001),
        UnknownCapability(70, b""),
        UnknownCapability(73, b"\x05host1"),
    )
    msg = Open(65001, 180, RID, caps)
    back = decode_open(encode_open(msg))
    assert back == msg
    assert back.route_refresh
    assert back.four_octet_as
    assert back.graceful_restart is not None
    assert back.graceful_restart.restarting
    assert back.graceful_restart.families[0].forwarding_preserved
    assert back.families == frozenset({IPV4_UNICAST, IPV6_UNICAST})


def test_graceful_restart_bytes() -> None:
    """RFC 4724 3: 4 flag bits and 12 time bits, then AFI, SAFI, flags per family."""
    caps = (GracefulRestart(300, 0x8, (GracefulRestartFamily(IPV4_UNICAST, 0x80),)),)
    wire = encode_open(Open(65001, 90, RID, caps))
    assert wire.hex().endswith("4006" + "812c" + "0001" + "01" + "80")


def test_capabilities_across_several_parameters() -> None:
    """RFC 5492 4 allows one capability per parameter, as scapy and some routers do."""
    params = "0206010400020001" + "020641040000fde9"
    body = "04fde9005ac0000201" + "10" + params
    wire = bytes.fromhex(M + f"{19 + len(body) // 2:04x}" + "01" + body)
    got = decode_open(wire)
    assert got.families == frozenset({IPV6_UNICAST})
    assert got.asn == 65001


def test_extended_optional_parameters() -> None:
    """RFC 9072: Opt Parm Len 255 and type 255 introduce 2-octet parameter lengths."""
    params = "02" + "0006" + "010400020001"
    body = "04fde9005ac0000201" + "ff" + "ff" + "0009" + params
    wire = bytes.fromhex(M + f"{19 + len(body) // 2:04x}" + "01" + body)
    assert decode_open(wire).families == frozenset({IPV6_UNICAST})


def _open(body_hex: str) -> bytes:
    return bytes.fromhex(M + f"{19 + len(body_hex) // 2:04x}" + "01" + body_hex)


OPEN_ERRORS = [
    pytest.param("03fde9005ac000020100", (2, 1, b"\x00\x04"), "version", id="6.2 version 3"),
    pytest.param("04fde90001c000020100", (2, 6, b""), "hold", id="6.2 hold time 1"),
    pytest.param("04fde90002c000020100", (2, 6, b""), "hold", id="6.2 hold time 2"),
    pytest.param("04fde9005a0000000000", (2, 3, b""), "identifier", id="6.2 BGP identifier 0"),
    pytest.param("040000005ac000020100", (2, 2, b""), "AS is 0", id="RFC 7607 peer AS 0"),
    pytest.param(
        "04fde9005ac00002010301010a", (2, 4, b""), "parameter 1", id="6.2 unsupported param"
    ),
    pytest.param(
        "04fde9005ac0000201" + "07020501030001" + "01",
        (2, 0, b""),
        "capability 1: length 3",
        id="6.2 malformed MP capability",
    ),
    pytest.param(
        "04fde9005ac0000201" + "0502030201ff",
        (2, 0, b""),
        "capability 2: length 1",
        id="6.2 route refresh capability of length 1",
    ),
    pytest.param(
        "04fde9005ac0000201" + "06020441020000",
        (2, 0, b""),
        "capability 65: length 2",
        id="6.2 4-octet AS capability of length 2",
    ),
    pytest.param(
        "04fde9005ac0000201" + "0702054003000000",
        (2, 0, b""),
        "capability 64: length 3",
        id="6.2 graceful restart capability of length 3",
    ),
    pytest.param(
        "04fde9005ac0000201" + "03020109",
        (2, 0, b""),
        "truncated capability",
        id="capability header truncated",
    ),
    pytest.param(
        "04fde9005ac0000201" + "050203090501",
        (2, 0, b""),
        "capability 9: value runs",
        id="capability overruns its parameter",
    ),
    pytest.param(
        "04fde9005ac0000201" + "0502030104", (2, 0, b""), "Opt Parm Len 5", id="Opt Parm Len big"
    ),
    pytest.param(
        "04fde9005ac0000201" + "0002030100", (2, 0, b""), "Opt Parm Len 0", id="Opt Parm Len small"
    ),
    pytest.param(
        "04fde9005ac0000201" + "0102", (2, 0, b""), "truncated optional", id="param truncated"
    ),
    pytest.param(
        "04fde9005ac0000201" + "03020901", (2, 0, b""), "parameter overruns", id="param overruns"
    ),
]


@pytest.mark.parametrize(("body", "expected", "reason"), OPEN_ERRORS)
def test_open_errors(body: str, expected: tuple[int, int, bytes], reason: str) -> None:
    """Each RFC 4271 6.2 OPEN error yields its exact code, subcode and data."""
    with pytest.raises(BGPError, match=reason) as info:
        decode_message(_open(body))
    assert (info.value.code, info.value.subcode, info.value.data) == expected


PEER = Open(65002, 90, IPv4Address("192.0.2.2"), (FourOctetAS(65002),))


@pytest.mark.parametrize(
    ("peer", "kwargs", "expected"),
    [
        pytest.param(PEER, {"expected_asn": 65003}, (2, 2), id="6.2 bad peer AS"),
        pytest.param(
            Open(65002, 90, IPv4Address("192.0.2.2")),
            {"expected_asn": 65002, "local_asn": 4200000000},
            (2, 7),
            id="our 4-octet AS but peer lacks the capability",
        ),
        pytest.param(
            Open(65001, 90, RID, (FourOctetAS(65001),)),
            {"expected_asn": 65001},
            (2, 3),
            id="RFC 6286 2.2 same identifier inside one AS",
        ),
    ],
)
def test_check_peer_open_errors(
    peer: Open, kwargs: dict[str, int], expected: tuple[int, int]
) -> None:
    """Checks that need our configuration raise the right OPEN error."""
    args = {"expected_asn": None, "local_asn": 65001, "local_router_id": RID} | kwargs
    with pytest.raises(BGPError) as info:
        check_peer_open(peer, **args)  # type: ignore[arg-type]
    assert (info.value.code, info.value.subcode) == expected


def test_check_peer_open_accepts_a_good_peer() -> None:
    """The expected AS with a distinct identifier passes."""
    check_peer_open(PEER, expected_asn=65002, local_asn=65001, local_router_id=RID)
    check_peer_open(PEER, expected_asn=None, local_asn=65002, local_router_id=RID)


def test_negotiate_intersects_features() -> None:
    """Families, 4-octet AS and route refresh need both sides; hold is the minimum."""
    ours = Open(
        65001,
        90,
        RID,
        (Multiprotocol(IPV4_UNICAST), Multiprotocol(IPV6_UNICAST), FourOctetAS(65001)),
    )
    theirs = Open(65002, 30, IPv4Address("192.0.2.2"), (Multiprotocol(IPV6_UNICAST),))
    assert negotiate(ours, theirs) == Negotiated(
        four_octet_as=False, families=frozenset({IPV6_UNICAST}), route_refresh=False, hold_time=30
    )
    theirs4 = Open(65002, 240, IPv4Address("192.0.2.2"), (FourOctetAS(65002), RouteRefresh()))
    got = negotiate(ours, theirs4)
    assert got.four_octet_as
    assert not got.route_refresh
    assert got.families == frozenset({IPV4_UNICAST})
    assert got.hold_time == 90
    assert got.keepalive_interval == 30


@pytest.mark.parametrize(
    ("local", "peer", "hold", "keepalive"),
    [(90, 180, 90, 30.0), (90, 3, 3, 1.0), (0, 90, 0, 0.0), (10, 0, 0, 0.0), (9, 9, 9, 3.0)],
)
def test_hold_time_negotiation(local: int, peer: int, hold: int, keepalive: float) -> None:
    """RFC 4271 4.2: the smaller hold time wins; keepalive is a third of it."""
    assert negotiate_hold_time(local, peer) == hold
    assert keepalive_interval(hold) == pytest.approx(keepalive)


def test_hold_time_one_or_two_is_refused() -> None:
    """A peer hold time of 1 or 2 is Unacceptable Hold Time; ours is a config bug."""
    with pytest.raises(BGPError) as info:
        negotiate_hold_time(90, 2)
    assert (info.value.code, info.value.subcode) == (2, 6)
    with pytest.raises(ValueError, match="hold time"):
        negotiate_hold_time(1, 90)


def test_unknown_family_capability_is_preserved() -> None:
    """A Multiprotocol capability for a family we do not speak still round-trips."""
    msg = Open(65001, 90, RID, (Multiprotocol(Family(25, 70)),))
    assert decode_open(encode_open(msg)).families == frozenset({Family(25, 70)})
