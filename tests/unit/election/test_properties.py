"""Election properties: every speaker agrees whatever the input order, removing a
non-owner never moves an IP, the owner is always eligible, and exactly one node announces."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.config.selectors import Selector
from metallb.election import (
    EXCLUDE_LB_LABEL,
    Advertisement,
    Endpoint,
    Node,
    PreferredNodeSelector,
    Service,
    elect,
    owner,
)

NAMES = [f"node-{i}" for i in range(8)]
LABEL_SETS = st.fixed_dictionaries(
    {},
    optional={
        "zone": st.sampled_from(["a", "b"]),
        "role": st.sampled_from(["edge", "worker"]),
    },
)
RARELY = st.sampled_from([False, False, False, True])
SELECTORS = st.sampled_from(
    [
        Selector(),
        Selector.of({"zone": "a"}),
        Selector.of({"zone": "b"}),
        Selector.of({"role": "edge"}),
    ]
)


@dataclass(frozen=True)
class World:
    """One cluster as every speaker sees it."""

    service: Service
    ads: tuple[Advertisement, ...]
    nodes: tuple[Node, ...]
    members: tuple[str, ...] | None
    ignore_exclude_lb: bool

    def owner(self) -> str | None:
        return owner(
            self.service,
            advertisements=self.ads,
            nodes=self.nodes,
            members=self.members,
            ignore_exclude_lb=self.ignore_exclude_lb,
        )

    def without(self, name: str) -> World:
        """The same world after node ``name`` vanished from the Nodes and the membership.

        Its endpoints stay: they are a separate input (Kubernetes marks them not ready
        much later), and losing the last endpoint anywhere rightly leaves no owner.
        """
        return World(
            self.service,
            self.ads,
            tuple(n for n in self.nodes if n.name != name),
            None if self.members is None else tuple(m for m in self.members if m != name),
            self.ignore_exclude_lb,
        )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    nodes = tuple(Node(n, draw(LABEL_SETS), network_unavailable=draw(st.booleans())) for n in names)
    members = draw(st.none() | st.lists(st.sampled_from(NAMES), unique=True).map(tuple))
    ads = tuple(
        Advertisement(
            f"ad{i}",
            node_selectors=tuple(draw(st.lists(SELECTORS, max_size=2))),
            service_selectors=tuple(draw(st.lists(SELECTORS, max_size=1))) if draw(RARELY) else (),
            preferred=tuple(
                PreferredNodeSelector(w, s)
                for w, s in draw(st.lists(st.tuples(st.integers(1, 100), SELECTORS), max_size=2))
            ),
        )
        for i in range(draw(st.integers(1, 3)))
    )
    endpoints = tuple(
        Endpoint(n, ready, serving)
        for n, ready, serving in draw(
            st.lists(
                st.tuples(
                    st.none() | st.sampled_from(NAMES),
                    st.none() | st.booleans(),
                    st.none() | st.booleans(),
                ),
                min_size=1,
                max_size=5,
            )
        )
    )
    ip = draw(
        st.integers(0, 2**32 - 1).map(IPv4Address) | st.integers(0, 2**128 - 1).map(IPv6Address)
    )
    service = Service(
        ip,
        labels=draw(LABEL_SETS),
        shared_ip=draw(RARELY),
        local_traffic_policy=draw(RARELY),
        endpoints=endpoints,
    )
    return World(service, ads, nodes, members, draw(st.booleans()))


SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(world=worlds(), data=st.data())
def test_any_input_order_elects_the_same_owner_on_every_node(
    world: World, data: st.DataObject
) -> None:
    """Shuffling nodes, members, ads and endpoints changes neither ranking nor owner."""
    shuffled = World(
        Service(
            world.service.ip,
            world.service.labels,
            world.service.shared_ip,
            world.service.local_traffic_policy,
            tuple(data.draw(st.permutations(world.service.endpoints))),
        ),
        tuple(data.draw(st.permutations(world.ads))),
        tuple(data.draw(st.permutations(world.nodes))),
        None if world.members is None else tuple(data.draw(st.permutations(world.members))),
        world.ignore_exclude_lb,
    )
    assert shuffled.owner() == world.owner()
    for node in world.nodes:
        mine = elect(
            node.name,
            world.service,
            advertisements=world.ads,
            nodes=world.nodes,
            members=world.members,
            ignore_exclude_lb=world.ignore_exclude_lb,
        )
        theirs = elect(
            node.name,
            shuffled.service,
            advertisements=shuffled.ads,
            nodes=shuffled.nodes,
            members=shuffled.members,
            ignore_exclude_lb=shuffled.ignore_exclude_lb,
        )
        assert mine == theirs


@SETTINGS
@given(world=worlds(), data=st.data())
def test_removing_a_non_owner_never_moves_the_ip(world: World, data: st.DataObject) -> None:
    """Any node but the owner may vanish; the owner stays (no churn on failures elsewhere)."""
    current = world.owner()
    others = [n.name for n in world.nodes if n.name != current]
    if others:
        gone = data.draw(st.sampled_from(others))
        assert world.without(gone).owner() == current


@SETTINGS
@given(world=worlds())
def test_the_owner_is_always_eligible(world: World) -> None:
    """The owner is live, reachable, not excluded, selected, and serves Local traffic."""
    winner = world.owner()
    if winner is None:
        return
    node = next(n for n in world.nodes if n.name == winner)
    assert world.members is None or winner in world.members
    assert not node.network_unavailable
    assert world.ignore_exclude_lb or EXCLUDE_LB_LABEL not in node.labels
    applicable = [ad for ad in world.ads if ad.applies_to(world.service.labels)]
    assert any(ad.selects_node(node) for ad in applicable)
    assert not (world.service.shared_ip and any(ad.service_selectors for ad in applicable))
    if world.service.local_traffic_policy:
        assert any(ep.node_name == winner and ep.can_serve for ep in world.service.endpoints)


@SETTINGS
@given(world=worlds())
def test_exactly_the_owner_announces(world: World) -> None:
    """Across all nodes, only the owner gets no reason; everyone else names one."""
    announcing = [
        n.name
        for n in world.nodes
        if elect(
            n.name,
            world.service,
            advertisements=world.ads,
            nodes=world.nodes,
            members=world.members,
            ignore_exclude_lb=world.ignore_exclude_lb,
        ).reason
        is None
    ]
    winner = world.owner()
    assert announcing == ([] if winner is None else [winner])
