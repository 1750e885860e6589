"""Address parsing, range summarising, pool capacity and the free-address cursor."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.config.addresses import parse_ip
from metallb.ipam.addresses import (
    MAX_INT64,
    AddressRange,
    Family,
    family_for_addresses,
    parse_addresses,
    pool_capacity,
    summarize,
)
from metallb.ipam.freelist import FreeCursor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("192.0.2.1", "192.0.2.1", id="ipv4"),
        pytest.param("2001:db8::1", "2001:db8::1", id="ipv6"),
        pytest.param("::ffff:192.0.2.1", "192.0.2.1", id="ipv4-mapped is ipv4, as in Go"),
        pytest.param("192.0.2.01", None, id="leading zero refused"),
        pytest.param("192.0.2.256", None, id="octet too large"),
        pytest.param("fe80::1%eth0", None, id="zone refused"),
        pytest.param(" 192.0.2.1", None, id="not trimmed"),
        pytest.param("192.0.2.0/24", None, id="a CIDR is not an address"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_ip(text: str, expected: str | None) -> None:
    """Addresses parse as Go's net.ParseIP does."""
    parsed = parse_ip(text)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    ("entry", "first", "last"),
    [
        pytest.param("192.0.2.0/24", "192.0.2.0", "192.0.2.255", id="cidr"),
        pytest.param("192.0.2.77/24", "192.0.2.0", "192.0.2.255", id="host bits masked"),
        pytest.param("192.0.2.7/32", "192.0.2.7", "192.0.2.7", id="/32"),
        pytest.param("2001:db8::5/128", "2001:db8::5", "2001:db8::5", id="/128"),
        pytest.param("192.0.2.250 - 192.0.3.5", "192.0.2.250", "192.0.3.5", id="range trimmed"),
        pytest.param("2001:db8::-2001:db8::ff", "2001:db8::", "2001:db8::ff", id="ipv6 range"),
    ],
)
def test_parse_addresses(entry: str, first: str, last: str) -> None:
    """CIDRs and ranges become inclusive integer ranges."""
    r = parse_addresses(entry)
    assert (r.first, r.last) == (int(ipaddress.ip_address(first)), int(ipaddress.ip_address(last)))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param("192.0.2.0", "invalid CIDR", id="no prefix"),
        pytest.param("192.0.2.0/33", "invalid CIDR", id="prefix too long"),
        pytest.param(" 192.0.2.0/24", "invalid CIDR", id="cidr not trimmed"),
        pytest.param("192.0.2.9-192.0.2.1", "is after the end IP", id="reversed range"),
        pytest.param("x-192.0.2.1", "invalid start IP", id="bad start"),
        pytest.param(
            "192.0.2.1-2001:db8::1", "start and end are of different families", id="mixed families"
        ),
    ],
)
def test_parse_addresses_errors(entry: str, message: str) -> None:
    """Invalid entries are refused with a reason."""
    with pytest.raises(ValueError, match=message):
        parse_addresses(entry)


def _cap(*entries: str, avoid: bool = False) -> tuple[int, int]:
    return pool_capacity([parse_addresses(e) for e in entries], avoid_buggy_ips=avoid)


