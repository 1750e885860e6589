"""Pool overlap detection by sorting (issue 14) says exactly what comparing every pair
says: for each entry, the first earlier entry it overlaps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.config.addresses import AddressRange, first_overlaps, overlaps, parse_addresses
from metallb.config.build import build_config
from metallb.config.errors import ConfigError

from .helpers import pool


def pairwise(ranges: list[AddressRange]) -> list[int | None]:
    return [
        next((i for i in range(j) if overlaps(ranges[j], ranges[i])), None)
        for j in range(len(ranges))
    ]


def entry(v6: bool, start: int, length: int) -> str:
    if v6:
        return f"2001:db8::{start:x}-2001:db8::{start + length:x}"
    return f"192.0.2.{start}-192.0.2.{start + length}"


ENTRIES = st.lists(
    st.builds(entry, st.booleans(), st.integers(0, 200), st.integers(0, 40)), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(ENTRIES)
def test_sorting_agrees_with_every_pair(texts: list[str]) -> None:
    ranges = [parse_addresses(t) for t in texts]
    assert first_overlaps(ranges) == pairwise(ranges)


def test_overlap_message_names_the_first_earlier_pool() -> None:
    """Nested and chained ranges: each error names the first pool defined before it."""
    objects = [
        pool("a", "192.0.2.0/24"),
        pool("b", "198.51.100.0/28"),
        pool("c", "198.51.100.8-198.51.100.20", "192.0.2.128/25"),
    ]
    try:
        build_config(objects)
    except ConfigError as err:
        reasons = [str(p) for p in err.problems]
    else:
        raise AssertionError("overlapping pools were accepted")
    assert reasons == [
        "IPAddressPool metallb-system/c: spec.addresses[0]: "
        'CIDR "198.51.100.8-198.51.100.20" in pool "c" '
        'overlaps with already defined CIDR "198.51.100.0/28" of pool "b"',
        "IPAddressPool metallb-system/c: spec.addresses[1]: "
        'CIDR "192.0.2.128/25" in pool "c" overlaps with '
        'already defined CIDR "192.0.2.0/24" of pool "a"',
    ]
