"""The speaker's BGP decision per node: table tests of each upstream rule (upstream's
speaker/bgp_controller.go), the routes per peer with their attributes, ServiceBGPStatus, and order
independence."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metallb import views
from metallb.config.build import build_config
from metallb.config.community import parse_community
from metallb.config.types import Config
from metallb.election.ranking import Node
from metallb.speaker import bgp_decision
from metallb.speaker.bgp_decision import Announce, Reason, Route, Withdraw
from tests.unit.speaker.objects import core

NS = "metallb-system"


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = "metallb.io/v1beta2" if kind == "BGPPeer" else "metallb.io/v1beta1"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def pool(name: str = "p", *addresses: str) -> dict[str, Any]:
    return obj("IPAddressPool", name, {"addresses": list(addresses or ("198.51.100.0/24",))})


def peer(name: str, my: int = 64512, asn: int = 64512, **spec: Any) -> dict[str, Any]:
    return obj("BGPPeer", name, {"myASN": my, "peerASN": asn, "peerAddress": "192.0.2.1", **spec})


def ad(name: str = "a", **spec: Any) -> dict[str, Any]:
    return obj("BGPAdvertisement", name, {"ipAddressPools": ["p"], **spec})


def config(*objects: dict[str, Any], frr: bool = False) -> Config:
    return build_config(list(objects), namespace=NS, bgp_type="frr" if frr else "native")


def service(
    *ips: str, name: str = "web", labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {"type": "LoadBalancer", **spec},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips or ("198.51.100.7",)]}},
    }


def eps(*endpoints: tuple[str | None, str, bool], name: str = "web") -> dict[str, Any]:
    """An EndpointSlice of ``(node, address, ready)`` endpoints."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-x",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": name},
        },
        "endpoints": [
            {"nodeName": n, "addresses": [a], "conditions": {"ready": r}} for n, a, r in endpoints
        ],
    }


READY_N1 = [eps(("n1", "10.0.0.1", True))]
EXCLUDED = Node("n1", {"node.kubernetes.io/exclude-from-external-load-balancers": ""})
UNAVAILABLE = Node("n1", {}, network_unavailable=True)
ZONE_B = [{"matchLabels": {"zone": "b"}}]
APP_DB = [{"matchLabels": {"app": "db"}}]
APP_WEB = [{"matchLabels": {"app": "web"}}]
N1 = Node("n1", {"zone": "a"})
N2 = Node("n2", {"zone": "b"})
V4 = ip_network("198.51.100.7/32")


def decide(
    cfg: Config, svc: dict[str, Any], node: Node = N1, slices: Any = None, **kw: Any
) -> bgp_decision.Decision:
    view, endpoints = core(svc, READY_N1 if slices is None else slices)
    return bgp_decision.decide(cfg, view, node=node, endpoints=endpoints, **kw)


BASIC = (pool(), peer("r1"), ad())


