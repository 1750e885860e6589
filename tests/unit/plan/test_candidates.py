"""explain's per-pool verdicts and per-node Layer 2 / BGP views name the actual cause."""

from __future__ import annotations

from typing import Any

from metallb.election.ranking import EXCLUDE_LB_LABEL
from metallb.plan.explain import Finding, Level, explain, speaker_members
from tests.unit.plan.test_explain_doctor import NS, l2ad, pool, svc


def text(found: list[Finding]) -> str:
    return "\n".join(f"{f.level} {f.text}" for f in found)


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def slice_on(service: str, *nodes: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-x",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": service},
        },
        "endpoints": [
            {"addresses": [f"10.1.0.{i}"], "nodeName": n, "conditions": {"ready": True}}
            for i, n in enumerate(nodes, 1)
        ],
    }


NODES = [node("n1"), node("n2"), node("n3")]
SHARE = "metallb.io/allow-shared-ip"


def pool_lines(found: list[Finding]) -> dict[str, str]:
    """pool name -> its verdict, from the "why each pool" finding."""
    block = next(f.text for f in found if f.text.startswith("why each pool"))
    return {
        line.split(":", 1)[0].removeprefix("pool "): line.split(":", 1)[1].strip()
        for line in block.splitlines()[1:]
    }


def test_each_pool_says_why_it_gave_nothing() -> None:
    """Selector, autoAssign, family and exhaustion are each named, with the holder."""
    objects = [
        svc("web"),
        svc("first", ips=("192.0.2.0",)),
        pool("full", "192.0.2.0/32"),
        pool("team", "192.0.2.8/29", serviceAllocation={"serviceSelectors": [
            {"matchLabels": {"team": "a"}}]}),
        pool("v6", "2001:db8::/120"),
        pool("manual", "192.0.2.16/29", autoAssign=False),
        pool("ns", "192.0.2.32/29", serviceAllocation={"namespaces": ["prod"]}),
        l2ad("l", "full"),
    ]  # fmt: skip
    found = explain("default", "web", objects=objects)
    assert found[0].level is Level.ERROR
    lines = pool_lines(found)
    assert lines["full"].startswith("exhausted: 1 of 1 IPs in use (by default/first)")
    assert "serviceSelectors {team=a} do not match the Service's labels (none)" in lines["team"]
    assert "no IPv4 addresses" in lines["v6"]
    assert lines["manual"].startswith("autoAssign is false")
    assert "does not include namespace default" in lines["ns"]
    # Tried order: pools pinned to the Service, then unrestricted ones by name, then others.
    assert list(lines) == ["full", "v6", "manual", "ns", "team"]


def test_sharing_conflict_names_the_other_service() -> None:
    """Same key, same port on the only IP: the conflict and the holder are named."""
    objects = [
        svc("web", annotations={SHARE: "k"}),
        svc("first", ips=("192.0.2.0",), annotations={SHARE: "k"}),
        pool("p", "192.0.2.0/32"),
    ]
    lines = pool_lines(explain("default", "web", objects=objects))
    assert "shared under key 'k' by default/first" in lines["p"]
    assert 'port TCP/80 is already in use on "192.0.2.0"' in lines["p"]


def test_requested_ip_conflict_and_other_pools() -> None:
    objects = [
        svc("web", annotations={SHARE: "k", "metallb.io/loadBalancerIPs": "192.0.2.0"}),
        svc("first", ips=("192.0.2.0",), annotations={SHARE: "other"}),
        pool("p", "192.0.2.0/30"),
        pool("q", "192.0.2.8/30"),
    ]
    lines = pool_lines(explain("default", "web", objects=objects))
    assert lines["p"].startswith('sharing conflict on ["192.0.2.0"] with default/first')
    assert lines["q"] == 'it does not contain the requested IP(s) ["192.0.2.0"]'


def test_requested_pool_missing_and_full() -> None:
    objects = [
        svc("web", annotations={"metallb.io/address-pool": "nope"}),
        pool("p", "192.0.2.0/30"),
    ]
    lines = pool_lines(explain("default", "web", objects=objects))
    assert "no such IPAddressPool exists" in lines["nope"]
    assert "asks for pool nope" in lines["p"]


