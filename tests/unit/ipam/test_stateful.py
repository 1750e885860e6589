"""Random operations on pools and Services, checking the allocator's invariants.

Two independent allocators receive the same operations (a restart replaces both with
fresh ones that converge every Service from its status). After every step: no IP
carries incompatible Services, every counter equals a recount from scratch, every IP
lies in its pool and is the Service's status, and both twins gave the same outputs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from metallb.config.selectors import Selector
from metallb.ipam import (
    Allocator,
    Convergence,
    FamilyPolicy,
    Pool,
    PoolCounters,
    Port,
    ServiceAllocation,
    ServiceRequest,
    converge,
    pool_from_strings,
    processing_order,
    release,
)
from metallb.ipam.addresses import is_buggy_key, pool_capacity, to_key

BLOCKS = ("10.0.0.0/30", "10.0.0.254-10.0.1.1", "10.0.2.7/32", "2001:db8::/127", "2001:db8:1::/128")
NAMES = tuple(f"s{i}" for i in range(7))
PORTS = (Port("TCP", 80), Port("TCP", 443), Port("UDP", 53), Port("UDP", 80))
CLUSTERS = {
    "v4": ("10.96.0.1",),
    "v6": ("fd00::1",),
    "dual": ("10.96.0.1", "fd00::1"),
}

allocations = st.one_of(
    st.none(),
    st.none(),
    st.builds(
        ServiceAllocation,
        priority=st.integers(0, 2),
        namespaces=st.frozensets(st.sampled_from(["a", "b"]), max_size=1),
        service_selectors=st.lists(st.sampled_from([Selector.of({"app": "x"})]), max_size=1).map(
            tuple
        ),
    ),
)


@st.composite
def pool_sets(draw: st.DrawFn) -> list[Pool]:
    """Up to three pools over disjoint blocks, with random options."""
    owners = draw(st.lists(st.integers(-1, 2), min_size=len(BLOCKS), max_size=len(BLOCKS)))
    pools = []
    for p in range(3):
        blocks = [b for b, o in zip(BLOCKS, owners, strict=True) if o == p]
        if blocks:
            pools.append(
                pool_from_strings(
                    f"pool{p}",
                    blocks,
                    avoid_buggy_ips=draw(st.booleans()),
                    auto_assign=draw(st.sampled_from([True, True, False])),
                    allocation=draw(allocations),
                )
            )
    return pools


@st.composite
def services(draw: st.DrawFn) -> ServiceRequest:
    family = draw(st.sampled_from(sorted(CLUSTERS)))
    return ServiceRequest(
        namespace=draw(st.sampled_from(["a", "b"])),
        name=draw(st.sampled_from(NAMES)),
        cluster_ips=CLUSTERS[family],
        ip_family_policy=draw(st.sampled_from(list(FamilyPolicy))),
        ports=tuple(draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=2, unique=True))),
        sharing_key=draw(st.sampled_from(["", "k1", "k1", "k2"])),
        backend_key=draw(st.sampled_from(["", "", "app=x"])),
        requested_pool=draw(st.sampled_from(["", "", "", "pool0", "pool1"])),
        labels=draw(st.sampled_from([{}, {"app": "x"}])),
    )


class AllocatorMachine(RuleBasedStateMachine):
    """Two allocators fed identical operations must agree and stay coherent."""

    def __init__(self) -> None:
        super().__init__()
        self.twins = (Allocator(), Allocator())
        self.pools: list[Pool] = []
        self.services: dict[str, ServiceRequest] = {}

    def _converge(self, svc: ServiceRequest) -> Convergence:
        outcomes = [converge(a, svc) for a in self.twins]
        assert outcomes[0] == outcomes[1]
        status = tuple(str(ip) for ip in outcomes[0].ips)
        self.services[svc.name] = replace(svc, status_ips=status)
        return outcomes[0]

    @initialize(pools=pool_sets())
    def first_pools(self, pools: list[Pool]) -> None:
        """Start with some pools, so that most runs allocate something."""
        self.set_pools(pools)

    @rule(pools=pool_sets())
    def set_pools(self, pools: list[Pool]) -> None:
        """Add, remove or edit pools; then reprocess every Service, as the controller does."""
        self.pools = pools
        for a in self.twins:
            a.set_pools(pools)
        for svc in processing_order(list(self.services.values())):
            self._converge(self.services[svc.name])

    @rule(svc=services())
    def upsert_service(self, svc: ServiceRequest) -> None:
        """Add a Service, or edit one keeping the status it was given."""
        old = self.services.get(svc.name)
        if old is not None:
            svc = replace(svc, namespace=old.namespace, status_ips=old.status_ips)
        self._converge(svc)

    @rule(name=st.sampled_from(NAMES))
    def delete_service(self, name: str) -> None:
        """Delete a Service."""
        svc = self.services.pop(name, None)
        if svc is not None:
            results = {release(a, svc.key) for a in self.twins}
            assert len(results) == 1

    @rule()
    def restart(self) -> None:
        """Restart: fresh allocators converge every Service from its status, holders first."""
        self.twins = (Allocator(), Allocator())
        for a in self.twins:
            a.set_pools(self.pools)
        for svc in processing_order(list(self.services.values())):
            self._converge(self.services[svc.name])

    @invariant()
    def no_incompatible_sharing(self) -> None:
        """Every IP's Services agree on non-empty keys and use disjoint ports."""
        for a in self.twins:
            by_ip: dict[int, list[tuple[str, str, tuple[Port, ...]]]] = defaultdict(list)
            for alloc in a.allocations().values():
                for key in alloc.keys:
                    by_ip[key].append((alloc.sharing, alloc.backend, alloc.ports))
            for users in by_ip.values():
                if len(users) > 1:
                    assert len({(s, b) for s, b, _ in users}) == 1
                    assert users[0][0] != ""
                    ports = [p for _, _, ps in users for p in ps]
                    assert len(ports) == len(set(ports))

    @invariant()
    def counters_match_recount(self) -> None:
        """Assigned/available per family equal a recount from the allocations."""
        for a in self.twins:
            used: dict[str, tuple[set[int], set[int]]] = {
                p.name: (set(), set()) for p in self.pools
            }
            for alloc in a.allocations().values():
                for key in alloc.keys:
                    used[alloc.pool][key >= 1 << 128].add(key)
            expected = {}
            for p in self.pools:
                v4, v6 = pool_capacity(p.ranges, avoid_buggy_ips=p.avoid_buggy_ips)
                n4, n6 = len(used[p.name][0]), len(used[p.name][1])
                expected[p.name] = PoolCounters(n4, n6, v4 - n4, v6 - n6)
            assert a.all_counters() == dict(sorted(expected.items()))

    @invariant()
    def ips_inside_their_pool_and_status(self) -> None:
        """Each allocation lies in its pool (never on a buggy IP it avoids) and is the status."""
        pools = {p.name: p for p in self.pools}
        for a in self.twins:
            for svc_key, alloc in a.allocations().items():
                pool = pools[alloc.pool]
                for ip in alloc.ips:
                    key = to_key(ip)
                    assert any(r.first_key <= key <= r.last_key for r in pool.ranges)
                    assert not (pool.avoid_buggy_ips and is_buggy_key(key))
                name = svc_key.split("/", 1)[1]
                assert tuple(map(str, alloc.ips)) == self.services[name].status_ips


AllocatorMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None
)
TestAllocatorMachine = AllocatorMachine.TestCase
