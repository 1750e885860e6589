"""Allocator rules as scenario tables: sharing, buggy IPs, pool choice, dual stack, reload."""

from __future__ import annotations

import pytest

from metallb.config.selectors import Selector
from metallb.ipam import (
    AllocationError,
    Allocator,
    Family,
    FamilyPolicy,
    Pool,
    PoolCounters,
    Port,
    ServiceAllocation,
    pool_from_strings,
)

from .helpers import DUAL_CLUSTER, ip, ips, req, tcp

SHARED = "192.168.1.5"


def _alloc(*pools: Pool) -> Allocator:
    a = Allocator()
    a.set_pools(pools)
    return a


def _pool(name: str = "p", *addresses: str, **kw: object) -> Pool:
    return pool_from_strings(name, addresses or ("192.168.1.0/24",), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        pytest.param(
            ("", "", tcp(80)),
            ("", "", tcp(443)),
            'can\'t change sharing key for "default/b", address also in use by default/a',
            id="neither shares",
        ),
        pytest.param(
            ("k", "", tcp(80)),
            ("", "", tcp(443)),
            'can\'t change sharing key for "default/b", address also in use by default/a',
            id="newcomer has no key",
        ),
        pytest.param(
            ("", "", tcp(80)),
            ("k", "", tcp(443)),
            'can\'t change sharing key for "default/b", address also in use by default/a',
            id="holder has no key",
        ),
        pytest.param(
            ("k", "", tcp(80)),
            ("other", "", tcp(443)),
            'can\'t change sharing key for "default/b", address also in use by default/a',
            id="different keys",
        ),
        pytest.param(("k", "", tcp(80)), ("k", "", tcp(443)), None, id="same key other port"),
        pytest.param(
            ("k", "", tcp(80)),
            ("k", "", tcp(443, 80)),
            'port TCP/80 is already in use on "192.168.1.5"',
            id="same key port overlap",
        ),
        pytest.param(
            ("k", "", (Port("TCP", 53),)),
            ("k", "", (Port("UDP", 53),)),
            None,
            id="TCP/53 and UDP/53 share",
        ),
        pytest.param(
            ("k", "app=web", tcp(80)),
            ("k", "app=web", tcp(443)),
            None,
            id="Local+Local same selector",
        ),
        pytest.param(
            ("k", "app=web", tcp(80)),
            ("k", "app=db", tcp(443)),
            'can\'t change sharing key for "default/b", address also in use by default/a',
            id="Local+Local other selector",
        ),
        pytest.param(
            ("k", "app=web", tcp(80)),
            ("k", "", tcp(443)),
            'can\'t change sharing key for "default/b", address also in use by default/a',
            id="Local+Cluster",
        ),
        pytest.param(("k", "", tcp(80)), ("k", "", tcp(443)), None, id="Cluster+Cluster"),
    ],
)
def test_sharing_matrix(
    first: tuple[str, str, tuple[Port, ...]],
    second: tuple[str, str, tuple[Port, ...]],
    error: str | None,
) -> None:
    """A second Service may join an IP only with the same keys and disjoint ports."""
    a = _alloc(_pool())
    a.assign(req("a", key=first[0], backend=first[1], ports=first[2]), ips(SHARED))
    b = req("b", key=second[0], backend=second[1], ports=second[2])
    if error is None:
        a.assign(b, ips(SHARED))
        assert a.services_on(ip(SHARED)) == ("default/a", "default/b")
    else:
        with pytest.raises(AllocationError) as err:
            a.assign(b, ips(SHARED))
        assert str(err.value) == error
        assert a.services_on(ip(SHARED)) == ("default/a",)
    assert a.counters("p").assigned_ipv4 == 1


def test_sole_user_changes_key_in_place_but_not_when_shared() -> None:
    """A Service alone on its IP may change keys; with company it may not."""
    a = _alloc(_pool())
    a.assign(req("a", key="k"), ips(SHARED))
    a.assign(req("a", key="new", ports=tcp(81)), ips(SHARED))
    assert a.allocation_key(req("a").key) == "new"
    a.assign(req("b", key="new", ports=tcp(82)), ips(SHARED))
    with pytest.raises(AllocationError, match="address also in use by default/b"):
        a.assign(req("a", key="newer"), ips(SHARED))


