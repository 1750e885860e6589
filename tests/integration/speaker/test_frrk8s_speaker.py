"""The speaker daemon in frr-k8s mode (``METALLB_BGP_TYPE=frr-k8s``) on the real apiserver.

The lab's apiserver, controller and three speakers (:class:`L2Cluster`, processes with
the ``speaker`` ServiceAccount's token), frr-k8s's CRDs taken from its Go module, and
the speaker's Role in ``frr-k8s-system`` from ``deploy/components/frr-k8s`` (a missing
verb fails these tests). No frr-k8s daemon runs here: the tests check the objects the
speakers write for it.

- A BGPPeer, a pool with a BGPAdvertisement and a Service with an IP: every node's
  speaker writes ``metallb-<node>`` with the peer and the Service's /32 and communities;
  ServiceBGPStatus objects say which peers get it.
- A changed advertisement updates the objects; a change that does not concern them
  (a Node label no selector reads) writes nothing (resourceVersions stay); an object
  deleted by someone else is written again.
- Deleting the BGPPeer deletes every node's object.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.core_v1 import Node
from lightkube.types import PatchType

from metallb.k8s.snapshot import BGPSessionState, FRRNodeState
from metallb.k8s.speaker_frrk8s import FRRConfiguration
from metallb.lab import frrk8s
from tests.integration.speaker.bgpkit import (
    COMMUNITY,
    LARGE_COMMUNITY,
    NODE_ASN,
    ROUTER_ASN,
    ROUTER_IP,
    WAIT,
    BGPAdv,
    BGPPeer,
    advertise_pool,
    bgp_statuses,
    create,
)
from tests.integration.speaker.conftest import Services
from tests.integration.speaker.harness import NODES, NS, L2Cluster, wait_for

POOL_V4 = "192.0.2.200/29"  # inside the lab's SERVICE_RANGE
FRRNS = frrk8s.NAMESPACE

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L2Cluster]:
    work = tmp_path_factory.mktemp("frrk8s")
    c = L2Cluster(
        workdir=work, env={"METALLB_BGP_TYPE": "frr-k8s"}, manifests=frrk8s.manifests(work)
    )
    c.speaker_args = lambda _node: [f"--frrk8s-namespace={FRRNS}", "--bgp-debounce-timeout=200"]
    with c:
        advertise_pool(c, [POOL_V4])
        yield c


def objects(cluster: L2Cluster) -> dict[str, dict[str, Any]]:
    """The FRRConfigurations in frr-k8s's namespace, by name."""
    assert cluster.kube is not None
    return {
        o.metadata.name: dict(o)
        for o in cluster.kube.list(FRRConfiguration, namespace=FRRNS)
        if o.metadata is not None and o.metadata.name
    }


def neighbors(obj: dict[str, Any]) -> list[dict[str, Any]]:
    routers = obj["spec"]["bgp"]["routers"]
    assert len(routers) == 1
    return list(routers[0]["neighbors"])


def wait_objects(
    cluster: L2Cluster, check: Any, what: str, timeout: float = WAIT
) -> dict[str, dict[str, Any]]:
    """Wait until every node's object exists and passes ``check``."""

    def ready() -> dict[str, dict[str, Any]] | None:
        objs = objects(cluster)
        names = [f"metallb-{n}" for n in NODES]
        if all(name in objs and check(objs[name]) for name in names):
            return objs
        return None

    return wait_for(ready, timeout, what)


def advertised(prefix: str) -> Any:
    return lambda o: prefix in o["spec"]["bgp"]["routers"][0].get("prefixes", [])


def rvs(objs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: o["metadata"]["resourceVersion"] for name, o in objs.items()}


