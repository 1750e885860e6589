"""frr-k8s for the lab and the tests: its CRDs, its daemons, and the RBAC around them.

frr-k8s is a Go module (``github.com/metallb/frr-k8s``, release pinned in
``tools/frrk8s/common.sh``). :func:`crd_dir` takes its CRDs out of the module into a
cache outside the clone (no third-party YAML is kept here); :func:`bin_dir` builds its
daemons (``frr-k8s-controller``, ``status``) and takes its reloader script likewise.
:func:`manifests` lists what an :class:`~metallb.lab.cluster.L2Cluster` applies for the
speakers to run in frr-k8s mode (frr-k8s's namespace, the CRDs and
``deploy/components/frr-k8s``'s Role); :func:`daemon_manifests` adds frr-k8s's own
ServiceAccount and RBAC, and :func:`start_node` runs frr-k8s on a node beside its FRR
(``tools/frrk8s/node.sh``), as frr-k8s's DaemonSet would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from metallb.lab.built import built_dir
from metallb.lab.cluster import L2Cluster
from metallb.lab.routers import start_node_frr
from metallb.lab.topology import NODES

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "frr-k8s-system"  # where deploy/components/frr-k8s expects frr-k8s


def crd_dir() -> Path:
    """The directory holding frr-k8s's CRDs (downloaded on first use)."""
    return built_dir("tools/frrk8s/crds.sh", timeout=600)


def manifests(workdir: Path) -> tuple[Path, ...]:
    """frr-k8s's namespace (written into ``workdir``), CRDs and MetalLB's Role there."""
    ns = workdir / "frrk8s-namespace.yaml"
    ns.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n")
    rbac = REPO / "deploy" / "components" / "frr-k8s" / "rbac.yaml"
    return (ns, crd_dir(), rbac)


NODE_SCRIPT = REPO / "tools" / "frrk8s" / "node.sh"
DAEMON_SA = "frr-k8s-daemon"
# frr-k8s's own daemon rights (its config/rbac/role.yaml, less the webhook's): the
# node's objects cluster-wide, Secrets (BGP passwords) and Events in its namespace.
DAEMON_RBAC = f"""\
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {DAEMON_SA}, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: frr-k8s-daemon}}
rules:
  - apiGroups: [""]
    resources: [nodes]
    verbs: [get, list, watch]
  - apiGroups: [frrk8s.metallb.io]
    resources: [bgpsessionstates, frrconfigurations, frrnodestates]
    verbs: [create, delete, get, list, patch, update, watch]
  - apiGroups: [frrk8s.metallb.io]
    resources: [bgpsessionstates/status, frrconfigurations/status, frrnodestates/status]
    verbs: [get, patch, update]
  - apiGroups: [frrk8s.metallb.io]
    resources: [frrk8sconfigurations]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: frr-k8s-daemon}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: frr-k8s-daemon}}
subjects: [{{kind: ServiceAccount, name: {DAEMON_SA}, namespace: {NAMESPACE}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: frr-k8s-daemon, namespace: {NAMESPACE}}}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, watch]
  # The status daemon reads its own Pod (the owner of its BGPSessionState objects).
  - apiGroups: [""]
    resources: [pods]
    verbs: [get]
  - apiGroups: [""]
    resources: [events]
    verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: frr-k8s-daemon, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: frr-k8s-daemon}}
subjects: [{{kind: ServiceAccount, name: {DAEMON_SA}, namespace: {NAMESPACE}}}]
"""


def bin_dir() -> Path:
    """frr-k8s's daemons, built from its Go module on first use (minutes, then cached)."""
    return built_dir("tools/frrk8s/build.sh")


def daemon_manifests(workdir: Path) -> tuple[Path, ...]:
    """:func:`manifests` plus frr-k8s's own ServiceAccount and RBAC (to run its daemons)."""
    rbac = workdir / "frrk8s-daemon-rbac.yaml"
    rbac.write_text(DAEMON_RBAC)
    return (*manifests(workdir), rbac)


def start_node(
    cluster: L2Cluster, node: str, bins: Path, pathspace: str, kubeconfig: Path
) -> subprocess.Popen[bytes]:
    """frr-k8s for ``node`` (tools/frrk8s/node.sh) beside the FRR running there with
    ``pathspace``, as ServiceAccount frr-k8s-daemon; logs in the cluster's workdir.
    Its Pod object is created too (no kubelet runs it): frr-k8s's status daemon reads
    it and makes it the owner of the BGPSessionState objects."""
    assert cluster.kube is not None
    cluster.kube.create(
        Pod(
            metadata=ObjectMeta(name=f"frr-k8s-{node}", namespace=NAMESPACE),
            spec=PodSpec(nodeName=node, containers=[Container(name="frr-k8s", image="none")]),
        )
    )
    work = cluster.workdir / f"frrk8s-{node}"
    work.mkdir(exist_ok=True)
    return cluster.lab.hosts[node].start(
        "bash",
        str(NODE_SCRIPT),
        str(bins),
        str(work),
        pathspace,
        node,
        NAMESPACE,
        str(kubeconfig),
        log=cluster.workdir / f"frrk8s-{node}.log",
    )


def speaker_args(_node: str) -> list[str]:
    """The speakers' flags in the lab's frr-k8s mode."""
    return [f"--frrk8s-namespace={NAMESPACE}"]


def start_all(cluster: L2Cluster) -> None:
    """On every node: its own FRR, then frr-k8s beside it (the cluster was built with
    :func:`daemon_manifests`). The lab stops the processes when it closes."""
    bins = bin_dir()
    kubeconfig = cluster.token_kubeconfig(DAEMON_SA, NAMESPACE)
    procs: list[subprocess.Popen[bytes]] = []
    for n in NODES:
        host = cluster.lab.hosts[n]
        start_node_frr(host, cluster.workdir / f"frr-{n}.out", procs)
        start_node(cluster, n, bins, host.netns, kubeconfig)