def test_shared_ip_before_free_one_is_used_but_free_earlier_wins() -> None:
    """Auto allocation takes the first usable address: shareable or free, whichever is first."""
    a = _alloc(_pool("p", "192.168.1.0/30"))
    assert a.allocate(req("a", key="k"), Family.IPV4) == ips("192.168.1.0")
    assert a.allocate(req("b"), Family.IPV4) == ips("192.168.1.1")
    assert a.allocate(req("c", key="k", ports=tcp(443)), Family.IPV4) == ips("192.168.1.0")
    assert a.allocate(req("d", key="k", ports=tcp(80)), Family.IPV4) == ips("192.168.1.2")
    a.unassign(req("b").key)
    assert a.allocate(req("e", key="k", ports=tcp(8080)), Family.IPV4) == ips("192.168.1.0")
    assert a.allocate(req("f", key="k", ports=tcp(80)), Family.IPV4) == ips("192.168.1.1")
    assert a.counters("p") == PoolCounters(3, 0, 1, 0)


@pytest.mark.parametrize(
    ("addresses", "avoid", "expected"),
    [
        pytest.param(
            ("192.168.0.254-192.168.1.1",), True, ["192.168.0.254", "192.168.1.1"], id="avoid"
        ),
        pytest.param(
            ("192.168.0.254-192.168.1.1",),
            False,
            ["192.168.0.254", "192.168.0.255", "192.168.1.0", "192.168.1.1"],
            id="no avoid: .255 and .0 used",
        ),
        pytest.param(("192.168.1.0/32",), True, [], id="/32 on .0 with avoid is empty"),
        pytest.param(("192.168.1.7/32",), True, ["192.168.1.7"], id="/32"),
        pytest.param(("2001:db8::ff/128",), True, [], id="/128 ipv4 service gets nothing"),
        pytest.param(
            ("10.0.0.255-10.0.1.1", "10.0.3.0/31"),
            False,
            ["10.0.0.255", "10.0.1.0", "10.0.1.1", "10.0.3.0", "10.0.3.1"],
            id="ranges crossing octets, entries in config order",
        ),
        pytest.param(
            ("10.0.3.0/31", "10.0.0.255-10.0.1.0"),
            True,
            ["10.0.3.1"],
            id="config order, not address order",
        ),
    ],
)
def test_order_and_buggy_ips(addresses: tuple[str, ...], avoid: bool, expected: list[str]) -> None:
    """Addresses come in configuration order, skipping .0/.255 only with avoidBuggyIPs."""
    a = _alloc(_pool("p", *addresses, avoid_buggy_ips=avoid))
    got: list[str] = []
    for i in range(len(expected)):
        got.extend(str(x) for x in a.allocate(req(f"s{i}"), Family.IPV4))
    assert got == expected
    with pytest.raises(AllocationError, match=r"^no available IPs$"):
        a.allocate(req("one too many"), Family.IPV4)


def test_v6_128_pool() -> None:
    """A /128 pool holds exactly one IPv6 Service."""
    a = _alloc(_pool("p", "2001:db8::ff/128"))
    assert a.allocate(req("a", cluster=("fd00::1",)), Family.IPV6) == ips("2001:db8::ff")
    with pytest.raises(AllocationError, match="no available IPs"):
        a.allocate(req("b", cluster=("fd00::1",)), Family.IPV6)


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        pytest.param(("192.168.1.255",), '["192.168.1.255"] is not allowed in config', id=".255"),
        pytest.param(("10.9.9.9",), '["10.9.9.9"] is not allowed in config', id="outside"),
        pytest.param(
            ("192.168.1.1", "192.168.1.2", "192.168.1.3"),
            'more than two addresses ["192.168.1.1" "192.168.1.2" "192.168.1.3"]',
            id="three",
        ),
        pytest.param(
            ("192.168.1.1", "192.168.1.2"),
            '"192.168.1.1" "192.168.1.2" has the same family',
            id="same family",
        ),
        pytest.param(
            ("192.168.1.1", "2001:db8::1"),
            '["192.168.1.1" "2001:db8::1"] is not allowed in config',
            id="dual across two pools",
        ),
    ],
)
def test_requested_ip_refusals(wanted: tuple[str, ...], message: str) -> None:
    """Explicit IPs must lie in one pool, avoid buggy IPs there, and be one per family."""
    a = _alloc(_pool("p", "192.168.1.0/24", avoid_buggy_ips=True), _pool("v6", "2001:db8::/120"))
    with pytest.raises(AllocationError) as err:
        a.assign(req("a"), ips(*wanted))
    assert str(err.value) == message
    assert a.allocation(req("a").key) is None