@pytest.mark.parametrize(
    ("objects", "svc", "node", "slices", "reason"),
    [
        pytest.param(
            BASIC,
            {**service(), "spec": {"type": "ClusterIP"}},
            N1,
            None,
            Reason.NOT_HANDLED,
            id="not a LoadBalancer",
        ),
        pytest.param(
            BASIC,
            service(loadBalancerClass="other"),
            N1,
            None,
            Reason.NOT_HANDLED,
            id="other class",
        ),
        pytest.param(
            BASIC, {**service(), "status": {}}, N1, None, Reason.NO_IP, id="no ingress yet"
        ),
        pytest.param(
            BASIC, service("203.0.113.9"), N1, None, Reason.NOT_IN_POOL, id="IP outside every pool"
        ),
        pytest.param(
            (pool(), peer("r1")),
            service(),
            N1,
            None,
            Reason.NO_BGP_ADVERTISEMENT,
            id="pool without ads",
        ),
        pytest.param(
            (pool(), peer("r1"), ad(nodeSelectors=ZONE_B)),
            service(),
            N1,
            None,
            Reason.NOT_OWNER,
            id="ad selects other nodes",
        ),
        pytest.param(
            (pool(), peer("r1"), ad(serviceSelectors=APP_DB)),
            service(),
            N1,
            None,
            Reason.NO_MATCHING_ADVERTISEMENT,
            id="service selector misses",
        ),
        pytest.param(
            (
                pool(),
                peer("r1"),
                ad("a", localPref=100),
                ad("b", localPref=200, serviceSelectors=APP_WEB),
            ),
            service(),
            N1,
            None,
            Reason.CONFLICTING_ADVERTISEMENTS,
            id="two localPrefs for the same peers",
        ),
        pytest.param(
            BASIC, service(), UNAVAILABLE, None, Reason.NETWORK_UNAVAILABLE, id="NetworkUnavailable"
        ),
        pytest.param(BASIC, service(), EXCLUDED, None, Reason.EXCLUDED, id="exclude label"),
        pytest.param(
            BASIC,
            service(externalTrafficPolicy="Local"),
            N2,
            None,
            Reason.NO_LOCAL_ENDPOINTS,
            id="Local, endpoint elsewhere",
        ),
        pytest.param(BASIC, service(), N1, [], Reason.NO_ENDPOINTS, id="Cluster, no endpoints"),
        pytest.param(
            BASIC,
            service(),
            N1,
            [eps(("n1", "10.0.0.1", False))],
            Reason.NO_ENDPOINTS,
            id="Cluster, endpoint not ready",
        ),
        pytest.param(
            BASIC,
            service(),
            N1,
            [eps(("n1", "10.0.0.1", True), name="other")],
            Reason.NO_ENDPOINTS,
            id="another Service's slice",
        ),
        pytest.param(
            BASIC,
            service(externalTrafficPolicy="Local"),
            N1,
            [eps((None, "10.0.0.1", True))],
            Reason.NO_LOCAL_ENDPOINTS,
            id="Local, endpoint without node",
        ),
    ],
)
def test_withdraw_reasons(
    objects: tuple[dict[str, Any], ...],
    svc: dict[str, Any],
    node: Node,
    slices: Any,
    reason: Reason,
) -> None:
    """Each upstream rule, on its own, stops this node from advertising, with its reason."""
    assert decide(config(*objects), svc, node, slices) == Withdraw(reason)


def test_exclude_label_can_be_ignored() -> None:
    """--ignore-exclude-lb: a labelled node advertises."""
    assert isinstance(decide(config(*BASIC), service(), EXCLUDED, ignore_exclude_lb=True), Announce)


def test_cluster_policy_advertises_from_every_node_when_an_endpoint_serves_anywhere() -> None:
    """Cluster: n2 hosts nothing and still advertises (ECMP); Local: only n1 does."""
    cfg = config(*BASIC)
    assert isinstance(decide(cfg, service(), N2), Announce)
    assert isinstance(decide(cfg, service(externalTrafficPolicy="Local"), N1), Announce)
    terminating = [
        {
            **READY_N1[0],
            "endpoints": [
                {
                    "nodeName": "n1",
                    "addresses": ["10.0.0.1"],
                    "conditions": {"ready": False, "serving": True},
                }
            ],
        }
    ]
    assert isinstance(
        decide(cfg, service(externalTrafficPolicy="Local"), N1, terminating), Announce
    )


def test_ibgp_route_carries_localpref_and_communities() -> None:
    """iBGP peer: localPref and both kinds of communities, aliases resolved, sorted."""
    alias = obj("Community", "c", {"communities": [{"name": "gold", "value": "large:64512:1:2"}]})
    cfg = config(
        pool(),
        peer("r1"),
        alias,
        ad(localPref=150, communities=["64512:200", "gold", "64512:100"]),
        frr=True,
    )
    got = decide(cfg, service())
    assert got == Announce(
        "p",
        ("198.51.100.7",),
        {
            "r1": (
                Route(
                    V4,
                    150,
                    (parse_community("64512:100"), parse_community("64512:200")),
                    (parse_community("large:64512:1:2"),),
                ),
            )
        },
    )


def test_ebgp_route_has_no_localpref() -> None:
    """LOCAL_PREF is for iBGP only: an eBGP peer gets None whatever the ad says."""
    cfg = config(pool(), peer("r1", asn=64513), ad(localPref=150))
    got = decide(cfg, service())
    assert isinstance(got, Announce)
    assert got.routes["r1"] == (Route(V4, None),)


