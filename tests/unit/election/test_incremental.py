"""The incremental election (metallb.election.incremental) against the plain one.

Random clusters go through random sequences of changes (members leaving and joining,
Nodes relabelled, made unavailable, deleted and re-created, Services changing); after
each one, every node's outcome for every Service from :class:`Elector` must equal
:func:`metallb.election.elect`'s, and :meth:`Elector.update` must name exactly the
Services whose owner moved.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.election import Advertisement, Node, Service, elect
from metallb.election.incremental import Elector, Outcome
from tests.unit.election.test_properties import LABEL_SETS, NAMES, World, worlds

Cluster = tuple[
    dict[str, Service], tuple[Advertisement, ...], tuple[Node, ...], tuple[str, ...] | None
]


def plain(my_node: str, service: Service, cluster: Cluster, ignore: bool) -> Outcome:
    _, ads, nodes, members = cluster
    result = elect(
        my_node, service, advertisements=ads, nodes=nodes, members=members, ignore_exclude_lb=ignore
    )
    return Outcome(result.owner, result.reason)


def check(elector: Elector, cluster: Cluster, ignore: bool) -> dict[str, str | None]:
    """Every node's outcome for every Service agrees; returns the owners."""
    services, ads, _, _ = cluster
    owners = {}
    for key, service in services.items():
        for me in [*NAMES, "not-a-node"]:
            got = elector.elect(key, me, service, ads)
            assert got == plain(me, service, cluster, ignore), (key, me)
        owners[key] = got.owner
    return owners


NODE_CHANGE = st.sampled_from(["leave", "join", "relabel", "unavailable", "delete", "create"])


@st.composite
def services(draw: st.DrawFn) -> dict[str, Service]:
    """A few Services, their IPs drawn apart so they rank nodes differently."""
    count = draw(st.integers(1, 4))
    out = {}
    for i in range(count):
        svc = draw(worlds()).service
        ip = draw(st.integers(0, 2**32 - 1).map(IPv4Address) | st.just(IPv6Address(2**100 + i)))
        out[f"ns/svc-{i}"] = replace(svc, ip=ip)
    return out


@settings(max_examples=300, deadline=None)
@given(
    world=worlds(),
    svcs=services(),
    changes=st.lists(st.tuples(NODE_CHANGE, st.sampled_from(NAMES), LABEL_SETS), max_size=8),
    data=st.data(),
)
def test_incremental_elector_matches_the_plain_election(
    world: World,
    svcs: dict[str, Service],
    changes: list[tuple[str, str, dict[str, str]]],
    data: st.DataObject,
) -> None:
    ignore = world.ignore_exclude_lb
    nodes, members = world.nodes, world.members
    cluster: Cluster = (svcs, world.ads, nodes, members)
    elector = Elector(ignore_exclude_lb=ignore)
    elector.update(nodes, members)
    owners = check(elector, cluster, ignore)
    for kind, name, labels in changes:
        node_map = {n.name: n for n in nodes}
        live = list(node_map) if members is None else list(members)
        if kind == "leave":
            live = [m for m in live if m != name]
        elif kind == "join" and name not in live:
            live.append(name)
        elif kind == "relabel" and name in node_map:
            node_map[name] = Node(name, labels, node_map[name].network_unavailable)
        elif kind == "unavailable" and name in node_map:
            old = node_map[name]
            node_map[name] = Node(name, old.labels, not old.network_unavailable)
        elif kind == "delete":
            node_map.pop(name, None)
        elif kind == "create" and name not in node_map:
            node_map[name] = Node(name, labels)
        # Membership disabled stays disabled, but the Node set still moves its owners.
        if members is not None:
            members = tuple(data.draw(st.permutations(live)))
        nodes = tuple(node_map.values())
        edited = None
        if data.draw(st.booleans()):
            # A Service changes too (its labels): the cache must notice.
            edited = data.draw(st.sampled_from(sorted(svcs)))
            svcs = {**svcs, edited: replace(svcs[edited], labels=labels)}
        cluster = (svcs, world.ads, nodes, members)
        moved = elector.update(nodes, members)
        # Owners the change moved, by the plain election, for the Services that did not
        # change themselves (a changed Service is re-decided anyway).
        new = {k: plain(NAMES[0], s, cluster, ignore).owner for k, s in svcs.items()}
        unchanged = set(svcs) - {edited}
        assert {k for k in unchanged if new[k] != owners[k]} == moved & unchanged
        owners = check(elector, cluster, ignore)
