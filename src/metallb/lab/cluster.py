"""A small bare-metal cluster: real apiserver, three node namespaces, MetalLB running.

Shared by ``metallb lab``, the speaker integration tests and ``bench/l2_failover.py``.
:class:`L2Cluster` builds:

- a control plane listening on all addresses (serving certificate for ``MGMT_ROOT``);
- a netlab with two LANs kept apart: ``mgmt`` (the root namespace at ``MGMT_ROOT`` and
  each node, for the apiserver) and ``data`` (the nodes and a ``client``), where the
  speakers gossip and answer ARP/NDP;
- the CRDs, namespace and RBAC from deploy/ as they are; the ``metallb controller``
  process in the root namespace (token of ServiceAccount ``controller``), which also
  creates the ``memberlist`` Secret; the Secret's key written where a pod would mount it;
- Node objects ``n1..n3``, speaker Pod objects with their data address as pod IP (the
  membership join targets; no kubelet runs them), one ``metallb speaker`` process per
  node namespace with a token of ServiceAccount ``speaker``;
- what kube-proxy would do, per node: a ``local`` route for the service range on ``lo``
  and strict-ARP sysctls (``arp_ignore=1``, ``arp_announce=2``) so that only the speaker
  answers ARP for a VIP, plus an HTTP server answering the node's name;
- with ``bgp_router=True``, :mod:`metallb.lab.bgplab`'s FRR router peering with every
  node and a ``remote`` client behind it (off by default: tests that bring their own
  router host, named ``router`` too, keep working).

Everything is torn down on exit, also after a failure. Addresses are documentation ones.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lightkube import ApiError, Client, KubeConfig
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Node, Pod, Secret

from metallb.lab.bgplab import BGPLab
from metallb.lab.clusterbase import ClusterBase
from metallb.lab.controlplane import Binaries, ControlPlane
from metallb.lab.daemon import Daemon, LabError
from metallb.lab.demo import deploy_bgp_demo, deploy_demo
from metallb.lab.netlab import Host, Netlab
from metallb.lab.ports import free_port
from metallb.lab.tokens import service_account_token
from metallb.lab.topology import (
    DATA_IP,
    EXCLUDE_L2,
    MGMT_IP,
    MGMT_ROOT,
    NODES,
    NS,
    REPO,
    SERVICE_RANGE,
    SERVICE_RANGE6,
    SPEAKER_LABELS,
    WORKDIR_PREFIX,
    L2Status,
    build_network,
    wait_for,
)


@dataclass
class SpeakerProc:
    node: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class L2Cluster(ClusterBase):
    """See the module docstring. Use as a context manager."""

    workdir_prefix = WORKDIR_PREFIX

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX)))
    lab: Netlab = field(default_factory=Netlab)
    cp: ControlPlane | None = None
    kube: Client | None = None
    speakers: dict[str, SpeakerProc] = field(default_factory=dict)
    controller: Daemon | None = None
    progress: Callable[[str], None] = field(default=lambda _m: None)
    bgp_router: bool = False
    # Extra environment of the controller and the speakers (e.g. METALLB_BGP_TYPE=frr),
    # and extra flags for each speaker (per node).
    env: dict[str, str] = field(default_factory=dict)
    speaker_args: Callable[[str], list[str]] = field(default=lambda _node: [])
    # More manifests (files or directories) applied, in order, after deploy/'s RBAC and
    # before the speakers start (e.g. frr-k8s's namespace, CRDs and the speaker's Role).
    manifests: tuple[Path, ...] = ()
    bgp: BGPLab | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    # -- setup ---------------------------------------------------------------------------
    def _setup(self) -> None:
        self._stack.enter_context(self.lab)
        self.bgp = build_network(
            self.lab,
            self.workdir,
            self._stack,
            bgp_router=self.bgp_router,
            progress=self.progress,
        )
        for n in NODES:
            self._backend(self.lab.hosts[n])
        self.progress("starting etcd, kube-apiserver and kube-controller-manager")
        self.cp = ControlPlane(Binaries.locate(), bind_address="0.0.0.0", extra_sans=(MGMT_ROOT,))
        self._stack.enter_context(self.cp)
        # Speakers stop before the control plane (the lab would stop them after it).
        self._stack.callback(self._stop_speakers)
        self.kube = Client(config=KubeConfig.from_file(self.cp.kubeconfig))
        self.progress("installing MetalLB's CRDs and RBAC from deploy/")
        self.kubectl("apply", "-k", str(REPO / "deploy" / "crds"))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        self.kubectl(
            "apply",
            "-f",
            str(REPO / "deploy" / "namespace.yaml"),
            "-f",
            str(REPO / "deploy" / "controller" / "rbac.yaml"),
            "-f",
            str(REPO / "deploy" / "speaker" / "rbac.yaml"),
        )
        if self.manifests:
            self.kubectl("apply", *(a for m in self.manifests for a in ("-f", str(m))))
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        for n in NODES:
            self.kube.create(
                Node(metadata=ObjectMeta(name=n, labels={"kubernetes.io/hostname": n}))
            )
            self._speaker_pod(n)
        self.progress("starting the MetalLB controller")
        health = free_port()
        self.controller = Daemon(
            "controller",
            [
                *self._env_argv(),
                sys.executable,
                "-m",
                "metallb.cli.main",
                "controller",
                f"--kubeconfig={self.cp.token_kubeconfig('controller', self._token('controller'))}",
                f"--namespace={NS}",
                "--port=0",
                f"--health-probe-port={health}",
                "--webhook-mode=disabled",
                "--ml-secret-name=memberlist",
                "--log-level=debug",
            ],
            self.workdir / "controller.log",
            ready_url=f"http://127.0.0.1:{health}/readyz",
        )
        self._stack.callback(self.controller.stop)
        self.controller.start()
        secret = wait_for(self._memberlist_key, 30, "the memberlist Secret")
        (self.workdir / "memberlist").mkdir(exist_ok=True)
        (self.workdir / "memberlist" / "secretkey").write_bytes(secret)
        # Upstream's defaults plus the management interface: no ARP on that LAN. The
        # speakers read the file (as the mounted ConfigMap); the ConfigMap is what
        # `metallb doctor` reads.
        (self.workdir / "excludel2.yaml").write_text(EXCLUDE_L2)
        self.kube.create(
            ConfigMap(
                metadata=ObjectMeta(name="metallb-excludel2", namespace=NS),
                data={"excludel2.yaml": EXCLUDE_L2},
            )
        )
        server = self.cp.server_at(MGMT_ROOT)
        self.speaker_kubeconfig = self.cp.token_kubeconfig(
            "speaker", self._token("speaker"), server=server
        )
        self.progress("starting a speaker in each node")
        for n in NODES:
            self.start_speaker(n)
        for n in NODES:
            self.wait_speaker_ready(n)

    def _backend(self, host: Host) -> None:
        for sysctl in (
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
            "net.ipv4.conf.eth0.arp_ignore=1",
            "net.ipv4.conf.eth0.arp_announce=2",
        ):
            host.run("sysctl", "-qw", sysctl)
        host.run("ip", "route", "add", "local", SERVICE_RANGE, "dev", "lo")
        host.run("ip", "-6", "route", "add", "local", SERVICE_RANGE6, "dev", "lo")
        www = self.workdir / f"www-{host.name}"
        www.mkdir(exist_ok=True)
        (www / "index.html").write_text(host.name)
        host.start(
            sys.executable, "-m", "http.server", "80", "--bind", "::", "--directory", str(www)
        )

    def _token(self, sa: str, namespace: str = NS) -> str:
        assert self.kube is not None
        return service_account_token(self.kube, sa, namespace)

    def _speaker_pod(self, node: str) -> None:
        assert self.kube is not None
        labels = dict(t.split("=") for t in SPEAKER_LABELS.split(","))
        self.kube.create(
            Pod(
                metadata=ObjectMeta(name=f"speaker-{node}", namespace=NS, labels=labels),
                spec=PodSpec(nodeName=node, containers=[Container(name="speaker", image="none")]),
            )
        )
        self._pod_status(node, ready=False)

    def _pod_status(self, node: str, *, ready: bool) -> None:
        """What a kubelet would report for the speaker Pod. The pod IP is the data
        address (the membership join target); the host IP the management one, where
        ``metallb status`` scrapes the speaker's metrics from the root namespace (on a
        real cluster both are the node's address: the speaker uses the host network)."""
        assert self.kube is not None
        condition = {"type": "Ready", "status": "True" if ready else "False"}
        self.kube.patch(
            Pod.Status,
            f"speaker-{node}",
            {
                "status": {
                    "phase": "Running",
                    "podIP": DATA_IP[node],
                    "podIPs": [{"ip": DATA_IP[node]}],
                    "hostIP": MGMT_IP[node],
                    "hostIPs": [{"ip": MGMT_IP[node]}],
                    "conditions": [condition],
                }
            },
            namespace=NS,
        )

    def _memberlist_key(self) -> bytes | None:
        assert self.kube is not None
        try:
            secret = self.kube.get(Secret, "memberlist", namespace=NS)
        except ApiError:
            return None
        return base64.b64decode((secret.data or {})["secretkey"])

    def token_kubeconfig(self, sa: str, namespace: str) -> Path:
        """A kubeconfig with a token of ServiceAccount ``namespace/sa``, for a process in a
        node namespace (the apiserver through the management LAN)."""
        assert self.cp is not None
        token = self._token(sa, namespace)
        return self.cp.token_kubeconfig(sa, token, server=self.cp.server_at(MGMT_ROOT))

    # -- speakers ------------------------------------------------------------------------
    def _env_argv(self) -> list[str]:
        """``env K=V ...`` in front of a daemon's command line, or nothing."""
        return ["env", *(f"{k}={v}" for k, v in sorted(self.env.items()))] if self.env else []

    def start_speaker(self, node: str) -> SpeakerProc:
        log = self.workdir / f"speaker-{node}.log"
        with log.open("a") as f:
            f.write(f"--- start {time.monotonic()}\n")
        proc = self.lab.hosts[node].start(
            *self._env_argv(),
            sys.executable,
            "-m",
            "metallb.cli.main",
            "speaker",
            f"--kubeconfig={self.speaker_kubeconfig}",
            f"--node-name={node}",
            f"--namespace={NS}",
            f"--pod-name=speaker-{node}",
            f"--ml-bindaddr={DATA_IP[node]}",
            f"--ml-labels={SPEAKER_LABELS}",
            f"--ml-secret-key-path={self.workdir / 'memberlist'}",
            f"--excludel2-file={self.workdir / 'excludel2.yaml'}",
            "--interface-scan-interval=1",
            "--port=9120",
            "--log-level=debug",
            *self.speaker_args(node),
            log=log,
        )
        self.speakers[node] = SpeakerProc(node, proc, log)
        return self.speakers[node]

    def _stop_speakers(self) -> None:
        for sp in self.speakers.values():
            if sp.alive():
                sp.proc.terminate()
                try:
                    sp.proc.wait(10)
                except subprocess.TimeoutExpired:
                    sp.proc.kill()
                    sp.proc.wait(10)

    def wait_speaker_ready(self, node: str, timeout: float = 60) -> None:
        sp = self.speakers[node]

        def ready() -> bool | None:
            if not sp.alive():
                raise LabError(f"speaker {node} exited:\n{self.log_tail(node)}")
            text = sp.log.read_text(errors="replace").rsplit("--- start", 1)[-1]
            return True if "caches synced" in text else None

        wait_for(ready, timeout, f"speaker {node} ready", step=0.1)
        self._pod_status(node, ready=True)

    def kill_speaker(self, node: str) -> None:
        sp = self.speakers[node]
        sp.proc.kill()
        sp.proc.wait(10)
        self._pod_status(node, ready=False)

    # -- what the lab's supervisor drives (as PodCluster) --------------------------------
    def deploy_demo(self) -> list[str]:
        assert self.kube is not None
        return deploy_demo(self.kube)

    def deploy_bgp_demo(self) -> list[str]:
        assert self.kube is not None
        return deploy_bgp_demo(self.kube)

    def fail_node(self, node: str) -> str:
        self.lab.hosts[node].link_set("eth0", "down")
        self.kill_speaker(node)
        return f"{node}: data link down and speaker killed"

    def heal_node(self, node: str) -> str:
        self.lab.hosts[node].link_set("eth0", "up")
        if not self.speakers[node].alive():
            self.start_speaker(node)
            self.wait_speaker_ready(node)
        return f"{node}: data link up and speaker running"

    def speaker_states(self) -> dict[str, bool]:
        return {n: sp.alive() for n, sp in self.speakers.items()}

    def log_tail(self, node: str, lines: int = 60) -> str:
        text = self.speakers[node].log.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- cluster state -------------------------------------------------------------------
    def l2_statuses(self, service: str) -> list[dict[str, Any]]:
        assert self.kube is not None
        return [
            dict(cast(dict[str, Any], o.status or {}))
            for o in self.kube.list(
                L2Status, namespace=NS, labels={"metallb.io/service-name": service}
            )
        ]

    def pre_flight(self) -> Iterator[str]:
        """Problems seen in the speakers' logs (tracebacks), for failure messages."""
        for n, sp in self.speakers.items():
            if "Traceback" in sp.log.read_text(errors="replace"):
                yield f"{n}:\n{self.log_tail(n)}"
