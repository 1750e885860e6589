"""`metallb speaker` end to end: three node namespaces, the controller assigning IPs, real
clients (arping, ndisc6, curl, the client kernel's neighbour table) on the data LAN.

Each speaker runs as ServiceAccount `speaker` (deploy/speaker/rbac.yaml), gossips on the
data LAN and reaches the apiserver over the management LAN. The expected owner comes
from the pure election (`metallb.election.ranking.rank`), the same ranking `metallb plan`
prints.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any, cast

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event

from metallb.election.ranking import rank
from metallb.k8s.config_state import ConfigurationState
from tests.integration.speaker.conftest import Services
from tests.integration.speaker.harness import MAC, NODES, NS, L2Adv, L2Cluster, Pool, wait_for

pytestmark = pytest.mark.timeout(300)


def owner(ip: str, nodes: tuple[str, ...] = NODES) -> str:
    return rank(nodes, ip_address(ip), {})[0]


def converged(cluster: L2Cluster, ip: str, node: str, timeout: float = 30) -> None:
    """Wait until one full arping round gets exactly one reply per probe, all from ``node``."""
    want = [MAC[node]] * 3

    def check() -> bool | None:
        return True if cluster.arping_macs(ip) == want else None

    try:
        wait_for(check, timeout, f"{ip} answered by {node} only", step=0.2)
    except AssertionError:
        problems = "\n".join(cluster.pre_flight())
        raise AssertionError(f"{ip}: last replies {cluster.arping_macs(ip)}\n{problems}") from None


def test_one_mac_per_vip_http_status_and_event(cluster: L2Cluster, services: Services) -> None:
    """The elected node alone answers ARP for the VIP; HTTP reaches its backend; its
    ServiceL2Status and nodeAssigned Event say so."""
    name = services.create()
    ip = services.ip(name)
    node = owner(ip)
    converged(cluster, ip, node)
    assert cluster.arping_macs(ip, count=4) == [MAC[node]] * 4
    assert wait_for(lambda: cluster.curl(ip), 10, "HTTP through the VIP") == node
    statuses = wait_for(lambda: cluster.l2_statuses(name) or None, 20, "a ServiceL2Status")
    assert statuses == [{"node": node, "serviceName": name, "serviceNamespace": "default"}]
    assert cluster.kube is not None

    def assigned() -> list[tuple[str, str, str]] | None:
        events = cluster.kube.list(  # type: ignore[union-attr]
            Event, namespace="default", fields={"involvedObject.name": name}
        )
        msgs = [
            (e.message or "", (e.source and e.source.component) or "", e.reportingComponent or "")
            for e in events
            if e.reason == "nodeAssigned"
        ]
        return msgs or None

    msgs = wait_for(assigned, 20, "a nodeAssigned event")
    # Attributed as upstream's (client-go EventSource{Component: "metallb-speaker"}).
    speaker = "metallb-speaker"
    assert msgs == [(f'announcing from node "{node}" with protocol "layer2"', speaker, speaker)]


def test_ipv6_vip_answered_by_the_owner_only(cluster: L2Cluster, services: Services) -> None:
    """ndisc6 gets the elected node's MAC for an IPv6 VIP, and HTTP over IPv6 works."""
    name = services.create(family="IPv6")
    ip = services.ip(name)
    node = owner(ip)

    def ndisc() -> list[str] | None:
        out = cluster.client.call("ndisc6", "-1", "-r2", "-w500", ip, "eth0").stdout
        macs = [line.split()[-1].lower() for line in out.splitlines() if "address" in line]
        return macs if macs == [MAC[node]] else None

    wait_for(ndisc, 30, f"{ip} -> {MAC[node]}", step=0.2)
    assert wait_for(lambda: cluster.curl(ip), 10, "HTTP through the IPv6 VIP") == node


def test_no_answer_for_unassigned_ips(cluster: L2Cluster) -> None:
    """An address of the delivered range that no Service holds gets no ARP reply at all
    (the nodes' kernels stay silent too: strict ARP)."""
    assert cluster.arping_macs("192.0.2.199") == []
    assert cluster.arping_macs("192.0.2.214") == []


