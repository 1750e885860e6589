"""Layer 2 election tables: upstream's examples, hand-computed hashes, each filter and reason."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from metallb.config.selectors import Requirement, Selector
from metallb.election import (
    EXCLUDE_LB_LABEL,
    Advertisement,
    Election,
    Endpoint,
    Node,
    PreferredNodeSelector,
    Reason,
    Service,
    elect,
    election_key,
    owner,
    preference_scores,
    rank,
)
from metallb.election.ranking import go_ip_string

IP = IPv4Address("10.0.0.1")  # hash order node-b, node-a, node-c (see the hash table below)
READY = (Endpoint("node-a"),)
ALL = Advertisement("all")


# --- ordering -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidates", "ip", "scores", "want"),
    [
        pytest.param([], "10.0.0.1", {}, [], id="empty"),
        pytest.param(["node-a"], "10.0.0.1", {}, ["node-a"], id="single"),
        pytest.param(
            ["node-a", "node-b", "node-c"],
            "10.0.0.1",
            {},
            ["node-b", "node-a", "node-c"],
            id="hash",
        ),
        pytest.param(
            ["node-a", "node-b", "node-c"],
            "10.0.0.2",
            {},
            ["node-b", "node-c", "node-a"],
            id="ip matters",
        ),
        pytest.param(
            ["edge-a", "edge-b", "worker-a", "worker-b"],
            "10.20.30.1",
            {"edge-a": 100},
            ["edge-a", "edge-b", "worker-a", "worker-b"],
            id="score beats hash",
        ),
        pytest.param(
            ["node-a", "node-b"],
            "10.20.30.1",
            {"node-a": 100, "node-b": 100},
            ["node-b", "node-a"],
            id="tie",
        ),
        pytest.param(
            ["edge-a", "edge-b", "worker-a"],
            "10.20.30.1",
            {"edge-a": 100, "edge-b": 100},
            ["edge-b", "edge-a", "worker-a"],
            id="preferred group first",
        ),
        pytest.param(["iris1", "iris2"], "10.20.30.1", {}, ["iris2", "iris1"], id="iris .1"),
        pytest.param(["iris1", "iris2"], "10.20.30.2", {}, ["iris1", "iris2"], id="iris .2"),
    ],
)
def test_rank_matches_upstream_examples(
    candidates: list[str], ip: str, scores: dict[str, int], want: list[str]
) -> None:
    """upstream's TestSortL2Candidates rows and its documented examples, any input order."""
    assert rank(candidates, ip_address(ip), scores) == tuple(want)
    assert rank(reversed(candidates), ip_address(ip), scores) == tuple(want)


@pytest.mark.parametrize(
    ("node", "ip", "prefix"),
    [
        # Computed outside Python: printf '%s' 'node-a#10.0.0.1' | sha256sum
        ("node-a", "10.0.0.1", "dd41591fe8f31f9f"),
        ("node-b", "10.0.0.1", "2acae88581fd8b47"),
        ("node-c", "10.0.0.1", "f949561f9d43a768"),
        ("iris1", "10.20.30.2", "610c5b6d22f60ca5"),
        ("iris2", "10.20.30.2", "6429fb4c07eeae89"),
        ("node-a", "2001:db8::1", "3c9f88a7e2ef52a1"),
        ("node-b", "2001:db8::1", "1aee61dde2bd8a0c"),
        ("node-a", "::ffff:192.0.2.1", "9028b03eebd9c50f"),  # Go prints it as 192.0.2.1
    ],
)
def test_election_key_is_sha256_of_node_hash_ip(node: str, ip: str, prefix: str) -> None:
    """The key is SHA-256 over "<node>#<Go text of ip>", checked against coreutils."""
    assert election_key(node, ip_address(ip)).hex().startswith(prefix)


def test_go_ip_string() -> None:
    """RFC 5952 text for IPv6 (as Go), dotted quad for IPv4-mapped (as Go)."""
    assert go_ip_string(IPv6Address("2001:0db8:0000:0000:0000:0000:0000:0001")) == "2001:db8::1"
    assert go_ip_string(IPv6Address("2001:db8:0:1:1:1:1:1")) == "2001:db8:0:1:1:1:1:1"
    assert go_ip_string(IPv6Address("::ffff:10.0.0.1")) == "10.0.0.1"
    assert go_ip_string(IPv4Address("10.0.0.1")) == "10.0.0.1"


# --- the decision -------------------------------------------------------------------


def nodes(*names: str, **labels: dict[str, str]) -> list[Node]:
    """Plain nodes, with labels for those named in ``labels``."""
    return [Node(n, labels.get(n.replace("-", "_"), {})) for n in names]


ABC = nodes("node-a", "node-b", "node-c")


def run(
    my_node: str = "node-b",
    *,
    service: Service | None = None,
    ads: Iterable[Advertisement] = (ALL,),
    all_nodes: Iterable[Node] = ABC,
    members: Collection[str] | None = ("node-a", "node-b", "node-c"),
    ignore_exclude_lb: bool = False,
) -> Election:
    """elect() with defaults: three live nodes, one catch-all ad, one ready endpoint."""
    return elect(
        my_node,
        service or Service(IP, endpoints=READY),
        advertisements=ads,
        nodes=all_nodes,
        members=members,
        ignore_exclude_lb=ignore_exclude_lb,
    )


