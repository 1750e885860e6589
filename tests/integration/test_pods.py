"""MetalLB installed as its users install it, running as Pods on real kubelet nodes.

Each cluster here is a :class:`metallb.lab.podcluster.PodCluster`: three network
namespaces each running containerd, a kubelet and kube-proxy, MetalLB's own images
(built by ``make images``) loaded into every node, and MetalLB installed with
``kubectl apply -k`` of an overlay of ``deploy/`` that only sets the images, or with
``helm install`` of ``charts/metallb``. The Services' backends are Pods; endpoints come
from the kubelets. The process-based harness (:mod:`metallb.lab.cluster`) remains for
the tests that need sub-second fault injection on a speaker process or many clusters.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube.resources.core_v1 import Service

from metallb.lab.daemon import LabError
from metallb.lab.podcluster import Images, PodCluster
from metallb.lab.poddemo import backend_docs, pool_docs, service_doc
from metallb.lab.topology import MAC, NODES, NS, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def images() -> Images:
    return Images.locate()


@pytest.fixture(scope="module")
def cluster(images: Images) -> Iterator[PodCluster]:
    with PodCluster(images=images, install="kustomize") as c:
        # Every test's Services take their IPs from the demo pool.
        c.apply(pool_docs())
        c.apply(backend_docs(images.web))
        wait_for(c._backends_ready, 120, "web backends", step=0.5)
        yield c


def ingress_ip(c: PodCluster, name: str, namespace: str = "demo") -> str | None:
    assert c.kube is not None
    svc = c.kube.get(Service, name, namespace=namespace)
    lb = svc.status.loadBalancer if svc.status else None
    return lb.ingress[0].ip if lb and lb.ingress else None


def announcer(c: PodCluster, ip: str) -> str | None:
    """The node whose MAC answers ARP for ``ip`` on the data LAN (one answer expected)."""
    macs = set(c.arping_macs(ip, count=1))
    owners = {c.mac_owner(m) for m in macs}
    return owners.pop() if len(owners) == 1 else None


def metallb_pods(c: PodCluster) -> list[dict[str, Any]]:
    out = c.kubectl("get", "pods", "-n", NS, "-o", "json")
    return list(json.loads(out)["items"])


def test_kustomize_install_runs_every_pod_ready(cluster: PodCluster) -> None:
    """The controller is the Deployment's Pod on the Pod network, a speaker Pod runs on
    every node on the host network, and all of them are Running and Ready."""
    pods = metallb_pods(cluster)
    speakers = [p for p in pods if p["metadata"]["labels"].get("component") == "speaker"]
    controllers = [p for p in pods if p["metadata"]["labels"].get("component") == "controller"]
    assert sorted(p["spec"]["nodeName"] for p in speakers) == sorted(NODES)
    assert len(controllers) == 1
    for p in pods:
        assert p["status"]["phase"] == "Running", p["metadata"]["name"]
        ready = {c["type"]: c["status"] for c in p["status"]["conditions"]}
        assert ready.get("Ready") == "True", p["metadata"]["name"]
    assert all(p["spec"].get("hostNetwork") for p in speakers)
    assert not controllers[0]["spec"].get("hostNetwork")
    assert controllers[0]["status"]["podIP"].startswith("203.0.113.")
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert images == {cluster.images.controller, cluster.images.speaker}


def test_first_pool_right_after_available_20_of_20(cluster: PodCluster) -> None:
    """The install-time race upstream users meet ("failed calling webhook ... connection
    refused"): recreate the controller as a fresh install does (new Deployment, no
    certificate Secret yet, webhook configuration without its CA), wait for Available
    exactly as the README says, and apply a first IPAddressPool at once, 20 times."""
    overlay = cluster.overlay()
    results = []
    for i in range(20):
        cluster.kubectl("delete", "deployment", "controller", "-n", NS, "--wait=true")
        cluster.kubectl("delete", "secret", "metallb-webhook-cert", "-n", NS, "--ignore-not-found")
        cluster.kubectl("delete", "validatingwebhookconfiguration", "--all")
        cluster.kubectl("apply", "--server-side", "-k", str(overlay))
        cluster.kubectl(
            "wait", "--for=condition=Available", "--timeout=120s", "-n", NS, "deployment/controller"
        )
        pool = pool_docs()[0] | {}
        pool["metadata"] = {"name": f"first-{i}", "namespace": NS}
        pool["spec"] = {"addresses": [f"198.51.100.{100 + i}/32"]}
        try:
            cluster.apply([pool])
            results.append("ok")
        except LabError as err:  # the failure text is the finding
            results.append(str(err))
        cluster.kubectl("delete", "ipaddresspool", f"first-{i}", "-n", NS, "--ignore-not-found")
    failures = [r for r in results if r != "ok"]
    print(f"first pool applied right after Available: {results.count('ok')} of 20")
    assert failures == []
    # The webhook really was in the path: an invalid pool is refused by it.
    bad = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "bad", "namespace": NS},
        "spec": {"addresses": ["not-an-ip"]},
    }
    with pytest.raises(LabError, match="admission webhook"):
        cluster.apply([bad])


def test_service_ip_serves_a_page_and_moves_when_the_speaker_pod_dies(
    cluster: PodCluster,
) -> None:
    """A Service gets an IP; the client gets a page through it from the elected node
    (externalTrafficPolicy Local, so the answering backend is the announcing node's);
    deleting that node's speaker Pod moves the IP to another node, which serves."""
    cluster.apply([service_doc("lb", policy="Local")])
    ip = wait_for(lambda: ingress_ip(cluster, "lb"), 60, "an IP for demo/lb")
    first = wait_for(lambda: cluster.curl(ip), 60, f"a page through {ip}")
    assert first in NODES
    assert wait_for(lambda: announcer(cluster, ip), 30, "one ARP answer") == first
    assert cluster.neighbour_mac(ip) == MAC[first]

    cluster.kubectl("delete", "pod", "-n", NS, cluster.speaker_pod(first), "--wait=false")
    moved = wait_for(
        lambda: a if (a := cluster.curl(ip, timeout=0.5)) not in (None, first) else None,
        60,
        "another node serving after the speaker Pod's deletion",
        step=0.1,
    )
    assert moved in set(NODES) - {first}
    cluster.wait_metallb()  # the DaemonSet brings the speaker back
    cluster.kubectl("delete", "service", "lb", "-n", "demo")


def test_node_failure_moves_the_ip(cluster: PodCluster) -> None:
    cluster.apply([service_doc("lb2", policy="Local")])
    ip = wait_for(lambda: ingress_ip(cluster, "lb2"), 60, "an IP for demo/lb2")
    first = wait_for(lambda: cluster.curl(ip), 60, f"a page through {ip}")
    assert first in NODES
    cluster.fail_node(first)
    try:
        moved = wait_for(
            lambda: a if (a := cluster.curl(ip, timeout=0.5)) not in (None, first) else None,
            30,
            f"another node serving after {first} failed",
            step=0.1,
        )
        assert moved in set(NODES) - {first}
    finally:
        cluster.heal_node(first)
    cluster.wait_metallb()
    cluster.kubectl("delete", "service", "lb2", "-n", "demo")


def test_speaker_rolling_update_keeps_the_service_reachable(cluster: PodCluster) -> None:
    """A new speaker image tag rolled out node by node (the DaemonSet's RollingUpdate);
    a client requests the Service every 100 ms throughout and the failures are
    counted. The rollout must finish with every speaker on the new tag and the Service
    answering."""
    cluster.apply([service_doc("roll")])
    ip = wait_for(lambda: ingress_ip(cluster, "roll"), 60, "an IP for demo/roll")
    wait_for(lambda: cluster.curl(ip), 60, f"a page through {ip}")
    repo, tag = Images.split(cluster.images.speaker)
    new = f"{repo}:{tag}-next"
    for node in cluster.nodes.values():
        node.tag_image(cluster.images.speaker, new)

    stop = threading.Event()
    outcomes: list[bool] = []

    def client() -> None:
        while not stop.is_set() and len(outcomes) < 6000:
            outcomes.append(cluster.curl(ip, timeout=0.5) is not None)
            time.sleep(0.1)

    worker = threading.Thread(target=client, daemon=True)
    worker.start()
    try:
        started = time.monotonic()
        cluster.kubectl("set", "image", "-n", NS, "daemonset/speaker", f"speaker={new}")
        cluster.kubectl(
            "rollout", "status", "-n", NS, "daemonset/speaker", "--timeout=300s", timeout=330
        )
        took = time.monotonic() - started
        time.sleep(2)
    finally:
        stop.set()
        worker.join(10)
    failed = outcomes.count(False)
    print(
        f"speaker rolling update: {took:.1f} s, {len(outcomes)} requests, {failed} failed "
        f"({100 * failed / max(len(outcomes), 1):.1f} %)"
    )
    images = {
        c["image"]
        for p in metallb_pods(cluster)
        if p["metadata"]["labels"].get("component") == "speaker"
        for c in p["spec"]["containers"]
    }
    assert images == {new}
    assert outcomes
    assert outcomes[-1], "the Service did not answer after the rollout"
    assert cluster.curl(ip) in NODES
    # Back to the original tag for the tests that follow.
    cluster.kubectl(
        "set", "image", "-n", NS, "daemonset/speaker", f"speaker={cluster.images.speaker}"
    )
    cluster.kubectl(
        "rollout", "status", "-n", NS, "daemonset/speaker", "--timeout=300s", timeout=330
    )
    cluster.kubectl("delete", "service", "roll", "-n", "demo")
