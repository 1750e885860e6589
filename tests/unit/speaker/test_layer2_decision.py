"""The speaker's Layer 2 decision from the views of Kubernetes objects (built from the dicts
the API serves, as the speaker does): table tests of each upstream rule."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import pytest

from metallb import views
from metallb.config.build import build_config
from metallb.config.types import Config
from metallb.election.incremental import Elector
from metallb.election.ranking import Reason, election_key
from metallb.speaker import layer2_decision
from metallb.speaker.layer2_decision import Announce, Skip, Withdraw, orphaned
from tests.unit.speaker.objects import core

NS = "metallb-system"
NODES = ("n1", "n2", "n3")


def pool(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": list(addresses)},
    }


def l2ad(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def config(*objects: dict[str, Any]) -> Config:
    return build_config(list(objects), namespace=NS)


def service(
    ips: tuple[str, ...] = ("192.0.2.10",), name: str = "web", **spec: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "web"}}
    if "annotations" in spec:
        meta["annotations"] = spec.pop("annotations")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"type": "LoadBalancer", **spec},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def slice_(name: str = "web", *on: str, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-x",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": name},
        },
        "endpoints": [{"nodeName": n, "conditions": {"ready": ready}} for n in on],
    }


def node(name: str, labels: dict[str, str] | None = None, unavailable: bool = False) -> Any:
    obj: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}}}
    if unavailable:
        obj["status"] = {"conditions": [{"type": "NetworkUnavailable", "status": "True"}]}
    return views.Node.from_dict(obj)


def winner(ip: str, names: tuple[str, ...] = NODES) -> str:
    return min(names, key=lambda n: election_key(n, ip_address(ip)))


BASE = config(pool("p", "192.0.2.0/28", "2001:db8::/124"), l2ad("all", ipAddressPools=["p"]))
NODE_OBJS = tuple(node(n) for n in NODES)


def decide_all(cfg: Config, svc: dict[str, Any], **kw: Any) -> dict[str, layer2_decision.Decision]:
    kw.setdefault("nodes", NODE_OBJS)
    kw.setdefault("members", None)
    view, endpoints = core(svc, kw.pop("slices", [slice_("web", "n1", "n2", "n3")]))
    return {
        n: layer2_decision.decide(cfg, view, my_node=n, endpoints=endpoints, **kw) for n in NODES
    }


def announcers(decisions: dict[str, layer2_decision.Decision]) -> list[str]:
    return [n for n, d in decisions.items() if isinstance(d, Announce)]


def test_exactly_the_hash_winner_announces_and_others_name_it() -> None:
    """One announcer, the SHA-256 winner; every other node withdraws naming it."""
    d = decide_all(BASE, service())
    owner = winner("192.0.2.10")
    assert announcers(d) == [owner]
    assert d[owner] == Announce(("192.0.2.10",), (), "p")
    for n in NODES:
        if n != owner:
            assert d[n] == Withdraw(Reason.NOT_OWNER, owner)


def test_dual_stack_ips_move_together_by_the_first_ip() -> None:
    """Both IPs go to the node that wins the hash of the first ingress IP."""
    d = decide_all(BASE, service(("2001:db8::3", "192.0.2.3")))
    owner = winner("2001:db8::3")
    assert announcers(d) == [owner]
    assert d[owner] == Announce(("2001:db8::3", "192.0.2.3"), (), "p")


@pytest.mark.parametrize(
    ("svc", "cfg", "reason"),
    [
        pytest.param(service(type="ClusterIP"), BASE, Skip.NOT_HANDLED, id="not a LoadBalancer"),
        pytest.param(
            service(loadBalancerClass="other"), BASE, Skip.NOT_HANDLED, id="another lb class"
        ),
        pytest.param(service(()), BASE, Skip.NO_IP, id="no ingress IP"),
        pytest.param(service(("203.0.113.5",)), BASE, Skip.NOT_IN_POOL, id="IP in no pool"),
        pytest.param(
            service(("192.0.2.1", "203.0.113.5")), BASE, Skip.NOT_IN_POOL, id="one IP outside"
        ),
        pytest.param(
            service(),
            config(pool("p", "192.0.2.0/28")),
            Skip.NO_L2_ADVERTISEMENT,
            id="pool without L2Advertisement",
        ),
        pytest.param(
            service(),
            config(
                pool("p", "192.0.2.0/28"),
                l2ad("x", ipAddressPools=["p"], serviceSelectors=[{"matchLabels": {"a": "b"}}]),
            ),
            Reason.NO_MATCHING_ADVERTISEMENT,
            id="service selector does not match",
        ),
        pytest.param(
            service(annotations={"metallb.io/allow-shared-ip": "k"}),
            config(
                pool("p", "192.0.2.0/28"),
                l2ad("x", ipAddressPools=["p"], serviceSelectors=[{"matchLabels": {"app": "web"}}]),
            ),
            Reason.SHARED_IP_WITH_SERVICE_SELECTOR,
            id="shared IP with service selectors",
        ),
        pytest.param(
            # Present with an empty value, legacy key: still "shared" (serviceHasSharedIP).
            service(annotations={"metallb.universe.tf/allow-shared-ip": ""}),
            config(
                pool("p", "192.0.2.0/28"),
                l2ad("x", ipAddressPools=["p"], serviceSelectors=[{"matchLabels": {"app": "web"}}]),
            ),
            Reason.SHARED_IP_WITH_SERVICE_SELECTOR,
            id="empty legacy allow-shared-ip with service selectors",
        ),
    ],
)
def test_nobody_announces(svc: dict[str, Any], cfg: Config, reason: object) -> None:
    """Each upstream reason to withdraw applies on every node alike."""
    d = decide_all(cfg, svc)
    assert announcers(d) == []
    assert {x.reason for x in d.values() if isinstance(x, Withdraw)} == {reason}


def test_lb_class_flag_selects_classed_services_only() -> None:
    """With --lb-class, a Service of that class is handled and one without is not."""
    classed = service(loadBalancerClass="mine")
    assert announcers(decide_all(BASE, classed, lb_class="mine")) == [winner("192.0.2.10")]
    assert announcers(decide_all(BASE, service(), lb_class="mine")) == []


def test_no_ready_endpoint_means_nobody() -> None:
    """Endpoints all not ready: no node announces."""
    d = decide_all(BASE, service(), slices=[slice_("web", "n1", ready=False)])
    assert announcers(d) == []
    assert {x.reason for x in d.values() if isinstance(x, Withdraw)} == {Reason.NO_ACTIVE_ENDPOINT}


def test_slices_of_other_services_are_ignored() -> None:
    """Only slices labelled with the Service's name count."""
    d = decide_all(BASE, service(), slices=[slice_("other", "n1")])
    assert announcers(d) == []