def test_node_selector_keeps_unselected_nodes_silent(
    cluster: L2Cluster, services: Services
) -> None:
    """A pool advertised from n2 and n3 only: for an IP n1 would win, n2 or n3 answers."""
    ip = next(f"192.0.2.{i}" for i in range(216, 224) if owner(f"192.0.2.{i}") == "n1")
    name = services.create(ips=ip)
    assert services.ip(name) == ip
    node = owner(ip, ("n2", "n3"))
    converged(cluster, ip, node)
    assert MAC["n1"] not in cluster.arping_macs(ip, count=4)


@pytest.mark.parametrize("failure", ["sigkill", "link-down"])
def test_failover_moves_client_cache_by_gratuitous_arp(
    cluster: L2Cluster, services: Services, failure: str
) -> None:
    """The announcing node fails; the next node in hash order announces, the client's
    neighbour entry moves to it without any flush, HTTP works again; after the node comes
    back, exactly one MAC answers (no split brain)."""
    name = services.create()
    ip = services.ip(name)
    first = owner(ip)
    second = owner(ip, tuple(n for n in NODES if n != first))
    converged(cluster, ip, first)
    assert wait_for(lambda: cluster.curl(ip), 10, "HTTP before the failure") == first
    assert cluster.neighbour_mac(ip) == MAC[first]

    host = cluster.lab.hosts[first]
    if failure == "sigkill":
        cluster.kill_speaker(first)
    else:
        host.link_set("eth0", "down")
    try:
        wait_for(
            lambda: cluster.neighbour_mac(ip) == MAC[second] or None,
            15,
            f"the client's entry for {ip} to move to {second}",
        )
        assert wait_for(lambda: cluster.curl(ip), 10, "HTTP after failover") == second
        statuses = wait_for(
            lambda: [s for s in cluster.l2_statuses(name) if s.get("node") == second] or None,
            20,
            "the ServiceL2Status to name the new node",
        )
        assert len(statuses) == 1
    finally:
        if failure == "sigkill":
            cluster.start_speaker(first)
            cluster.wait_speaker_ready(first)
        else:
            host.link_set("eth0", "up")
    # The first node is the hash winner again once it is back: one MAC, its own.
    converged(cluster, ip, first, timeout=60)
    wait_for(
        lambda: (
            cluster.l2_statuses(name)
            == [{"node": first, "serviceName": name, "serviceNamespace": "default"}]
            or None
        ),
        40,
        "one ServiceL2Status, the first node's",
    )


def test_each_speaker_reports_its_configuration_state(cluster: L2Cluster) -> None:
    """ConfigurationState speaker-<node>: Valid with the lab's pools; Invalid, naming the
    problem, while an overlapping pool exists (the lab runs without the webhook, so the
    apiserver accepts it); Valid again once it is gone."""
    kube = cluster.kube
    assert kube is not None

    def states(result: str) -> dict[str, dict[str, Any]] | None:
        found = {
            str(o.metadata.name): dict(cast(dict[str, Any], o.status or {}))
            for o in kube.list(ConfigurationState, namespace=NS)
            if o.metadata is not None
            and (o.metadata.labels or {}).get("metallb.io/component-type") == "speaker"
        }
        want = {f"speaker-{n}" for n in NODES}
        ok = set(found) == want and all(s.get("result") == result for s in found.values())
        return found if ok else None

    valid = wait_for(lambda: states("Valid"), 30, "three Valid speaker states")
    for s in valid.values():
        assert s["conditions"][0]["type"] == "configReconcilerValid"
        assert s["conditions"][0]["reason"] == "Reconciled"
    n1 = kube.get(ConfigurationState, "speaker-n1", namespace=NS)
    assert n1.metadata is not None
    assert n1.metadata.labels is not None
    assert n1.metadata.labels["metallb.io/node-name"] == "n1"
    # Owned by the speaker's Pod, as upstream (it goes with the Pod).
    owners = [(r.kind, r.name) for r in n1.metadata.ownerReferences or []]
    assert owners == [("Pod", "speaker-n1")]
    kube.create(
        Pool(
            metadata=ObjectMeta(name="clash", namespace=NS),
            spec={"addresses": ["192.0.2.200/30"]},  # inside the lab's pool "l2"
        )
    )
    try:
        invalid = wait_for(lambda: states("Invalid"), 30, "three Invalid speaker states")
        for s in invalid.values():
            assert "IPAddressPool metallb-system/clash" in s["errorSummary"], s
            assert "overlaps" in s["errorSummary"], s
            assert s["conditions"][0]["reason"] == "ConfigurationError"
    finally:
        kube.delete(Pool, "clash", namespace=NS)
    wait_for(lambda: states("Valid"), 30, "Valid again")