def test_chosen_pool_names_selector_and_priority() -> None:
    objects = [
        svc("web", ips=("192.0.2.8",)),
        pool("any", "192.0.2.0/29"),
        pool(
            "pinned", "192.0.2.8/29", serviceAllocation={"priority": 5, "namespaces": ["default"]}
        ),
        l2ad("l", "any", "pinned"),
    ]
    found = explain("default", "web", objects=objects)
    why = next(f.text for f in found if f.text.startswith("pool pinned:"))
    assert "serviceAllocation selects it (namespace default), priority 5" in why


def ranking(found: list[Finding]) -> list[str]:
    block = next(f.text for f in found if f.text.startswith("Layer 2 candidates"))
    return block.splitlines()[1:]


def test_layer2_ranking_excluded_node_and_owner() -> None:
    """The owner is the first eligible node in election order; the labelled node says so."""
    base = [svc("web", ips=("192.0.2.0",)), pool("p", "192.0.2.0/28"), l2ad("l", "p")]
    base.append(slice_on("web", "n1", "n2", "n3"))
    first = ranking(explain("default", "web", objects=[*base, *NODES]))
    top = first[0].split(". ", 1)[1].split(":")[0]
    assert first[0].endswith(": owner")
    # Exclude the owner: it stays in the ranking, marked ineligible, and the next one owns.
    nodes = [node(n, **({EXCLUDE_LB_LABEL: ""} if n == top else {})) for n in ("n1", "n2", "n3")]
    found = explain("default", "web", objects=[*base, *nodes])
    lines = ranking(found)
    assert lines[0] == f"1. {top}: not eligible: it is labelled {EXCLUDE_LB_LABEL}"
    assert lines[1].endswith(": owner")
    second = lines[1].split(". ", 1)[1].split(":")[0]
    assert any(f.level is Level.OK and f"node {second} answers" in f.text for f in found)


def test_layer2_local_policy_without_local_endpoint() -> None:
    local = svc("web", ips=("192.0.2.0",))
    local["spec"]["externalTrafficPolicy"] = "Local"
    base = [local, pool("p", "192.0.2.0/28"), l2ad("l", "p"), *NODES]
    found = explain("default", "web", objects=[*base, slice_on("web", "n2")])
    lines = ranking(found)
    assert [line for line in lines if "owner" in line] == [
        line for line in lines if line.split(". ", 1)[1].startswith("n2")
    ]
    assert sum("Local and it hosts no ready endpoint" in line for line in lines) == 2
    none = explain("default", "web", objects=[*base, slice_on("web")])
    assert any(f.level is Level.WARN and "no endpoint can serve" in f.text for f in none)


def test_layer2_node_selector_speaker_and_status_mismatch() -> None:
    ad = l2ad("l", "p")
    ad["spec"]["nodeSelectors"] = [{"matchLabels": {"kubernetes.io/hostname": "n1"}}]
    objects = [
        svc("web", ips=("192.0.2.0",)),
        pool("p", "192.0.2.0/28"),
        ad,
        *NODES,
        slice_on("web", "n1", "n2", "n3"),
    ]
    objects[3] = node("n1", **{"kubernetes.io/hostname": "n1"})
    pods = [
        {"spec": {"nodeName": "n2"}, "status": {"phase": "Running"}},
        {"spec": {"nodeName": "n3"}, "status": {"phase": "Running"}},
    ]
    statuses = [
        {
            "kind": "ServiceL2Status",
            "status": {"node": "n1", "serviceName": "web", "serviceNamespace": "default"},
        }
    ]
    found = explain("default", "web", objects=objects, speaker_pods=pods, statuses=statuses)
    out = text(found)
    assert "n1: not eligible: no running speaker on this node" in out
    assert "n2: not eligible: the nodeSelectors of L2Advertisement l do not select it" in out
    assert "no node is eligible" in out
    assert "ServiceL2Status objects say n1" in out