def test_aggregation_lengths_mask_each_family() -> None:
    """aggregationLength(V6) mask the IPs: a dual-stack Service gives a /24 and a /64."""
    cfg = config(
        pool("p", "198.51.100.0/24", "2001:db8:1::/64"),
        peer("r1"),
        ad(aggregationLength=24, aggregationLengthV6=64),
        frr=True,
    )
    got = decide(cfg, service("198.51.100.7", "2001:db8:1::7"))
    assert isinstance(got, Announce)
    assert [r.prefix for r in got.routes["r1"]] == [
        ip_network("198.51.100.0/24"),
        ip_network("2001:db8:1::/64"),
    ]


def test_peers_field_and_peer_node_selectors() -> None:
    """`peers` restricts an ad to named peers; a peer whose nodeSelectors miss the node
    has no session there, so gets nothing even if named."""
    cfg = config(
        pool(),
        peer("r1"),
        peer("r2", peerAddress="192.0.2.2"),
        peer("r3", peerAddress="192.0.2.3", nodeSelectors=ZONE_B),
        ad("only-r2-r3", peers=["r2", "r3"], communities=["64512:1"]),
        ad("all", aggregationLength=24),
    )
    got = decide(cfg, service())
    assert isinstance(got, Announce)
    assert got.peers == ("r1", "r2")
    assert [r.prefix for r in got.routes["r1"]] == [ip_network("198.51.100.0/24")]
    assert [str(r.prefix) for r in got.routes["r2"]] == ["198.51.100.0/24", "198.51.100.7/32"]
    assert [p.name for p in bgp_decision.sessions(cfg, N1)] == ["r1", "r2"]
    assert [p.name for p in bgp_decision.sessions(cfg, N2)] == ["r1", "r2", "r3"]


def test_same_prefix_from_two_ads_merges_communities() -> None:
    """Two ads, same prefix and localPref, different communities: one route with the union
    (upstream's native session merges them so; FRR's route maps add them up)."""
    cfg = config(
        pool(),
        peer("r1"),
        ad("a", communities=["64512:2"]),
        ad("b", communities=["64512:1", "64512:2"]),
    )
    got = decide(cfg, service())
    assert isinstance(got, Announce)
    assert got.routes["r1"] == (
        Route(V4, 0, (parse_community("64512:1"), parse_community("64512:2"))),
    )


def test_different_localpref_for_disjoint_peers_is_no_conflict() -> None:
    """Different localPref is fine when the ads go to different peers."""
    cfg = config(
        pool(),
        peer("r1"),
        peer("r2", peerAddress="192.0.2.2"),
        ad("a", localPref=100, peers=["r1"]),
        ad("b", localPref=200, peers=["r2"], serviceSelectors=APP_WEB),
    )
    got = decide(cfg, service())
    assert isinstance(got, Announce)
    assert (got.routes["r1"][0].local_pref, got.routes["r2"][0].local_pref) == (100, 200)


def test_status_names_sorted_peers_or_nothing() -> None:
    """ServiceBGPStatus: node, Service, sorted peers; none when not advertising."""
    cfg = config(pool(), peer("zz"), peer("aa", peerAddress="192.0.2.2"), ad())
    svc = service()
    st_ = bgp_decision.status(views.Service.from_dict(svc), "n1", decide(cfg, svc))
    assert st_ is not None
    assert st_.to_json() == {
        "node": "n1",
        "serviceName": "web",
        "serviceNamespace": "default",
        "peers": ["aa", "zz"],
    }
    assert (
        bgp_decision.status(views.Service.from_dict(svc), "n1", decide(cfg, svc, slices=[])) is None
    )


def test_ips_argument_overrides_status() -> None:
    """`metallb plan` passes freshly allocated IPs for a Service without status."""
    cfg = config(*BASIC)
    svc = {**service(), "status": {}}
    got = decide(cfg, svc, ips=["198.51.100.9"])
    assert isinstance(got, Announce)
    assert got.ips == ("198.51.100.9",)


