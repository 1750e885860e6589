"""explain, status and doctor against the lab: a real apiserver, controller and speakers.

One :class:`~metallb.lab.cluster.L2Cluster` for the module (three nodes, a speaker in
each). Each case of issue #8's list is set up for real and the real CLI
(``python -m metallb.cli.main``, admin kubeconfig) must name the cause: no pool matches,
pool exhausted, sharing conflict, node excluded by label, Local policy without a local
endpoint, strictARP off; plus the webhook, speaker, interface and ARP sysctl checks of
doctor and the per-speaker scrape of status.

Pools (documentation addresses inside the lab's service range): ``web``
(192.0.2.200-207) serves only Services labelled ``app=web``; ``one`` (192.0.2.208, a
single IP) is manual; ``bgp`` (the lab's BGP range, manual) is advertised to the lab's
FRR router, which every node peers with. There is no pool for anything else.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.admissionregistration_v1 import (
    RuleWithOperations,
    ServiceReference,
    ValidatingWebhook,
    WebhookClientConfig,
)
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace, Node, Pod, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from metallb.election.ranking import EXCLUDE_LB_LABEL
from metallb.lab.bgplab import BGP_RANGE, NODE_ASN, ROUTER_ASN, ROUTER_IP, BGPAdv, BGPPeer
from metallb.lab.cluster import L2Cluster
from metallb.lab.topology import (
    DATA_IP,
    MGMT_IP,
    MGMT_ROOT,
    NODES,
    NS,
    L2Adv,
    Pool,
    wait_for,
)

pytestmark = [pytest.mark.controlplane]

SHARE = "metallb.io/allow-shared-ip"
BGPStatus = create_namespaced_resource(
    "metallb.io", "v1beta1", "ServiceBGPStatus", "servicebgpstatuses"
)
T = 30  # seconds any convergence may take here


class Lab:
    """The cluster plus this module's namespace and CLI runners."""

    def __init__(self, cluster: L2Cluster, workdir: Path) -> None:
        assert cluster.kube is not None
        assert cluster.cp is not None
        self.c, self.kube, self.cp = cluster, cluster.kube, cluster.cp
        self.ns = f"ops-{uuid.uuid4().hex[:6]}"
        # The same admin credentials, through the management LAN: for runs inside a node.
        text = self.cp.kubeconfig.read_text().replace(self.cp.server, self.cp.server_at(MGMT_ROOT))
        self.node_kubeconfig = workdir / "node-kubeconfig"
        self.node_kubeconfig.write_text(text)

    def metallb(self, *args: str, node: str | None = None) -> str:
        """Run the CLI (in the root namespace, or inside ``node``); stdout and stderr."""
        if node is None:
            argv = [sys.executable, "-m", "metallb.cli.main", *args]
            proc = subprocess.run(
                [*argv, f"--kubeconfig={self.cp.kubeconfig}"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        else:
            proc = self.c.lab.hosts[node].call(
                sys.executable, "-m", "metallb.cli.main", *args,
                f"--kubeconfig={self.node_kubeconfig}", timeout=120,
            )  # fmt: skip
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.stdout + proc.stderr

    def explain(self, name: str) -> str:
        return self.metallb("explain", "service", f"{self.ns}/{name}")

    def service(
        self,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        endpoints_on: tuple[str, ...] = NODES,
        port: int = 80,
        local: bool = False,
    ) -> None:
        """A LoadBalancer Service and a hand-made EndpointSlice (no kubelet here)."""
        self.kube.create(
            Service(
                metadata=ObjectMeta(
                    name=name, namespace=self.ns, labels=labels, annotations=annotations
                ),
                spec=ServiceSpec(
                    type="LoadBalancer",
                    ipFamilies=["IPv4"],
                    ports=[ServicePort(port=port, protocol="TCP")],
                    externalTrafficPolicy="Local" if local else "Cluster",
                    selector={"app": name},
                ),
            )
        )
        self.kube.create(
            EndpointSlice(
                metadata=ObjectMeta(
                    name=f"{name}-1",
                    namespace=self.ns,
                    labels={"kubernetes.io/service-name": name},
                ),
                addressType="IPv4",
                endpoints=[
                    Endpoint(
                        addresses=[DATA_IP[n]],
                        nodeName=n,
                        conditions=EndpointConditions(ready=True),
                    )
                    for n in endpoints_on
                ],
                ports=[EndpointPort(port=port, protocol="TCP")],
            )
        )

    def ip(self, name: str) -> str:
        def assigned() -> str | None:
            svc = self.kube.get(Service, name, namespace=self.ns)
            lb = svc.status.loadBalancer if svc.status else None
            return lb.ingress[0].ip if lb and lb.ingress else None

        return wait_for(assigned, T, f"an IP for {name}", step=0.2)

    def warning(self, name: str, reason: str) -> None:
        """Wait for the controller's Event, so that explain has one to show."""

        def seen() -> bool | None:
            events = self.kube.list(Event, namespace=self.ns, fields={"involvedObject.name": name})
            return True if any(e.reason == reason for e in events) else None

        wait_for(seen, T, f"a {reason} Event on {name}", step=0.2)

    def l2_node(self, name: str, *, not_: str | None = None) -> str:
        """The node the ServiceL2Status names (once it is not ``not_``)."""

        def announcer() -> str | None:
            # A status object is created first and its status written after: skip those.
            nodes = [str(s["node"]) for s in self.c.l2_statuses(name) if s.get("node")]
            return nodes[0] if len(nodes) == 1 and nodes[0] != not_ else None

        return wait_for(announcer, T, f"the ServiceL2Status of {name}", step=0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with L2Cluster(bgp_router=True) as cluster:
        lab = Lab(cluster, tmp_path_factory.mktemp("ops-lab"))
        kube = lab.kube
        kube.create(Namespace(metadata=ObjectMeta(name=lab.ns)))
        kube.create(
            Pool(
                metadata=ObjectMeta(name="web", namespace=NS),
                spec={
                    "addresses": ["192.0.2.200-192.0.2.207"],
                    "serviceAllocation": {"serviceSelectors": [{"matchLabels": {"app": "web"}}]},
                },
            )
        )
        kube.create(
            Pool(
                metadata=ObjectMeta(name="one", namespace=NS),
                spec={"addresses": ["192.0.2.208/32"], "autoAssign": False},
            )
        )
        kube.create(
            L2Adv(
                metadata=ObjectMeta(name="all", namespace=NS),
                spec={"ipAddressPools": ["web", "one"]},
            )
        )
        # BGP: the lab's FRR router peers with every node; a manual pool for it.
        kube.create(
            BGPPeer(
                metadata=ObjectMeta(name="router", namespace=NS),
                spec={"myASN": NODE_ASN, "peerASN": ROUTER_ASN, "peerAddress": ROUTER_IP},
            )
        )
        kube.create(
            Pool(
                metadata=ObjectMeta(name="bgp", namespace=NS),
                spec={"addresses": [BGP_RANGE], "autoAssign": False},
            )
        )
        kube.create(
            BGPAdv(metadata=ObjectMeta(name="bgp", namespace=NS), spec={"ipAddressPools": ["bgp"]})
        )
        yield lab


def test_no_pool_matches(lab: Lab) -> None:
    """Neither pool admits an unlabelled Service: each pool says why, with the event."""
    lab.service("plain")
    lab.warning("plain", "AllocationFailed")
    out = lab.explain("plain")
    assert "ERROR no IP can be assigned: no available IPs" in out, out
    assert (
        "pool web: its serviceAllocation serviceSelectors {app=web} do not match the "
        "Service's labels (none)" in out
    ), out
    assert "pool one: autoAssign is false" in out, out
    assert "Warning AllocationFailed" in out, out


def test_pool_exhausted(lab: Lab) -> None:
    """The only IP of pool one is taken: the second Service asking for it is told by whom."""
    pinned = {"metallb.io/address-pool": "one"}
    lab.service("first", annotations=pinned, port=81)
    assert lab.ip("first") == "192.0.2.208"
    lab.service("second", annotations=pinned, port=82)
    lab.warning("second", "AllocationFailed")
    out = lab.explain("second")
    assert f"pool one: exhausted: 1 of 1 IPs in use (by {lab.ns}/first)" in out, out
    assert "pool web: the Service asks for pool one" in out, out


def test_sharing_conflict(lab: Lab) -> None:
    """Same sharing key and IP, same port: the conflicting Service and port are named."""
    web = {"app": "web"}
    lab.service(
        "share-a", labels=web, annotations={SHARE: "k", "metallb.io/loadBalancerIPs": "192.0.2.205"}
    )
    assert lab.ip("share-a") == "192.0.2.205"
    lab.service(
        "share-b", labels=web, annotations={SHARE: "k", "metallb.io/loadBalancerIPs": "192.0.2.205"}
    )
    lab.warning("share-b", "AllocationFailed")
    out = lab.explain("share-b")
    assert (
        f'pool web: sharing conflict on ["192.0.2.205"] with {lab.ns}/share-a: port TCP/80 '
        'is already in use on "192.0.2.205"' in out
    ), out


def ranking(out: str) -> list[str]:
    """The Layer 2 candidate lines of explain's output: "1. n2: owner", ..."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "Layer 2 candidates" in line)
    return [line.strip() for line in lines[start + 1 : start + 1 + len(NODES)]]


def test_node_excluded_by_label(lab: Lab) -> None:
    """The announcing node is labelled out: explain shows it ineligible and the new owner,
    which is the node the speakers' ServiceL2Status names."""
    lab.service("l2", labels={"app": "web"}, port=83)
    ip = lab.ip("l2")
    owner = lab.l2_node("l2")
    before = lab.explain("l2")
    assert f"ok    Layer 2: node {owner} answers ARP/NDP for it on all interfaces" in before
    assert ranking(before)[0] == f"1. {owner}: owner", before
    lab.kube.patch(Node, owner, {"metadata": {"labels": {EXCLUDE_LB_LABEL: ""}}})
    try:
        moved = lab.l2_node("l2", not_=owner)
        out = lab.explain("l2")
        lines = ranking(out)
        assert lines[0] == f"1. {owner}: not eligible: it is labelled {EXCLUDE_LB_LABEL}", out
        assert lines[1] == f"2. {moved}: owner", out
        assert f"Layer 2: node {moved} answers" in out, out
        assert "ServiceL2Status objects say" not in out, out
        assert f"Layer 2 candidates for {ip}" in out
    finally:
        lab.kube.patch(Node, owner, {"metadata": {"labels": {EXCLUDE_LB_LABEL: None}}})


def test_local_policy_without_local_endpoint(lab: Lab) -> None:
    """Local policy: only the node with an endpoint may announce; with none, nobody."""
    lab.service("local", labels={"app": "web"}, endpoints_on=("n2",), local=True, port=84)
    lab.ip("local")
    assert lab.l2_node("local") == "n2"
    out = lab.explain("local")
    lines = ranking(out)
    assert [line.split(". ", 1)[1] for line in lines if line.endswith("owner")] == ["n2: owner"]
    for n in ("n1", "n3"):
        assert any(
            line.endswith(f"{n}: not eligible: externalTrafficPolicy is Local and it hosts no "
                          "ready endpoint") for line in lines
        ), out  # fmt: skip
    lab.service("nolocal", labels={"app": "web"}, endpoints_on=(), local=True, port=85)
    lab.ip("nolocal")
    out = lab.explain("nolocal")
    assert "WARN  Layer 2: no node announces it: no endpoint can serve" in out, out


def _set_speaker_ready(lab: Lab, node: str, ready: bool) -> None:
    """What a kubelet would write when the speaker's readiness probe fails or passes."""
    status = "True" if ready else "False"
    lab.kube.patch(
        Pod.Status,
        f"speaker-{node}",
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": status}]}},
        namespace=NS,
    )


def _webhook_without_backend() -> ValidatingWebhookConfiguration:
    return ValidatingWebhookConfiguration(
        metadata=ObjectMeta(name="metallb-webhook-configuration"),
        webhooks=[
            ValidatingWebhook(
                name="ipaddresspoolvalidationwebhook.metallb.io",
                admissionReviewVersions=["v1"],
                sideEffects="None",
                failurePolicy="Fail",
                timeoutSeconds=5,
                clientConfig=WebhookClientConfig(
                    # Any CA will do: the Service does not even exist.
                    caBundle="Zm9v",
                    service=ServiceReference(
                        name="metallb-webhook-service",
                        namespace=NS,
                        path="/validate-metallb-io-v1beta1-ipaddresspool",
                    ),
                ),
                rules=[
                    RuleWithOperations(
                        apiGroups=["metallb.io"],
                        apiVersions=["v1beta1"],
                        operations=["CREATE", "UPDATE"],
                        resources=["ipaddresspools"],
                    )
                ],
            )
        ],
    )


def test_doctor(lab: Lab) -> None:
    """strictARP off, a speaker not Ready, an L2Advertisement on excluded interfaces, and
    a webhook the apiserver cannot call: each named with its fix."""
    kube = lab.kube
    kube.create(
        ConfigMap(
            metadata=ObjectMeta(name="kube-proxy", namespace="kube-system"),
            data={"config.conf": "mode: ipvs\nipvs:\n  strictARP: false\n"},
        )
    )
    kube.create(
        L2Adv(
            metadata=ObjectMeta(name="mgmt-only", namespace=NS),
            spec={"ipAddressPools": ["one"], "interfaces": ["eth1"]},
        )
    )
    # The lab reports its speakers Running and Ready, as a kubelet would.
    assert "ok    a Running and Ready speaker Pod on each of the 3 nodes" in lab.metallb("doctor")
    _set_speaker_ready(lab, "n3", ready=False)
    lab.service("silent", labels={"app": "web"}, endpoints_on=(), local=True, port=87)
    silent_ip = lab.ip("silent")
    out = lab.metallb("doctor")
    assert (
        f"WARN  Service {lab.ns}/silent has {silent_ip} but no node announces it in Layer 2: "
        "no ready endpoint" in out
    ), out
    assert "default/kubernetes" not in out, out  # a ClusterIP Service is never "pending"
    assert "ERROR kube-proxy runs in IPVS mode without strictARP" in out, out
    assert "ERROR node n3: speaker Pod speaker-n3 is Running, not Ready" in out, out
    assert "node n1: speaker" not in out, out
    assert (
        "ERROR L2Advertisement mgmt-only announces only on eth1, and every one is excluded "
        f"by ConfigMap {NS}/metallb-excludel2" in out
    ), out
    assert "ok    a dry-run create of an IPAddressPool passes admission" in out, out

    # Inside node n1: the lab set arp_ignore=1/arp_announce=2 there, as strictARP would.
    node = lab.metallb("doctor", "--node", node="n1")
    assert "arp_ignore>=1 and arp_announce>=2 on every interface" in node, node
    # It says where it looked: the machine's host name, and n1's network namespace.
    assert f"network namespace {lab.c.lab.hosts['n1'].netns}" in node, node
    assert "interfaces excluded by ConfigMap" in node, node
    assert "eth1" in node.split("interfaces excluded by", 1)[1].splitlines()[0], node
    host = lab.c.lab.hosts["n1"]
    host.run("sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=0", "net.ipv4.conf.eth0.arp_ignore=0")
    try:
        node = lab.metallb("doctor", "--node", node="n1")
    finally:
        host.run(
            "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.eth0.arp_ignore=1"
        )
    assert "ERROR kube-proxy is in IPVS mode and eth0 (arp_ignore=0, arp_announce=2)" in node, node

    kube.create(_webhook_without_backend())
    try:
        out = lab.metallb("doctor")
    finally:
        kube.delete(ValidatingWebhookConfiguration, "metallb-webhook-configuration")
        kube.delete(L2Adv, "mgmt-only", namespace=NS)
        kube.delete(ConfigMap, "kube-proxy", namespace="kube-system")
        _set_speaker_ready(lab, "n3", ready=True)
    assert "ERROR the apiserver cannot call MetalLB's validating webhook" in out, out
    assert "failed calling webhook" in out, out


def test_status(lab: Lab) -> None:
    """Pools with usage, announcements per node, and per speaker its BGP session to the
    lab's router or why it could not be scraped. Run from the root namespace, as a user
    would: the speakers are scraped at their Pods' host IPs on the management LAN."""
    lab.service("st", labels={"app": "web"}, port=86)
    ip = lab.ip("st")
    owner = lab.l2_node("st")
    out = lab.metallb(
        "status",
        "--metrics-port=9120",
        f"--metrics-token={lab.c.metrics_token}",
    )
    lines = out.splitlines()
    web = next(line for line in lines if line.startswith("web "))
    assert int(web.split()[1]) >= 1, out  # assignedIPv4 from the pool's status
    block = lines[lines.index("ANNOUNCEMENTS PER NODE") :]
    mine = block[block.index(f"{owner}:") + 1 :]
    assert any(line.split()[:3] == ["layer2", f"{lab.ns}/st", ip] for line in mine), out
    for n in NODES:
        # Reached: its sessions to the lab's router (up or not yet), never "unreachable".
        head = f"{n} (speaker-{n}, https://{MGMT_IP[n]}:9120/metrics): router ({ROUTER_IP}:179) "
        assert any(line.startswith(head) for line in lines), out
    # Nothing listens on port 9: every speaker is reported unreachable, the command works.
    wrong = lab.metallb("status", "--metrics-port=9", "--scrape-timeout=1")
    for n in NODES:
        assert f"{n} (speaker-{n}, https://{MGMT_IP[n]}:9/metrics): unreachable" in wrong, wrong
    assert "ANNOUNCEMENTS PER NODE" in wrong
    # Without a token (the lab's kubeconfig holds a client certificate): each speaker
    # is reached and refuses, and the line says what to pass.
    anon = lab.metallb("status", "--metrics-port=9120", "--scrape-timeout=5")
    for n in NODES:
        line = f"{n} (speaker-{n}, https://{MGMT_IP[n]}:9120/metrics): refused: HTTP 401"
        assert line in anon, anon
    assert "--metrics-token" in anon


def test_bgp_nodes_peers_and_sessions(lab: Lab) -> None:
    """Local policy with endpoints on n1 and n2: explain names both advertising nodes and
    their peer, and why n3 does not; status shows the sessions up and the announcements,
    as the speakers' ServiceBGPStatus objects and metrics say."""
    pinned = {"metallb.io/address-pool": "bgp"}
    lab.service("bgp", annotations=pinned, endpoints_on=("n1", "n2"), local=True, port=88)
    ip = lab.ip("bgp")

    def advertised() -> set[str] | None:
        objs = lab.kube.list(BGPStatus, namespace=NS, labels={"metallb.io/service-name": "bgp"})
        found = {str(cast(dict[str, Any], o.status or {}).get("node")) for o in objs}
        return found if found == {"n1", "n2"} else None

    wait_for(advertised, T, "ServiceBGPStatus on n1 and n2", step=0.2)
    out = lab.explain("bgp")
    assert "ok    BGP: node n1 advertises it to router" in out, out
    assert "ok    BGP: node n2 advertises it to router" in out, out
    assert "n3: externalTrafficPolicy is Local and it hosts no ready endpoint" in out, out
    assert "ServiceBGPStatus objects say" not in out, out
    assert "Layer 2" not in out, out  # the bgp pool has no L2Advertisement

    token = lab.c.metrics_token

    def sessions_up() -> str | None:
        text = lab.metallb("status", "--metrics-port=9120", f"--metrics-token={token}")
        ok = all(
            f"{n} (speaker-{n}, https://{MGMT_IP[n]}:9120/metrics): router ({ROUTER_IP}:179) up"
            in text
            for n in NODES
        )
        return text if ok else None

    status = wait_for(sessions_up, 60, "every speaker's session to the router up", step=1)
    lines = status.splitlines()
    block = lines[lines.index("ANNOUNCEMENTS PER NODE") :]
    for n in ("n1", "n2"):
        mine = block[block.index(f"{n}:") + 1 :]
        assert any(
            line.split() == ["bgp", f"{lab.ns}/bgp", ip, "to", "router"]
            for line in mine[: next((i for i, x in enumerate(mine) if not x.startswith(" ")),
                                    len(mine))]
        ), status  # fmt: skip