def test_node_selector_limits_candidates_and_non_selected_nodes_say_so() -> None:
    """Only the selected nodes compete; the others report noMatchingAdvertisement."""
    cfg = config(
        pool("p", "192.0.2.0/28"),
        l2ad("x", ipAddressPools=["p"], nodeSelectors=[{"matchLabels": {"l2": "yes"}}]),
    )
    nodes = (node("n1", {"l2": "yes"}), node("n2", {"l2": "yes"}), node("n3"))
    d = decide_all(cfg, service(), nodes=nodes)
    assert announcers(d) == [winner("192.0.2.10", ("n1", "n2"))]
    assert d["n3"] == Withdraw(Reason.NO_MATCHING_ADVERTISEMENT, winner("192.0.2.10", ("n1", "n2")))


def test_members_drive_failover() -> None:
    """Removing the owner from the members moves the IP to the next node in hash order."""
    owner = winner("192.0.2.10")
    rest = tuple(n for n in NODES if n != owner)
    d = decide_all(BASE, service(), members=frozenset(rest))
    assert announcers(d) == [winner("192.0.2.10", rest)]


def test_unavailable_and_excluded_nodes_drop_out() -> None:
    """NetworkUnavailable and the exclude label remove a node (unless the label is ignored)."""
    owner = winner("192.0.2.10")
    rest = tuple(n for n in NODES if n != owner)
    down = tuple(node(n, unavailable=n == owner) for n in NODES)
    assert announcers(decide_all(BASE, service(), nodes=down)) == [winner("192.0.2.10", rest)]
    label = {"node.kubernetes.io/exclude-from-external-load-balancers": ""}
    excl = tuple(node(n, label if n == owner else None) for n in NODES)
    assert announcers(decide_all(BASE, service(), nodes=excl)) == [winner("192.0.2.10", rest)]
    assert announcers(decide_all(BASE, service(), nodes=excl, ignore_exclude_lb=True)) == [owner]


def test_local_policy_needs_an_endpoint_on_the_node() -> None:
    """externalTrafficPolicy Local: only a node hosting a ready endpoint may announce."""
    svc = service(externalTrafficPolicy="Local")
    for n in NODES:
        assert announcers(decide_all(BASE, svc, slices=[slice_("web", n)])) == [n]