def test_frrconfiguration_lifecycle(cluster: L2Cluster, services: Services) -> None:
    assert cluster.kube is not None
    create(cluster, BGPPeer, "tor", {"myASN": NODE_ASN, "peerASN": ROUTER_ASN,
                                      "peerAddress": ROUTER_IP, "holdTime": "9s"})  # fmt: skip
    name = services.create()
    ip = services.ip(name)
    prefix = f"{ip}/32"

    objs = wait_objects(cluster, advertised(prefix), f"{prefix} in every FRRConfiguration")
    for node in NODES:
        obj = objs[f"metallb-{node}"]
        assert obj["spec"]["nodeSelector"] == {"matchLabels": {"kubernetes.io/hostname": node}}
        [nbr] = neighbors(obj)
        assert nbr["address"] == ROUTER_IP
        assert nbr["asn"] == ROUTER_ASN
        assert nbr["holdTime"] == "9s"
        assert obj["spec"]["bgp"]["routers"][0]["asn"] == NODE_ASN
        assert nbr["toAdvertise"]["allowed"]["prefixes"] == [prefix]
        assert nbr["toAdvertise"]["withCommunity"] == [
            {"prefixes": [prefix], "community": COMMUNITY},
            {"prefixes": [prefix], "community": f"large:{LARGE_COMMUNITY}"},
        ]
    statuses = wait_for(
        lambda: s if len(s := bgp_statuses(cluster, name)) == 3 else None, WAIT, "3 statuses"
    )
    assert sorted(s["node"] for s in statuses) == sorted(NODES)
    assert all(s["peers"] == ["tor"] for s in statuses)

    # A change: one more community on the advertisement reaches every object.
    ad = cluster.kube.get(BGPAdv, "bgp", namespace=NS)
    ad.spec["communities"] = [*ad.spec["communities"], "64513:200"]
    cluster.kube.replace(ad)

    def has_new(o: dict[str, Any]) -> bool:
        comms = neighbors(o)[0]["toAdvertise"].get("withCommunity", [])
        return any(c["community"] == "64513:200" for c in comms)

    objs = wait_objects(cluster, has_new, "the new community in every FRRConfiguration")

    # Nothing that concerns the objects: every speaker reconciles and writes nothing.
    before = rvs(objs)
    for node in NODES:
        cluster.kube.patch(Node, node, {"metadata": {"labels": {"unrelated": "yes"}}})
    time.sleep(2.0)  # ten times the debounce: writes would have happened by now
    assert rvs(objects(cluster)) == before

    # Someone deletes a node's object: its speaker writes it again.
    cluster.kube.delete(FRRConfiguration, "metallb-n2", namespace=FRRNS)
    wait_objects(cluster, advertised(prefix), "metallb-n2 written again")

    # The Service goes: its prefix leaves every object, the sessions stay.
    services.delete_all()
    services.created.clear()
    objs = wait_objects(cluster, lambda o: not advertised(prefix)(o), f"{prefix} withdrawn")
    assert all(len(neighbors(o)) == 1 for o in objs.values())

    # The BGPPeer goes: no node has anything for frr-k8s any more.
    cluster.kube.delete(BGPPeer, "tor", namespace=NS)
    wait_for(lambda: objects(cluster) == {} or None, WAIT, "every FRRConfiguration deleted")


def test_speaker_role_is_limited_to_frrk8s_namespace(cluster: L2Cluster) -> None:
    """The speaker's rights on FRRConfigurations stop at frr-k8s's namespace."""
    client = Client(config=KubeConfig.from_file(cluster.speaker_kubeconfig))
    body = {
        "apiVersion": "frrk8s.metallb.io/v1beta1",
        "kind": "FRRConfiguration",
        "metadata": {"name": "metallb-x", "namespace": "default"},
        "spec": {"bgp": {"routers": []}},
    }
    with pytest.raises(ApiError) as err:
        client.create(FRRConfiguration.from_dict(body))
    assert err.value.status.code == 403


def cli(cluster: L2Cluster, *args: str) -> str:
    assert cluster.cp is not None
    proc = subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", *args, f"--kubeconfig={cluster.cp.kubeconfig}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "METALLB_BGP_TYPE": "frr-k8s"},
    )
    return proc.stdout + proc.stderr


def test_status_and_doctor_read_frrk8s_objects(cluster: L2Cluster) -> None:
    """`metallb status` shows the sessions frr-k8s reports (BGPSessionState objects, here
    written as frr-k8s's status controller does, since no frr-k8s runs in this test);
    `metallb doctor` names the mode and the peered nodes where frr-k8s does not run."""
    kube = cluster.kube
    assert kube is not None
    create(cluster, BGPPeer, "tor2", {"myASN": NODE_ASN, "peerASN": ROUTER_ASN,
                                       "peerAddress": ROUTER_IP})  # fmt: skip
    try:
        state = BGPSessionState.from_dict(
            {"metadata": {"name": "n1-abcde", "namespace": FRRNS}, "spec": {}}
        )
        kube.create(state)
        status = {"node": "n1", "peer": ROUTER_IP, "vrf": "", "bgpStatus": "Established",
                  "bfdStatus": "N/A"}  # fmt: skip
        kube.patch(
            BGPSessionState.Status,
            "n1-abcde",
            {"status": status},
            namespace=FRRNS,
            patch_type=PatchType.MERGE,
        )
        for node in ("n1", "n2"):
            kube.create(FRRNodeState.from_dict({"metadata": {"name": node}}))
        out = cli(cluster, "status")
        assert f"n1: tor2 ({ROUTER_IP}) up (Established)" in out
        doc = cli(cluster, "doctor")
        assert "BGP mode: frr-k8s" in doc
        assert "node n3 has BGP peers but frr-k8s does not run there" in doc
        assert "node n1 has BGP peers" not in doc
    finally:
        with contextlib.suppress(ApiError):
            kube.delete(BGPPeer, "tor2", namespace=NS)
        with contextlib.suppress(ApiError):
            kube.delete(BGPSessionState, "n1-abcde", namespace=FRRNS)
        for node in ("n1", "n2"):
            with contextlib.suppress(ApiError):
                kube.delete(FRRNodeState, node)