def test_a_pool_removed_under_an_announced_ip_is_refused_until_the_ip_moves(
    cluster: L2Cluster, services: Services
) -> None:
    """Upstream's SetConfig: with the controller stopped, deleting the pool of an announced
    IP leaves the speakers on the old configuration (ConfigurationState Invalid saying
    why) and the IP keeps answering; once the controller runs again and clears the
    Service's IP, the speakers withdraw and take the new configuration."""
    kube, controller = cluster.kube, cluster.controller
    assert kube is not None
    assert controller is not None
    kube.create(
        Pool(
            metadata=ObjectMeta(name="orphan", namespace=NS), spec={"addresses": ["192.0.2.199/32"]}
        )
    )
    kube.create(
        L2Adv(metadata=ObjectMeta(name="orphan", namespace=NS), spec={"ipAddressPools": ["orphan"]})
    )
    name = services.create(ips="192.0.2.199")
    ip = services.ip(name)
    owner = wait_for(lambda: cluster.curl(ip), 20, "HTTP through the VIP")
    controller.stop()
    try:
        kube.delete(Pool, "orphan", namespace=NS)

        def refused() -> str | None:
            st = kube.get(ConfigurationState, f"speaker-{owner}", namespace=NS)
            summary = str(cast(dict[str, Any], st.status or {}).get("errorSummary", ""))
            return summary if "has no configuration under new config" in summary else None

        summary = wait_for(refused, 30, f"speaker-{owner} refusing the configuration")
        assert f"default/{name}" in summary, summary
        assert ip in summary, summary
        assert cluster.curl(ip) == owner  # still announced
    finally:
        controller.start()

    # The controller clears the Service's IP (its pool is gone); the speaker withdraws and
    # then accepts the configuration.
    def valid() -> bool | None:
        st = kube.get(ConfigurationState, f"speaker-{owner}", namespace=NS)
        return True if cast(dict[str, Any], st.status or {}).get("result") == "Valid" else None

    wait_for(valid, 60, f"speaker-{owner} Valid again")
    assert cluster.arping_macs(ip, count=2) == []
    kube.delete(L2Adv, "orphan", namespace=NS)


def test_interfaces_missing_on_the_winner_fail_loudly(
    cluster: L2Cluster, services: Services
) -> None:
    """An L2Advertisement naming an interface no node has: the elected node records a
    Warning announceFailed Event (upstream's text), writes no ServiceL2Status, and
    nobody answers for the IP."""
    kube = cluster.kube
    assert kube is not None
    kube.create(
        Pool(
            metadata=ObjectMeta(name="ghost", namespace=NS),
            spec={"addresses": ["192.0.2.198/32"]},
        )
    )
    kube.create(
        L2Adv(
            metadata=ObjectMeta(name="ghost", namespace=NS),
            spec={"ipAddressPools": ["ghost"], "interfaces": ["eth9"]},
        )
    )
    try:
        name = services.create(ips="192.0.2.198")
        ip = services.ip(name)

        def failed() -> list[str] | None:
            events = kube.list(Event, namespace="default", fields={"involvedObject.name": name})
            msgs = [e.message or "" for e in events if e.reason == "announceFailed"]
            return msgs or None

        (msg,) = wait_for(failed, 20, "an announceFailed event")
        assert msg.startswith(f'the interfaces specified by LB IP "{ip}" doesn\'t exist'), msg
        assert msg.endswith('with protocol "layer2"'), msg
        assert cluster.arping_macs(ip, count=2) == []
        assert cluster.l2_statuses(name) == []
    finally:
        kube.delete(L2Adv, "ghost", namespace=NS)
        kube.delete(Pool, "ghost", namespace=NS)