def test_preferred_nodes_beat_the_hash() -> None:
    """A preferredNodeSelectors weight wins over the hash order."""
    loser = max(NODES, key=lambda n: election_key(n, ip_address("192.0.2.10")))
    cfg = config(
        pool("p", "192.0.2.0/28"),
        l2ad(
            "x",
            ipAddressPools=["p"],
            preferredNodeSelectors=[{"weight": 10, "preference": {"matchLabels": {"fav": "1"}}}],
        ),
    )
    nodes = tuple(node(n, {"fav": "1"} if n == loser else None) for n in NODES)
    assert announcers(decide_all(cfg, service(), nodes=nodes)) == [loser]


def test_interfaces_union_of_applicable_ads_selecting_me() -> None:
    """Interfaces: union over ads that apply and select this node; one ad without any
    list means every interface."""
    cfg = config(
        pool("p", "192.0.2.0/28"),
        l2ad("a", ipAddressPools=["p"], interfaces=["eth1"]),
        l2ad("b", ipAddressPools=["p"], interfaces=["eth0"]),
        l2ad(
            "c",
            ipAddressPools=["p"],
            nodeSelectors=[{"matchLabels": {"none": "x"}}],
        ),
    )
    d = decide_all(cfg, service())
    owner = winner("192.0.2.10")
    assert d[owner] == Announce(("192.0.2.10",), ("eth0", "eth1"), "p")
    nodes = tuple(node(n, {"none": "x"}) for n in NODES)
    assert decide_all(cfg, service(), nodes=nodes)[owner] == Announce(("192.0.2.10",), (), "p")


def test_owner_agrees_with_decide() -> None:
    """The plan's owner() names the node whose decide() announces, with the same interfaces."""
    cfg = config(pool("p", "192.0.2.0/28"), l2ad("a", ipAddressPools=["p"], interfaces=["eth9"]))
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"):
        svc = service((ip,))
        view, endpoints = core(svc, [slice_("web", "n1")])
        who, ifaces, note = layer2_decision.owner(
            cfg,
            view,
            ips=(ip,),
            pool="p",
            nodes=NODE_OBJS,
            members=None,
            endpoints=endpoints,
        )
        d = decide_all(cfg, svc, slices=[slice_("web", "n1")])
        assert (announcers(d), note) == ([who], "")
        assert who is not None
        ann = d[who]
        assert isinstance(ann, Announce)
        assert ann.interfaces == ifaces == ("eth9",)


def test_a_configuration_without_the_pool_of_an_announced_ip_is_orphaning() -> None:
    cfg = config(pool("p", "192.0.2.0/28"))
    assert orphaned(cfg, [("default/a", ["192.0.2.1"])]) is None
    assert orphaned(cfg, [("default/b", [])]) is None
    why = orphaned(cfg, [("default/a", ["192.0.2.1"]), ("default/z", ["192.0.2.99"])])
    assert why == "service default/z has no configuration under new config (192.0.2.99)"


def test_an_ingress_entry_without_an_ip_withdraws_as_invalid() -> None:
    """Upstream's SetBalancer: a hostname-only ingress entry makes the IP set invalid."""
    svc = service()
    svc["status"]["loadBalancer"]["ingress"].append({"hostname": "lb.example.com"})
    cfg = config(pool("p", "192.0.2.0/28"), l2ad("x", ipAddressPools=["p"]))
    decisions = decide_all(cfg, svc)
    assert set(decisions.values()) == {Withdraw(Skip.INVALID_IP)}


def test_an_elector_decides_as_the_plain_election_across_membership_changes() -> None:
    """decide(elector=...) gives the same decisions, and forgets Services that leave L2."""
    electors = {n: Elector() for n in NODES}
    slices = [slice_("web", "n1", "n2", "n3")]
    services = {
        f"default/web{i}": core(service((f"192.0.2.{i}",), name="web"), slices) for i in range(1, 9)
    }
    for members in (NODES, ("n1", "n3"), ("n3",), (), NODES):
        for key, (svc, endpoints) in services.items():
            for me in NODES:
                kw: dict[str, Any] = {"nodes": NODE_OBJS, "members": members}
                kw["endpoints"] = endpoints
                fast = layer2_decision.decide(
                    BASE, svc, my_node=me, elector=electors[me], key=key, **kw
                )
                assert fast == layer2_decision.decide(BASE, svc, my_node=me, **kw), (
                    key,
                    me,
                    members,
                )
    assert len(electors["n1"]) == len(services)
    gone, endpoints = core(service(("198.51.100.1",), name="web"), slices)  # no pool
    layer2_decision.decide(
        BASE,
        gone,
        my_node="n1",
        nodes=NODE_OBJS,
        members=None,
        endpoints=endpoints,
        elector=electors["n1"],
        key="default/web1",
    )
    assert len(electors["n1"]) == len(services) - 1