def _sa(priority: int = 0, **kw: object) -> ServiceAllocation:
    return ServiceAllocation(priority=priority, **kw)  # type: ignore[arg-type]


WEB = Selector.of({"app": "web"})


@pytest.mark.parametrize(
    ("pools", "svc_ns", "labels", "expected_pool"),
    [
        pytest.param(
            [("a", None), ("b", None)], "default", {}, "a", id="unrestricted pools by name"
        ),
        pytest.param(
            [("a", None), ("z", _sa(0, namespaces=frozenset({"default"})))],
            "default",
            {},
            "z",
            id="namespace pool preferred over plain pools",
        ),
        pytest.param(
            [("a", None), ("z", _sa(0, namespaces=frozenset({"other"})))],
            "default",
            {},
            "a",
            id="other namespace's pool not used",
        ),
        pytest.param(
            [("x", _sa(5, service_selectors=(WEB,))), ("y", _sa(2, service_selectors=(WEB,)))],
            "default",
            {"app": "web"},
            "y",
            id="lower priority number first",
        ),
        pytest.param(
            [("x", _sa(0, service_selectors=(WEB,))), ("y", _sa(9, service_selectors=(WEB,)))],
            "default",
            {"app": "web"},
            "y",
            id="priority 0 is lowest",
        ),
        pytest.param(
            [("y", _sa(3, service_selectors=(WEB,))), ("x", _sa(3, service_selectors=(WEB,)))],
            "default",
            {"app": "web"},
            "x",
            id="priority tie by name",
        ),
        pytest.param(
            [("a", None), ("z", _sa(1))],
            "default",
            {},
            "z",
            id="priority-only allocation pins for everyone",
        ),
        pytest.param(
            [("a", None), ("z", _sa(1, service_selectors=(WEB,)))],
            "default",
            {"app": "db"},
            "a",
            id="selector not matching",
        ),
        pytest.param(
            [
                ("z", _sa(0, namespace_selectors=(Selector.of({"team": "x"}),))),
                ("a", None),
            ],
            "default",
            {},
            "a",
            id="namespace selector by namespace labels",
        ),
    ],
)
def test_pool_choice(
    pools: list[tuple[str, ServiceAllocation | None]],
    svc_ns: str,
    labels: dict[str, str],
    expected_pool: str,
) -> None:
    """Pinned pools by priority (ties by name), then unrestricted pools by name."""
    built = [
        pool_from_strings(name, [f"10.0.{i}.0/24"], allocation=sa)
        for i, (name, sa) in enumerate(pools)
    ]
    a = _alloc(*built)
    a.allocate(req("s", ns=svc_ns, labels=labels), Family.IPV4)
    assert a.pool_of(req("s", ns=svc_ns).key) == expected_pool


def test_namespace_selector_matches_request_namespace_labels() -> None:
    """A namespaceSelector pool is pinned for a Service whose namespace labels match."""
    sel = Selector.of({"team": "x"})
    a = _alloc(
        pool_from_strings("a", ["10.0.0.0/24"]),
        pool_from_strings("z", ["10.0.1.0/24"], allocation=_sa(namespace_selectors=(sel,))),
    )
    a.allocate(req("s", ns="teamx", ns_labels={"team": "x"}), Family.IPV4)
    assert a.pool_of(req("s", ns="teamx").key) == "z"


def test_namespace_selector_restricts_when_a_known_namespace_matches() -> None:
    """Resolved against the known Namespaces: another namespace may not use the pool."""
    sel = Selector.of({"team": "x"})
    pool = pool_from_strings("z", ["10.0.1.0/24"], allocation=_sa(namespace_selectors=(sel,)))
    a = Allocator()
    a.set_pools([pool], {"teamx": {"team": "x"}, "default": {}})
    with pytest.raises(AllocationError, match="pool z not compatible for ip assignment"):
        a.allocate_from_pool(req("s"), Family.IPV4, "z")
    # Upstream quirk: with no namespace matching, the selector restricts nothing.
    a.set_pools([pool], {"default": {}})
    assert a.allocate_from_pool(req("s"), Family.IPV4, "z") == ips("10.0.1.0")