def test_speaker_members_ignores_finished_pods() -> None:
    pods = [
        {"spec": {"nodeName": "n1"}, "status": {"phase": "Failed"}},
        {"spec": {"nodeName": "n2"}, "status": {}},
    ]
    assert speaker_members(pods, ["n1", "n2"]) == frozenset({"n2"})
    assert speaker_members([], ["n1"]) is None


def bgp_objects(**svc_spec: Any) -> list[dict[str, Any]]:
    service = svc("web", ips=("192.0.2.0",))
    service["spec"].update(svc_spec)
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "r1", "namespace": NS},
        "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.254",
                 "nodeSelectors": [{"matchLabels": {"rack": "a"}}]},
    }  # fmt: skip
    ad = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "b", "namespace": NS},
        "spec": {"ipAddressPools": ["p"]},
    }
    return [
        service,
        pool("p", "192.0.2.0/28"),
        peer,
        ad,
        node("n1", rack="a"),
        node("n2", rack="a", **{EXCLUDE_LB_LABEL: ""}),
        node("n3"),
        slice_on("web", "n1", "n2", "n3"),
    ]


def test_bgp_advertising_nodes_peers_and_reasons() -> None:
    statuses = [
        {
            "kind": "ServiceBGPStatus",
            "status": {"node": "n1", "serviceName": "web", "serviceNamespace": "default",
                       "peers": ["r1"]},
        }
    ]  # fmt: skip
    found = explain("default", "web", objects=bgp_objects(), statuses=statuses)
    out = text(found)
    assert "ok BGP: node n1 advertises it to r1" in out
    assert f"n2: it is labelled {EXCLUDE_LB_LABEL}" in out
    assert "n3: no BGPPeer selects this node" in out
    assert "ServiceBGPStatus objects say" not in out
    stale = explain("default", "web", objects=bgp_objects(), statuses=[])
    assert "ServiceBGPStatus objects say: nothing" in text(stale)


def test_events_are_listed_oldest_first() -> None:
    objects = [svc("web"), pool("p", "192.0.2.0/28", autoAssign=False)]
    events = [
        {
            "type": t,
            "reason": r,
            "message": m,
            "lastTimestamp": ts,
            "involvedObject": {"kind": "Service", "name": "web", "namespace": "default"},
        }
        for t, r, m, ts in (
            ("Warning", "AllocationFailed", "second", "2026-01-01T00:00:02Z"),
            ("Normal", "IPAllocated", "first", "2026-01-01T00:00:01Z"),
            ("Warning", "AllocationFailed", "second", "2026-01-01T00:00:03Z"),
            ("Normal", "IPAllocated", "first", "2026-01-01T00:00:04Z"),
        )
    ]
    found = explain("default", "web", objects=objects, events=events)
    block = found[-1].text.splitlines()
    assert block[0] == "recent events:"
    # The same event twice is one line with its count, placed at its latest time.
    assert block[1] == "2026-01-01T00:00:03 Warning AllocationFailed: second (x2)"
    assert block[2] == "2026-01-01T00:00:04 Normal IPAllocated: first (x2)"
    assert len(block) == 3


def test_speaker_members_leave_out_pods_that_are_not_ready() -> None:
    """A crashed speaker's Pod stays Running but not Ready: its node is no candidate."""

    def pod(node: str, ready: str | None, phase: str = "Running") -> dict[str, object]:
        status: dict[str, object] = {"phase": phase}
        if ready is not None:
            status["conditions"] = [{"type": "Ready", "status": ready}]
        return {"kind": "Pod", "metadata": {"name": f"s-{node}"}, "spec": {"nodeName": node},
                "status": status}  # fmt: skip

    pods = [pod("n1", "True"), pod("n2", "False"), pod("n3", None), pod("n4", "True", "Failed")]
    assert speaker_members(pods, ["n1", "n2", "n3", "n4", "n5"]) == frozenset({"n1", "n3"})
    assert speaker_members([], ["n1"]) is None
