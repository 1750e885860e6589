"""MetalLB as its users run it: real kubelet nodes, MetalLB's own images, installed from
``deploy/`` (``kubectl apply -k``) or the Helm chart.

:class:`PodCluster` builds the lab's network (:func:`metallb.lab.topology.build_network`),
the control plane with a scheduler and the workload controllers, and on each node a
:class:`metallb.lab.knode.KubeNode` (containerd, kubelet, kube-proxy). It loads the
locally built images into every node's containerd (no registry is reachable: nothing
is pulled, the manifests' images are only retagged) and installs MetalLB the way its
README says. The controller then runs as the Deployment's Pod, the webhook is reached
through its Service's endpoint, and the speakers are the DaemonSet's Pods on the nodes'
host network. Backends of the demo Services are Pods too (the ``web`` image), so
endpoints, readiness and ``externalTrafficPolicy: Local`` come from the kubelets.

Routing: each node's Pods live on a bridge in the node's namespace with a /28 and a /64
of their own (:data:`metallb.lab.topology.POD_CIDR`); the nodes route each other's Pod
networks over the data LAN, and the root namespace (the apiserver) routes them over the
management LAN, which is how it reaches the webhook's Pod. Pods reach the apiserver
through the ``kubernetes`` Service, which kube-proxy on each node translates to the
apiserver's management address.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.apps_v1 import DaemonSet, Deployment
from lightkube.resources.core_v1 import Node, Pod

from metallb.lab.bgplab import BGPLab
from metallb.lab.clusterbase import ClusterBase
from metallb.lab.controlplane import SERVICE_CIDR, SERVICE_CIDR_V6, Binaries, ControlPlane
from metallb.lab.daemon import LabError
from metallb.lab.demo import BGP_POOL, DEMO_NS
from metallb.lab.knode import KubeNode, NodeBinaries, NodeNet, sweep_stale_cgroups
from metallb.lab.netlab import Netlab
from metallb.lab.poddemo import backend_docs, bgp_docs, pool_docs, service_doc
from metallb.lab.topology import (
    DATA_IP,
    DATA_IP6,
    MGMT_IP,
    MGMT_ROOT,
    NODES,
    NS,
    POD_CIDR,
    POD_CIDR6,
    REPO,
    build_network,
    wait_for,
)

WORKDIR_PREFIX = "podcluster-"
INSTALLS = ("kustomize", "helm")


@dataclass(frozen=True)
class Images:
    """The images the lab runs: reference -> archive (``docker save``) to load in each
    node, and which reference plays which part."""

    archives: Mapping[str, Path]
    controller: str
    speaker: str
    pause: str
    web: str

    @classmethod
    def locate(cls, progress: Callable[[str], None] = lambda _m: None) -> Images:
        """Build the images if needed (``tools/images/build.sh``: cached, a second when
        nothing changed) and take the archives it lists, one ``REF PATH`` a line."""
        script = REPO / "tools" / "images" / "build.sh"
        progress("building MetalLB's images (cached once built: see `make images`)")
        proc = subprocess.run(
            ["bash", str(script)], check=False, capture_output=True, text=True, timeout=3600
        )
        if proc.returncode != 0:
            raise LabError(f"{script} failed:\n{proc.stderr[-3000:]}")
        archives = {}
        for line in proc.stdout.splitlines():
            ref, _, path = line.strip().partition(" ")
            if ref and path:
                archives[ref] = Path(path)

        def find(part: str) -> str:
            for ref in archives:
                if Images.split(ref)[0].rsplit("/", 1)[-1] in (part, f"lab-{part}"):
                    return ref
            raise LabError(f"{script} listed no {part} image: {sorted(archives)}")

        return cls(
            # speaker-frr is for the FRR mode, which this lab does not install.
            archives={r: p for r, p in archives.items() if "speaker-frr" not in r},
            controller=find("controller"),
            speaker=find("speaker"),
            pause=find("pause"),
            web=find("web"),
        )

    @staticmethod
    def split(ref: str) -> tuple[str, str]:
        """``repo:tag`` -> (repo, tag)."""
        repo, _, tag = ref.rpartition(":")
        return repo, tag


@dataclass
class PodCluster(ClusterBase):
    """See the module docstring. Use as a context manager."""

    workdir_prefix = WORKDIR_PREFIX

    images: Images
    install: str = "kustomize"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX)))
    lab: Netlab = field(default_factory=Netlab)
    bgp_router: bool = False
    progress: Callable[[str], None] = field(default=lambda _m: None)
    helm: str = field(default_factory=lambda: os.environ.get("METALLB_HELM", "helm"))
    cp: ControlPlane | None = None
    kube: Client | None = None
    nodes: dict[str, KubeNode] = field(default_factory=dict)
    bgp: BGPLab | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # False: stop once the nodes are Ready (a benchmark times the install itself).
    install_on_enter: bool = True
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    # -- setup ---------------------------------------------------------------------------
    def _setup(self) -> None:
        if self.install not in INSTALLS:
            raise LabError(f"install must be one of {', '.join(INSTALLS)}, not {self.install!r}")
        self._start()

    def _start(self) -> None:
        t0 = time.monotonic()
        sweep_stale_cgroups()
        self._stack.enter_context(self.lab)
        self.bgp = build_network(
            self.lab, self.workdir, self._stack, bgp_router=self.bgp_router, progress=self.progress
        )
        binaries = NodeBinaries.locate()
        self.progress("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
        self.cp = ControlPlane(
            Binaries.locate(),
            bind_address="0.0.0.0",
            extra_sans=(MGMT_ROOT,),
            scheduler=binaries["kube-scheduler"],
            advertise_address=MGMT_ROOT,
        )
        self._stack.enter_context(self.cp)
        self.kube = Client(config=KubeConfig.from_file(self.cp.kubeconfig))
        self.timings["control plane"] = time.monotonic() - t0
        for n in NODES:
            # The apiserver reaches Pods (the webhook) through the node's management address.
            subprocess.run(
                ["ip", "route", "replace", POD_CIDR[n], "via", MGMT_IP[n]],
                check=True,
                capture_output=True,
                timeout=30,
            )
        self._start_nodes(binaries)
        self.timings["nodes ready"] = time.monotonic() - t0
        if not self.install_on_enter:
            return
        self.progress(f"installing MetalLB with {self.install}")
        self.install_metallb()
        self.wait_metallb()
        self.timings["metallb ready"] = time.monotonic() - t0

    def _start_nodes(self, binaries: NodeBinaries) -> None:
        assert self.cp is not None
        server = self.cp.server_at(MGMT_ROOT)
        proxy_kc = self.cp.client_kubeconfig("kube-proxy", "system:kube-proxy", server=server)
        nets = {n: NodeNet(n, DATA_IP[n], DATA_IP6[n], POD_CIDR[n], POD_CIDR6[n]) for n in NODES}
        for n in NODES:
            node = KubeNode(
                host=self.lab.hosts[n],
                net=nets[n],
                workdir=self.workdir / "nodes" / n,
                binaries=binaries,
                kubelet_kubeconfig=self.cp.client_kubeconfig(
                    f"kubelet-{n}", f"system:node:{n}", groups=("system:nodes",), server=server
                ),
                proxy_kubeconfig=proxy_kc,
                ca_file=self.cp.ca_file,
                pause_image=self.images.pause,
                peers=tuple(nets[p] for p in NODES if p != n),
                service_cidrs=(SERVICE_CIDR, SERVICE_CIDR_V6),
            )
            # Stopped before the netlab and the control plane go (LIFO).
            self._stack.callback(node.stop)
            self.progress(f"starting containerd, kubelet and kube-proxy on {n}")
            node.start()
            self.nodes[n] = node
        for node in self.nodes.values():
            node.wait_socket()
        self.progress(f"loading {len(self.images.archives)} images into every node")
        # One node's import is mostly decompression: the nodes load theirs in parallel.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(
                pool.map(
                    lambda node: [node.import_image(a) for a in self.images.archives.values()],
                    self.nodes.values(),
                )
            )
        wait_for(self._nodes_ready, 180, "every node Ready", step=0.5)

    def _nodes_ready(self) -> bool | None:
        assert self.kube is not None
        for node in self.nodes.values():
            node.check_alive()
        ready = set()
        for obj in self.kube.list(Node):
            conds = (obj.status.conditions if obj.status else None) or []
            if any(c.type == "Ready" and c.status == "True" for c in conds):
                ready.add(obj.metadata.name if obj.metadata else "")
        return True if ready >= set(NODES) else None

    # -- MetalLB -------------------------------------------------------------------------
    def install_metallb(self) -> None:
        """``kubectl apply -k`` of an overlay of deploy/ that only sets the images, or
        ``helm install`` of charts/metallb with the image values."""
        if self.install == "kustomize":
            self.kubectl("apply", "--server-side", "-k", str(self.overlay()))
        else:
            self.helm_install()

    def overlay(self, tag: str | None = None) -> Path:
        """A kustomization of deploy/ that points the images at the local ones."""
        directory = self.workdir / "overlay"
        directory.mkdir(exist_ok=True)
        images = []
        for part, ref in (("controller", self.images.controller), ("speaker", self.images.speaker)):
            repo, local_tag = Images.split(ref)
            images.append(
                {"name": f"quay.io/metallb-py/{part}", "newName": repo, "newTag": tag or local_tag}
            )
        doc = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(REPO / "deploy", directory)],
            "images": images,
        }
        (directory / "kustomization.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return directory

    def helm_install(self) -> None:
        assert self.cp is not None
        c_repo, c_tag = Images.split(self.images.controller)
        s_repo, s_tag = Images.split(self.images.speaker)
        run = subprocess.run(
            [
                self.helm,
                f"--kubeconfig={self.cp.kubeconfig}",
                "install",
                "metallb",
                str(REPO / "charts" / "metallb"),
                "--namespace",
                NS,
                "--create-namespace",
                f"--set=controller.image.repository={c_repo}",
                f"--set=controller.image.tag={c_tag}",
                f"--set=speaker.image.repository={s_repo}",
                f"--set=speaker.image.tag={s_tag}",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if run.returncode != 0:
            raise LabError(f"helm install: {run.stderr.strip()}")

    def wait_metallb(self, timeout: float = 240) -> None:
        """The controller Deployment Available and every speaker Pod Ready."""
        self.progress("waiting for the controller and a speaker on every node")

        def ready() -> bool | None:
            assert self.kube is not None
            for node in self.nodes.values():
                node.check_alive()
            try:
                dep = self.kube.get(Deployment, "controller", namespace=NS)
                ds = self.kube.get(DaemonSet, "speaker", namespace=NS)
            except ApiError:
                return None
            available = any(
                c.type == "Available" and c.status == "True"
                for c in ((dep.status.conditions if dep.status else None) or [])
            )
            st = ds.status
            speakers = bool(
                st
                and st.desiredNumberScheduled == len(NODES)
                and st.numberReady == len(NODES)
                and st.updatedNumberScheduled == len(NODES)
            )
            return True if available and speakers else None

        try:
            wait_for(ready, timeout, "the controller and the speakers", step=0.5)
        except LabError as err:
            raise LabError(f"{err}\n{self.describe_pods()}") from err

    def describe_pods(self) -> str:
        """Every MetalLB Pod with its phase and container states, for failure messages."""
        try:
            return self.kubectl("get", "pods", "-A", "-o", "wide")
        except LabError as err:
            return str(err)

    def speaker_pod(self, node: str) -> str:
        """The name of the speaker Pod on ``node``."""
        assert self.kube is not None
        for pod in self.kube.list(Pod, namespace=NS, labels={"component": "speaker"}):
            meta = pod.metadata
            on_node = pod.spec is not None and pod.spec.nodeName == node
            if on_node and meta and meta.name and meta.deletionTimestamp is None:
                return meta.name
        raise LabError(f"no speaker Pod on {node}")

    # -- the demo ------------------------------------------------------------------------
    def deploy_demo(self) -> list[str]:
        """The L2 pool, the ``web`` backends and Services ``web`` and ``web6``, applied
        as a user would; returns once a backend is Ready on every node."""
        self.apply(pool_docs())
        self.apply(backend_docs(self.images.web))
        # Local: the announcing node serves with its own backend, so the page names the
        # node the client's traffic went to (as in the process-based lab).
        self.apply(
            [service_doc("web", policy="Local"), service_doc("web6", family="IPv6", policy="Local")]
        )
        wait_for(self._backends_ready, 120, "a ready web Pod on every node", step=0.5)
        return ["web", "web6"]

    def deploy_bgp_demo(self) -> list[str]:
        self.apply(bgp_docs())
        self.apply([service_doc("web-bgp", annotations={"metallb.io/address-pool": BGP_POOL})])
        return ["web-bgp"]

    def _backends_ready(self) -> bool | None:
        assert self.kube is not None
        try:
            ds = self.kube.get(DaemonSet, "web", namespace=DEMO_NS)
        except ApiError:
            return None
        st = ds.status
        return True if st and st.numberReady == len(NODES) else None

    # -- faults --------------------------------------------------------------------------
    def fail_node(self, node: str) -> str:
        """The node drops off both LANs (its cables pulled at the switches): no ARP, no
        gossip, no kubelet heartbeat. Its own links stay up, so its routes survive."""
        for link in ("eth0", "eth1"):
            self.lab.hosts[node].cable(link, plugged=False)
        return f"{node}: cut off from the data and management LANs (the node is unreachable)"

    def heal_node(self, node: str) -> str:
        for link in ("eth0", "eth1"):
            self.lab.hosts[node].cable(link, plugged=True)
        return f"{node}: plugged back into both LANs"

    def speaker_states(self) -> dict[str, bool]:
        """Per node: is its speaker Pod Ready?"""
        assert self.kube is not None
        ready = dict.fromkeys(NODES, False)
        for pod in self.kube.list(Pod, namespace=NS, labels={"component": "speaker"}):
            node = pod.spec.nodeName if pod.spec else None
            conds = (pod.status.conditions if pod.status else None) or []
            if node in ready and any(c.type == "Ready" and c.status == "True" for c in conds):
                ready[node] = True
        return ready