def test_pinned_pools_exhausted_fall_back_to_plain_pools() -> None:
    """A full pinned pool lets the Service take an IP from an unrestricted pool."""
    a = _alloc(
        pool_from_strings("pinned", ["10.0.0.1/32"], allocation=_sa(1)),
        pool_from_strings("plain", ["10.0.1.0/24"]),
        pool_from_strings(
            "restricted", ["10.0.2.0/24"], allocation=_sa(0, service_selectors=(WEB,))
        ),
    )
    a.allocate(req("s1"), Family.IPV4)
    a.allocate(req("s2"), Family.IPV4)
    assert [a.pool_of(req(n).key) for n in ("s1", "s2")] == ["pinned", "plain"]


def test_auto_assign_false_only_on_request() -> None:
    """autoAssign false pools are skipped automatically but fine by annotation or by IP."""
    a = _alloc(_pool("manual", "10.0.0.0/30", auto_assign=False))
    with pytest.raises(AllocationError, match=r"^no available IPs$"):
        a.allocate(req("s"), Family.IPV4)
    assert a.allocate_from_pool(req("s"), Family.IPV4, "manual") == ips("10.0.0.0")
    a.assign(req("t"), ips("10.0.0.3"))
    assert a.pool_of(req("t").key) == "manual"


def test_unknown_pool_and_restricted_pool_by_annotation() -> None:
    """Annotation paths: unknown pool, and a pool of another namespace."""
    a = _alloc(_pool("p", "10.0.0.0/30", allocation=_sa(namespaces=frozenset({"ns1"}))))
    with pytest.raises(AllocationError, match=r'^unknown pool "nope"$'):
        a.allocate_from_pool(req("s"), Family.IPV4, "nope")
    with pytest.raises(AllocationError, match=r"^pool p not compatible for ip assignment$"):
        a.allocate_from_pool(req("s"), Family.IPV4, "p")
    with pytest.raises(AllocationError, match=r"^pool p not compatible for ip assignment$"):
        a.assign(req("s"), ips("10.0.0.1"))


V4 = ("v4", "192.168.1.0/30")
V6 = ("v6", "2001:db8::/126")
BOTH = ("both", "192.168.2.0/30", "2001:db8:1::/126")


@pytest.mark.parametrize(
    ("pools", "policy", "families", "expected"),
    [
        pytest.param([BOTH], FamilyPolicy.REQUIRE_DUAL_STACK, (), "192.168.2.0 2001:db8:1::"),
        pytest.param([V4], FamilyPolicy.REQUIRE_DUAL_STACK, (), "no available IPs", id="req-v4"),
        pytest.param([V4, V6], FamilyPolicy.REQUIRE_DUAL_STACK, (), "no available IPs"),
        pytest.param(
            [V6, V4], FamilyPolicy.PREFER_DUAL_STACK, (), "192.168.1.0", id="prefer-v4-primary"
        ),
        pytest.param(
            [V6, V4],
            FamilyPolicy.PREFER_DUAL_STACK,
            ("IPv6", "IPv4"),
            "2001:db8::",
            id="prefer-v6-primary",
        ),
        pytest.param([V6], FamilyPolicy.PREFER_DUAL_STACK, (), "2001:db8::", id="prefer-secondary"),
        pytest.param(
            [V4, BOTH],
            FamilyPolicy.PREFER_DUAL_STACK,
            (),
            "192.168.2.0 2001:db8:1::",
            id="prefer-dual-pool-wins",
        ),
        pytest.param([BOTH], FamilyPolicy.SINGLE_STACK, (), "no available IPs", id="single-dual"),
    ],
)
def test_dual_stack_policies(
    pools: list[tuple[str, ...]],
    policy: FamilyPolicy,
    families: tuple[str, ...],
    expected: str,
) -> None:
    """Dual-stack Services against single-family and dual pools."""
    a = _alloc(*(pool_from_strings(p[0], p[1:]) for p in pools))
    svc = req("s", cluster=DUAL_CLUSTER, policy=policy, families=families)
    try:
        got = " ".join(str(x) for x in a.allocate(svc, Family.DUAL))
    except AllocationError as err:
        got = str(err)
    assert got == expected