def test_peer_tables_merge_services_sharing_an_ip() -> None:
    """Two Services sharing one IP, one of them matched by an extra ad: one route per peer
    carrying the communities of both."""
    cfg = config(
        pool(),
        peer("r1"),
        ad("a", communities=["64512:1"]),
        ad("b", communities=["64512:2"], serviceSelectors=APP_DB),
    )
    one = decide(cfg, service("198.51.100.7"))
    db_slices = [eps(("n1", "10.0.0.2", True), name="db")]
    two = decide(cfg, service("198.51.100.7", name="db", labels={"app": "db"}), slices=db_slices)
    assert isinstance(one, Announce)
    assert isinstance(two, Announce)
    assert [str(c) for c in one.routes["r1"][0].communities] == ["64512:1"]
    table = bgp_decision.peer_tables([one, two])
    assert list(table) == ["r1"]
    (route,) = table["r1"].values()
    assert [str(c) for c in route.communities] == ["64512:1", "64512:2"]


# -- properties ----------------------------------------------------------------------

COMMS = st.lists(
    st.sampled_from(["64512:1", "64512:2", "64512:3", "large:64512:1:1"]), unique=True, max_size=3
)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A config of 1-3 peers and 1-3 ads, and an endpoint list in some order."""
    npeers = draw(st.integers(1, 3))
    peers = [
        peer(f"r{i}", asn=draw(st.sampled_from([64512, 64513])), peerAddress=f"192.0.2.{i + 1}")
        for i in range(npeers)
    ]
    ads = []
    for i in range(draw(st.integers(1, 3))):
        spec: dict[str, Any] = {
            "communities": draw(COMMS),
            "aggregationLength": draw(st.sampled_from([24, 32])),
        }
        if draw(st.booleans()):
            spec["peers"] = draw(
                st.lists(
                    st.sampled_from([p["metadata"]["name"] for p in peers]), min_size=1, unique=True
                )
            )
        ads.append(ad(f"a{i}", **spec))
    endpoints = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["n1", "n2", None]),
                st.sampled_from(["10.0.0.1", "10.0.0.2"]),
                st.booleans(),
            ),
            max_size=4,
        )
    )
    return [pool(), *peers, *ads], [eps(e) for e in endpoints]


@settings(max_examples=60, deadline=None)
@given(scenario(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(
    case: tuple[list[dict[str, Any]], list[dict[str, Any]]], rnd: Any
) -> None:
    """Shuffling the configuration objects and the EndpointSlices changes nothing."""
    objects, slices = case
    svc = service()
    first = decide(config(*objects, frr=True), svc, slices=slices)
    rnd.shuffle(objects)
    rnd.shuffle(slices)
    assert decide(config(*objects, frr=True), svc, slices=slices) == first


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["198.51.100.7", "198.51.100.8"]), COMMS, st.sampled_from([24, 32])
        ),
        min_size=1,
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_peer_tables_do_not_depend_on_service_order(
    services: list[tuple[str, list[str], int]], rnd: Any
) -> None:
    """Merging many Services' routes per peer gives the same table in any order."""
    announces = [
        Announce(
            "p",
            (ip,),
            {
                "r1": (
                    Route(
                        ip_network(f"{ip}/{length}", strict=False),
                        None,
                        tuple(
                            sorted(parse_community(c) for c in comms if not c.startswith("large"))
                        ),
                    ),
                )
            },
        )
        for ip, comms, length in services
    ]
    first = bgp_decision.peer_tables(announces)
    rnd.shuffle(announces)
    assert bgp_decision.peer_tables(announces) == first


def test_one_serving_listing_of_an_address_is_enough() -> None:
    """Upstream's hasHealthyEndpoint (speaker/bgp_controller.go, current): the first
    endpoint with addresses that can serve settles it, even when another slice lists the
    same address as not ready (older upstream versions combined them per address)."""
    slices = [eps(("n1", "10.0.0.1", True)), eps(("n1", "10.0.0.1", False))]
    assert isinstance(decide(config(*BASIC), service(), N1, slices), Announce)
    assert decide(config(*BASIC), service(), N1, [eps(("n1", "10.0.0.1", False))]) == Withdraw(
        Reason.NO_ENDPOINTS
    )


def test_an_ingress_entry_without_an_ip_withdraws_as_invalid() -> None:
    """Upstream's SetBalancer: a hostname-only ingress entry makes the IP set invalid."""
    svc = service()
    svc["status"]["loadBalancer"]["ingress"].append({"hostname": "lb.example.com"})
    assert decide(config(*BASIC), svc, N1) == Withdraw(Reason.INVALID_IP)