@pytest.mark.parametrize(
    ("entries", "avoid", "expected"),
    [
        pytest.param(("1.2.3.0/24",), False, (256, 0), id="/24"),
        pytest.param(("1.2.3.0/24", "2.3.4.128/25"), False, (384, 0), id="/24 and /25"),
        pytest.param(("1.2.3.0/24", "2.3.4.128/25"), True, (381, 0), id="/24 and /25 avoid"),
        pytest.param(("1.2.3.0/31", "1000::/127"), True, (1, 2), id="/31 avoid, v6 untouched"),
        pytest.param(("192.168.10.0/30", "fc00::/126"), False, (4, 4), id="dual small"),
        pytest.param(("10.0.0.0/8",), True, (2**24 - 2 * 2**16, 0), id="/8 avoid: 2 per /24"),
        pytest.param(("1.2.3.255/32",), True, (-1, 0), id="lone buggy /32 counts -1 (upstream)"),
        pytest.param(("1.2.3.7/32",), True, (1, 0), id="/32"),
        pytest.param(("2001:db8::7/128",), False, (0, 1), id="/128"),
        pytest.param(("2001:db8::/64",), False, (0, MAX_INT64), id="/64 is MaxInt64"),
        pytest.param(("2001:db8::/66",), False, (0, MAX_INT64), id="/66 is MaxInt64"),
        pytest.param(("2001:db8::/67",), False, (0, 2**61), id="/67 is counted"),
        pytest.param(
            ("2001:db8::/64", "2001:db9::/120"), False, (0, MAX_INT64), id="saturates not wraps"
        ),
        pytest.param(("1.2.3.250-1.2.4.5",), True, (10, 0), id="range across .255/.0 avoid"),
        pytest.param(("1.2.3.250-1.2.4.5",), False, (12, 0), id="range across octets"),
    ],
)
def test_pool_capacity(entries: tuple[str, ...], avoid: bool, expected: tuple[int, int]) -> None:
    """Capacity is counted per summarised CIDR, as upstream's poolCount."""
    assert _cap(*entries, avoid=avoid) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 5000))
def test_summarize_covers_range_exactly(first: int, span: int) -> None:
    """Summarised CIDRs are aligned, ascending, contiguous and cover exactly the range."""
    last = min(first + span, 2**32 - 1)
    expected = first
    for network, prefix in summarize(first, last, 32):
        size = 1 << (32 - prefix)
        assert network == expected
        assert network % size == 0
        expected += size
    assert expected == last + 1


def test_address_range_rejects_nonsense() -> None:
    """A range must be ordered and inside its family."""
    with pytest.raises(ValueError, match="invalid address range"):
        AddressRange(Family.IPV4, 5, 4)
    with pytest.raises(ValueError, match="invalid address range"):
        AddressRange(Family.IPV4, 0, 2**32)


@pytest.mark.parametrize(
    ("texts", "family", "error"),
    [
        pytest.param(("1.2.3.4",), Family.IPV4, None, id="v4"),
        pytest.param(("::1",), Family.IPV6, None, id="v6"),
        pytest.param(("1.2.3.4", "::1"), Family.DUAL, None, id="dual"),
        pytest.param(
            ("1.2.3.4", "1.2.3.5"),
            None,
            'IPFamilyForAddresses: same address family ["1.2.3.4" "1.2.3.5"]',
            id="same family",
        ),
        pytest.param(
            ("a", "b", "c"),
            None,
            'IPFamilyForAddresses: invalid ips length 3 ["a" "b" "c"]',
            id="three",
        ),
        pytest.param(("x",), None, 'IPFamilyForAddresses: Invalid address ["x"]', id="invalid"),
    ],
)
def test_family_for_addresses(
    texts: tuple[str, ...], family: Family | None, error: str | None
) -> None:
    """Families and upstream's error texts."""
    assert family_for_addresses(texts) == (family, error)


def test_cursor_skips_used_and_buggy_and_reuses_freed() -> None:
    """The cursor returns the lowest free address, including ones released behind it."""
    base = int(ipaddress.IPv4Address("192.0.2.254"))
    cursor = FreeCursor(base, base + 4, avoid_buggy=True)  # .254 .255 3.0 3.1 3.2
    used: set[int] = set()
    got = []
    while (k := cursor.first_free(used)) is not None:
        used.add(k)
        got.append(k - base)
    assert got == [0, 3, 4]  # .255 and .0 skipped
    used.discard(base + 0)
    cursor.release(base + 0)
    assert cursor.first_free(used) == base
    used.add(base)
    assert cursor.first_free(used) is None