def test_hash_winner_announces_and_the_others_know_who() -> None:
    """node-b hashes first for 10.0.0.1: it announces, node-a and node-c do not."""
    assert run("node-b") == Election(("node-b", "node-a", "node-c"), None)
    assert run("node-a") == Election(("node-b", "node-a", "node-c"), Reason.NOT_OWNER)
    assert run("node-c").owner == "node-b"


@pytest.mark.parametrize(
    "endpoints",
    [
        pytest.param((), id="no endpoints"),
        pytest.param((Endpoint("node-a", ready=False),), id="not ready, serving unset"),
        pytest.param((Endpoint("node-a", ready=False, serving=False),), id="not ready nor serving"),
    ],
)
def test_no_endpoint_that_can_serve_means_nobody_announces(endpoints: tuple[Endpoint, ...]) -> None:
    """Step 1: without an endpoint that can serve there is no owner at all."""
    result = run(service=Service(IP, endpoints=endpoints))
    assert result == Election((), Reason.NO_ACTIVE_ENDPOINT)
    assert result.reason is not None
    assert result.reason.upstream == "notOwner"


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(Endpoint("node-a"), id="ready unset"),
        pytest.param(Endpoint("node-a", ready=True), id="ready"),
        pytest.param(Endpoint("node-a", ready=False, serving=True), id="terminating but serving"),
        pytest.param(Endpoint(None), id="no node name still counts"),
    ],
)
def test_endpoints_that_can_serve(endpoint: Endpoint) -> None:
    """EndpointCanServe: ready unset or true, or serving true."""
    assert run(service=Service(IP, endpoints=(endpoint,))).reason is None


def test_shared_ip_with_service_selectors_is_refused() -> None:
    """Step 3: allow-shared-ip plus an applicable ad with serviceSelectors: nobody."""
    ad = Advertisement("sel", service_selectors=(Selector.of({"app": "web"}),))
    service = Service(IP, labels={"app": "web"}, shared_ip=True, endpoints=READY)
    result = run(service=service, ads=(ad,))
    assert result == Election((), Reason.SHARED_IP_WITH_SERVICE_SELECTOR)
    assert result.reason is not None
    assert result.reason.upstream == "sharedIPWithServiceSelector"
    assert run(service=Service(IP, shared_ip=True, endpoints=READY)).reason is None


def test_node_not_selected_by_any_applicable_ad() -> None:
    """Step 4: this node outside every ad's nodeSelectors: noMatchingAdvertisement."""
    labelled = nodes("node-a", "node-b", "node-c", node_a={"zone": "a"}, node_c={"zone": "a"})
    ad = Advertisement("zone-a", node_selectors=(Selector.of({"zone": "a"}),))
    result = run("node-b", ads=(ad,), all_nodes=labelled)
    assert result.reason is Reason.NO_MATCHING_ADVERTISEMENT
    assert result.owner == "node-a"  # node-b, first by hash, is not a candidate


def test_ads_whose_service_selectors_do_not_match_do_not_apply() -> None:
    """Step 2: an ad for other Services neither selects nor elects anyone."""
    ad = Advertisement("other", service_selectors=(Selector.of({"app": "db"}),))
    assert run(ads=(ad,)) == Election((), Reason.NO_MATCHING_ADVERTISEMENT)
    assert run(ads=(ad,), service=Service(IP, labels={"app": "db"}, endpoints=READY)).reason is None


@pytest.mark.parametrize(
    ("all_nodes", "members", "ignore", "want"),
    [
        pytest.param(
            [*nodes("node-a", "node-c"), Node("node-b", network_unavailable=True)],
            ("node-a", "node-b", "node-c"),
            False,
            "node-a",
            id="NetworkUnavailable",
        ),
        pytest.param(
            [*nodes("node-a", "node-c"), Node("node-b", {EXCLUDE_LB_LABEL: ""})],
            ("node-a", "node-b", "node-c"),
            False,
            "node-a",
            id="exclude label, any value",
        ),
        pytest.param(
            [*nodes("node-a", "node-c"), Node("node-b", {EXCLUDE_LB_LABEL: "false"})],
            ("node-a", "node-b", "node-c"),
            True,
            "node-b",
            id="exclude label ignored",
        ),
        pytest.param(ABC, ("node-a", "node-c"), False, "node-a", id="not a live member"),
        pytest.param(ABC, None, False, "node-b", id="memberlist disabled: every Node"),
        pytest.param(
            nodes("node-a", "node-c"),
            ("node-a", "node-b", "node-c"),
            False,
            "node-a",
            id="member without a Node object",
        ),
    ],
)
def test_candidate_filters(
    all_nodes: list[Node], members: tuple[str, ...] | None, ignore: bool, want: str
) -> None:
    """Step 5: each filter removes node-b (the hash winner), so node-a wins instead."""
    result = run("node-a", all_nodes=all_nodes, members=members, ignore_exclude_lb=ignore)
    assert result.owner == want
    assert (result.reason is None) == (want == "node-a")


