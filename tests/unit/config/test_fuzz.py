"""Whatever the input, build_config returns a Config or raises ConfigError, nothing else."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.legacy import configmap_to_crs
from metallb.config.types import Config

from .helpers import bgp_ad, l2_ad, peer, pool

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["192.0.2.0/24", "2001:db8::/64", "1.1.1.1-1.1.1.9", "90s", "1:2", "In"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation", "ipAddressPools",
    "ipAddressPoolSelectors", "nodeSelectors", "interfaces", "serviceSelectors",
    "preferredNodeSelectors", "aggregationLength", "aggregationLengthV6", "localPref",
    "communities", "peers", "myASN", "peerASN", "peerAddress", "holdTime", "keepaliveTime",
    "connectTime", "routerID", "passwordSecret", "bfdProfile", "dynamicASN", "vrf",
]  # fmt: skip
BASES = [
    pool("p", "192.0.2.0/24"),
    l2_ad("l2"),
    bgp_ad("ad"),
    peer("peer"),
    {"apiVersion": "metallb.io/v1beta1", "kind": "BGPPeer", "metadata": {"name": "old"}},
    {"apiVersion": "metallb.io/v1beta1", "kind": "Community", "metadata": {"name": "c"}},
    {"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile", "metadata": {"name": "b"}},
]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(st.sampled_from(BASES))
    spec = dict(base.get("spec") or {})
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        spec[key] = draw(junk)
    out = {**base, "spec": spec}
    if draw(st.booleans()):
        out["metadata"] = draw(junk)
    return out


def _check(objects: list[Any], mode: str) -> None:
    problems: tuple[object, ...] = ()
    try:
        assert isinstance(build_config(objects, bgp_type=mode), Config)
    except ConfigError as exc:
        problems = exc.problems
        assert problems, "a ConfigError always lists at least one problem"
    assert all(str(p) for p in problems)


@settings(max_examples=300, deadline=None)
@given(st.lists(mutated(), max_size=5), st.sampled_from(["native", "frr", "frr-k8s"]))
def test_mutated_objects_give_config_or_config_error(objects: list[Any], mode: str) -> None:
    """Real objects with fields replaced by junk never raise another exception."""
    _check(objects, mode)


@settings(max_examples=200, deadline=None)
@given(st.lists(junk, max_size=4))
def test_random_values_give_config_or_config_error(objects: list[Any]) -> None:
    """Arbitrary values as input objects never raise another exception."""
    _check(objects, "native")


@settings(max_examples=200, deadline=None)
@given(junk)
def test_legacy_converter_only_raises_config_error(data: Any) -> None:
    """The legacy converter on junk yields objects or ConfigError."""
    try:
        crs = configmap_to_crs(data)
    except ConfigError:
        return
    _check(crs, "frr")