def test_allocate_from_pool_family_errors() -> None:
    """The annotation path reports a missing family with upstream's texts."""
    a = _alloc(pool_from_strings("v4", ["192.168.1.0/30"]))
    with pytest.raises(AllocationError, match=r"^no available IPs in pool v4 for ipv6 IPFamily$"):
        a.allocate_from_pool(req("s", cluster=("fd00::1",)), Family.IPV6, "v4")
    a.allocate_from_pool(req("s"), Family.IPV4, "v4")
    with pytest.raises(AllocationError, match="IP for wrong family assigned alloc ipv4"):
        a.allocate_from_pool(req("s", cluster=("fd00::1",)), Family.IPV6, "v4")


@pytest.mark.parametrize(
    ("new_pools", "kept", "pool_after"),
    [
        pytest.param([("p", "10.0.0.0/24")], True, "p", id="same"),
        pytest.param([("p", "10.0.0.0/16")], True, "p", id="expanded"),
        pytest.param([("p", "10.0.0.0/30")], False, None, id="shrunk away"),
        pytest.param([("renamed", "10.0.0.0/24")], True, "renamed", id="renamed"),
        pytest.param([("lo", "10.0.0.0/25"), ("hi", "10.0.0.128/25")], True, "hi", id="split"),
        pytest.param([], False, None, id="all pools removed"),
    ],
)
def test_reload(new_pools: list[tuple[str, str]], kept: bool, pool_after: str | None) -> None:
    """Reload keeps allocations still inside a pool (under its new name), releases others."""
    a = _alloc(_pool("p", "10.0.0.0/24"))
    a.assign(req("s"), ips("10.0.0.200"))
    a.set_pools([pool_from_strings(n, [c]) for n, c in new_pools])
    assert a.pool_of(req("s").key) == pool_after
    assert (a.ips_of(req("s").key) == ips("10.0.0.200")) is kept
    if pool_after:
        assert a.counters(pool_after).assigned_ipv4 == 1


def test_reload_avoid_buggy_releases_dot_zero_and_auto_assign_off_keeps() -> None:
    """Turning avoidBuggyIPs on evicts .0 holders; turning autoAssign off evicts nobody."""
    a = _alloc(_pool("p", "10.0.0.0/24"))
    a.allocate(req("zero"), Family.IPV4)
    a.allocate(req("one"), Family.IPV4)
    a.set_pools([_pool("p", "10.0.0.0/24", avoid_buggy_ips=True, auto_assign=False)])
    assert a.ips_of(req("zero").key) == ()
    assert a.ips_of(req("one").key) == ips("10.0.0.1")
    assert a.counters("p") == PoolCounters(1, 0, 253, 0)


def test_reload_rejects_overlap_and_duplicates() -> None:
    """Overlapping or duplicate pools are a broken invariant, refused loudly."""
    a = Allocator()
    with pytest.raises(ValueError, match="overlap"):
        a.set_pools([_pool("a", "10.0.0.0/24"), _pool("b", "10.0.0.128/25")])
    with pytest.raises(ValueError, match="duplicate"):
        a.set_pools([_pool("a", "10.0.0.0/24"), _pool("a", "10.0.1.0/24")])


def test_counters_count_distinct_ips() -> None:
    """Three Services sharing one IP count once; a dual-stack Service counts in both."""
    a = _alloc(_pool("p", "192.168.10.0/30", "fc00::/126"))
    assert a.counters("p") == PoolCounters(0, 0, 4, 4)
    for i, port in enumerate((80, 81, 82)):
        a.assign(req(f"s{i}", key="k", ports=tcp(port)), ips("192.168.10.1"))
    assert a.counters("p") == PoolCounters(1, 0, 3, 4)
    dual = req("d", cluster=DUAL_CLUSTER, policy=FamilyPolicy.REQUIRE_DUAL_STACK)
    assert a.allocate(dual, Family.DUAL) == ips("192.168.10.0", "fc00::")
    assert a.counters("p") == PoolCounters(2, 1, 2, 3)
    assert a.counters("missing") == PoolCounters()
    for name in ("s0", "s1", "s2", "d"):
        a.unassign(req(name).key)
    assert a.all_counters() == {"p": PoolCounters(0, 0, 4, 4)}