def test_ready_condition_of_the_node_is_not_consulted() -> None:
    """Upstream ignores the Node Ready condition; only NetworkUnavailable matters."""
    assert run(all_nodes=[Node("node-b", {"ready": "false"}), *nodes("node-a")]).owner == "node-b"


def test_local_policy_keeps_only_nodes_with_serving_endpoints() -> None:
    """Step 6: with Local, node-b (no endpoint) and node-c (endpoint not ready) drop out."""
    endpoints = (
        Endpoint("node-a"),
        Endpoint("node-c", ready=False, serving=False),
        Endpoint("node-d"),  # not a member: ignored
    )
    service = Service(IP, local_traffic_policy=True, endpoints=endpoints)
    assert run("node-a", service=service) == Election(("node-a",), None)
    cluster = Service(IP, endpoints=endpoints)
    assert run("node-a", service=cluster).owner == "node-b"


def test_no_candidates_left() -> None:
    """Everyone filtered out: no owner, reason noCandidates (upstream: notOwner)."""
    service = Service(IP, local_traffic_policy=True, endpoints=(Endpoint("elsewhere"),))
    result = run(service=service)
    assert result == Election((), Reason.NO_CANDIDATES)
    assert result.reason is not None
    assert result.reason.upstream == "notOwner"


def test_my_node_out_of_the_membership_still_reports_the_owner() -> None:
    """A node that memberlist considers dead computes the same owner and stays quiet."""
    result = run("node-b", members=("node-a", "node-c"))
    assert result == Election(("node-a", "node-c"), Reason.NOT_OWNER)


def test_preferred_node_selectors_outweigh_the_hash() -> None:
    """A weight on node-c's zone makes it win over node-b, the hash winner."""
    labelled = nodes("node-a", "node-b", "node-c", node_c={"zone": "z"})
    ad = Advertisement("pref", preferred=(PreferredNodeSelector(10, Selector.of({"zone": "z"})),))
    assert run("node-c", ads=(ad,), all_nodes=labelled) == Election(
        ("node-c", "node-b", "node-a"), None
    )


def test_preference_scores_sum_weights_and_ads_but_only_for_selected_nodes() -> None:
    """Weights add up within an ad and across ads; an ad scores only nodes it selects."""
    labelled = nodes(
        "node-a",
        "node-b",
        "node-c",
        node_a={"zone": "z", "disk": "ssd"},
        node_b={"zone": "z"},
        node_c={"zone": "z"},
    )
    zone, ssd = Selector.of({"zone": "z"}), Selector.of({"disk": "ssd"})
    first = Advertisement(
        "1", preferred=(PreferredNodeSelector(5, zone), PreferredNodeSelector(7, ssd))
    )
    only_c = Advertisement(
        "2",
        node_selectors=(Selector.of({"zone": "z"}, Requirement("disk", "DoesNotExist")),),
        preferred=(PreferredNodeSelector(3, Selector()),),
    )
    assert preference_scores((first, only_c), labelled) == {"node-a": 12, "node-b": 8, "node-c": 8}
    assert run(ads=(first, only_c), all_nodes=labelled).owner == "node-a"


def test_owner_matches_the_winners_view() -> None:
    """owner() (for plan) agrees with the node that elect() lets announce."""
    for service, want in ((Service(IP, endpoints=READY), "node-b"), (Service(IP), None)):
        assert owner(service, advertisements=(ALL,), nodes=ABC, members=None) == want


# --- label selectors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "labels", "want"),
    [
        (
            Requirement(
                "zone",
                "In",
                (
                    "a",
                    "b",
                ),
            ),
            {"zone": "a"},
            True,
        ),
        (
            Requirement(
                "zone",
                "In",
                (
                    "a",
                    "b",
                ),
            ),
            {"zone": "c"},
            False,
        ),
        (Requirement("zone", "In", ("a",)), {}, False),
        (Requirement("zone", "NotIn", ("a",)), {"zone": "b"}, True),
        (Requirement("zone", "NotIn", ("a",)), {"zone": "a"}, False),
        (Requirement("zone", "NotIn", ("a",)), {}, True),
        (Requirement("zone", "Exists"), {"zone": ""}, True),
        (Requirement("zone", "Exists"), {}, False),
        (Requirement("zone", "DoesNotExist"), {}, True),
        (Requirement("zone", "DoesNotExist"), {"zone": "a"}, False),
    ],
)
def test_requirement_semantics(
    requirement: Requirement, labels: dict[str, str], want: bool
) -> None:
    """Kubernetes matchExpressions semantics, NotIn matching an absent key included."""
    assert requirement.matches(labels) is want


def test_selector_ands_labels_and_expressions() -> None:
    """matchLabels and matchExpressions must all hold; the empty selector matches all."""
    selector = Selector.of({"zone": "a"}, Requirement("role", "Exists"))
    assert selector.matches({"zone": "a", "role": "x"})
    assert not selector.matches({"zone": "a"})
    assert not selector.matches({"zone": "b", "role": "x"})
    assert Selector().matches({})
