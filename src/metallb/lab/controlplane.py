"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

The binaries are the upstream ones, built from their published Go modules by
``tools/ktestenv/build.sh``. This module only runs them: free loopback ports,
a CA with serving and client certificates, a service-account issuer and
signing key, an admin kubeconfig, and a teardown that leaves no process and no
temporary directory behind, also when start-up fails half way.

Children are started with ``PR_SET_PDEATHSIG`` so that they die with the
Python process even when it is killed without a chance to clean up; a later
start sweeps the temporary directories such a death leaves behind.

Used by the pytest fixtures and by ``metallb lab``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metallb.lab.built import built_dir
from metallb.lab.components import Component, ControlPlaneError, write_kubeconfig
from metallb.lab.ports import free_port
from metallb.web.pki import CertificateAuthority, KeyPair, signing_key, write_pair

# The controllers a MetalLB test needs: EndpointSlices are built from Services
# and Pods, deleted Namespaces finish terminating, ownerReferences cascade, and
# ServiceAccount token Secrets get filled.
CONTROLLERS = (
    "endpointslice-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-token-controller",
)
# Dual-stack, so tests can create IPv6 and dual-stack Services (ClusterIPs of both
# families). fd00::/8 is unique-local: these addresses never leave the apiserver.
# With real nodes (kubelets running Pods) the control plane also needs what places and
# keeps Pods: Deployments, ReplicaSets and DaemonSets, `default` ServiceAccounts and the
# `kube-root-ca.crt` ConfigMap every projected token volume mounts, node lifecycle, and
# the garbage collection of Pods whose node is gone.
WORKLOAD_CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "daemonset-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
)
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_CIDR_V6 = "fd00:10:96::/112"
_TMP_PREFIX = "metallb-controlplane-"
# A 2-core machine under a parallel test load has been reported to need 30 s
# and more for the apiserver's post-start hooks (kubernetes/kubernetes#137743).
DEFAULT_START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Binaries:
    """Paths of the three upstream binaries."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path

    @classmethod
    def from_dir(cls, directory: Path) -> Binaries:
        found = cls(
            directory / "etcd",
            directory / "kube-apiserver",
            directory / "kube-controller-manager",
        )
        missing = [
            str(p)
            for p in (found.etcd, found.kube_apiserver, found.kube_controller_manager)
            if not p.is_file()
        ]
        if missing:
            raise ControlPlaneError(f"control-plane binaries missing: {', '.join(missing)}")
        return found

    @classmethod
    def locate(cls) -> Binaries:
        """Find the binaries: ``$METALLB_KTESTENV_BIN``, else build (or reuse) them from source.

        The build script caches by version outside the clone, so the fallback
        costs seconds once the binaries exist.
        """
        return cls.from_dir(built_dir("tools/ktestenv/build.sh", "METALLB_KTESTENV_BIN"))


def sweep_stale_workdirs(tmp: Path | None = None) -> list[Path]:
    """Remove work directories whose owning process is gone (killed before teardown)."""
    removed = []
    for d in Path(tmp or tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*"):
        try:
            owner = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = 0
        if owner and Path(f"/proc/{owner}").exists():
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


@dataclass
class ControlPlane:
    """etcd, kube-apiserver and kube-controller-manager on free loopback ports.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. When
    ``workdir`` is given it is kept after stop (the lab owns it); otherwise a
    temporary directory is created and removed.
    """

    binaries: Binaries
    workdir: Path | None = None
    controllers: tuple[str, ...] = CONTROLLERS
    # Where kube-apiserver listens. The default keeps it on loopback; "0.0.0.0" lets
    # clients in network namespaces reach it through an address the lab gives the root
    # namespace (name those addresses in ``extra_sans`` for the serving certificate).
    # Loopback stays the address of :attr:`server` and the admin kubeconfig.
    bind_address: str = "127.0.0.1"
    extra_sans: tuple[str, ...] = ()
    progress: Callable[[str], None] = field(default=lambda _msg: None)
    # Real nodes: the kube-scheduler binary to run, and the address Pods reach the
    # apiserver at (the `kubernetes` Service's endpoint, which kube-proxy on each node
    # forwards 10.96.0.1:443 to). Without a scheduler the control plane serves API
    # clients only, as most tests need.
    scheduler: Path | None = None
    advertise_address: str = "127.0.0.1"

    components: dict[str, Component] = field(default_factory=dict, init=False)
    authority: CertificateAuthority | None = field(default=None, init=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)
    server: str = field(default="", init=False)
    _owns_workdir: bool = field(default=False, init=False)

    # -- paths -----------------------------------------------------------------
    @property
    def dir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("control plane not started")
        return self.workdir

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (user ``admin`` in group ``system:masters``)."""
        return self.dir / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.dir / "pki" / "ca.crt"

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Start all three components and wait until each is healthy.

        On any failure everything started so far is stopped before the error
        propagates, so a failed start leaves nothing running.
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the components in reverse order and remove an owned workdir."""
        for comp in reversed(list(self.components.values())):
            comp.stop()
        self.components.clear()
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._owns_workdir = False

    def _start(self, timeout: float) -> None:
        t0 = time.monotonic()
        deadline = t0 + timeout
        if self.workdir is None:
            sweep_stale_workdirs()
            self.workdir = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX))
            self._owns_workdir = True
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        pki = self.dir / "pki"
        pki.mkdir(exist_ok=True)
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)

        # Short-lived on purpose: test and lab certificates only outlive a session.
        validity = dt.timedelta(days=2)
        authority = CertificateAuthority.create("metallb-py test CA", validity=validity)
        self.authority = authority
        ca = write_pair(pki, "ca", authority.pem)
        serving_pem = authority.issue(
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=("127.0.0.1", "10.96.0.1", *self.extra_sans),
            server=True,
            validity=validity,
        )
        serving = write_pair(pki, "apiserver", serving_pem)
        admin_pem = authority.issue(
            "admin", organizations=("system:masters",), client=True, validity=validity
        )
        admin = write_pair(pki, "admin", admin_pem)
        sa = write_pair(pki, "service-account", signing_key(), cert_suffix=".pub")

        etcd_port, etcd_peer, api_port, kcm_port = (free_port() for _ in range(4))
        self.server = f"https://127.0.0.1:{api_port}"
        write_kubeconfig(
            self.kubeconfig, server=self.server, ca=ca.cert, user="admin", client=admin
        )
        self.timings["pki"] = time.monotonic() - t0

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{etcd_peer}"
        self._launch(
            Component(
                "etcd",
                [
                    str(self.binaries.etcd),
                    "--name=default",
                    f"--data-dir={self.dir / 'etcd'}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls={peer_url}",
                    f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=default={peer_url}",
                    # Throw-away data: fsync would only slow every write of the suite.
                    "--unsafe-no-fsync=true",
                    "--log-level=warn",
                ],
                logs / "etcd.log",
            )
        )
        self._wait("etcd", f"{etcd_url}/health", deadline, ssl_ctx=None)
        self.timings["etcd"] = time.monotonic() - t0

        self._launch(
            Component(
                "kube-apiserver",
                [
                    str(self.binaries.kube_apiserver),
                    f"--etcd-servers={etcd_url}",
                    f"--bind-address={self.bind_address}",
                    f"--secure-port={api_port}",
                    *self._advertise_flags(),
                    f"--cert-dir={self.dir / 'apiserver-certs'}",
                    f"--tls-cert-file={serving.cert}",
                    f"--tls-private-key-file={serving.key}",
                    f"--client-ca-file={ca.cert}",
                    f"--service-cluster-ip-range={SERVICE_CIDR},{SERVICE_CIDR_V6}",
                    "--authorization-mode=Node,RBAC",
                    f"--service-account-issuer={self.server}",
                    f"--service-account-key-file={sa.cert}",
                    f"--service-account-signing-key-file={sa.key}",
                    *self._pod_flags(admin),
                    "--allow-privileged=true",
                    "--profiling=false",
                ],
                logs / "kube-apiserver.log",
            )
        )
        admin_ctx = ssl.create_default_context(cafile=str(ca.cert))
        admin_ctx.load_cert_chain(str(admin.cert), str(admin.key))
        self._wait("kube-apiserver", f"{self.server}/readyz", deadline, ssl_ctx=admin_ctx)
        self.timings["kube-apiserver"] = time.monotonic() - t0

        if self.controllers:
            self._launch(
                Component(
                    "kube-controller-manager",
                    [
                        str(self.binaries.kube_controller_manager),
                        f"--kubeconfig={self.kubeconfig}",
                        f"--authentication-kubeconfig={self.kubeconfig}",
                        f"--authorization-kubeconfig={self.kubeconfig}",
                        "--leader-elect=false",
                        f"--controllers={','.join(self._controllers())}",
                        f"--service-account-private-key-file={sa.key}",
                        f"--root-ca-file={ca.cert}",
                        "--bind-address=127.0.0.1",
                        f"--secure-port={kcm_port}",
                        f"--cert-dir={self.dir / 'kcm-certs'}",
                        "--profiling=false",
                    ],
                    logs / "kube-controller-manager.log",
                )
            )
            # Its serving certificate is self-signed; only liveness is read here.
            kcm_ctx = ssl.create_default_context()
            kcm_ctx.check_hostname = False
            kcm_ctx.verify_mode = ssl.CERT_NONE
            self._wait(
                "kube-controller-manager",
                f"https://127.0.0.1:{kcm_port}/healthz",
                deadline,
                ssl_ctx=kcm_ctx,
            )
            self.timings["kube-controller-manager"] = time.monotonic() - t0
        if self.scheduler is not None:
            self._launch(
                Component(
                    "kube-scheduler",
                    [
                        str(self.scheduler),
                        f"--kubeconfig={self.kubeconfig}",
                        f"--authentication-kubeconfig={self.kubeconfig}",
                        f"--authorization-kubeconfig={self.kubeconfig}",
                        "--leader-elect=false",
                        "--bind-address=127.0.0.1",
                        f"--secure-port={free_port()}",
                        "--profiling=false",
                    ],
                    logs / "kube-scheduler.log",
                )
            )
        self.timings["total"] = time.monotonic() - t0

    def _advertise_flags(self) -> list[str]:
        if self.advertise_address == "127.0.0.1":
            # A loopback advertise address is only accepted without an endpoint
            # reconciler (kubernetes/kubernetes#138102); without real nodes nothing
            # needs the `kubernetes` Service's endpoints.
            return ["--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]
        return [f"--advertise-address={self.advertise_address}"]

    def _pod_flags(self, admin: KeyPair) -> list[str]:
        if self.scheduler is None:
            # No serviceaccount controller creates `default` ServiceAccounts, so the
            # admission plugin that requires them would refuse Pods.
            return ["--disable-admission-plugins=ServiceAccount"]
        return [
            # Webhooks and aggregated APIs are dialled at their endpoints' Pod IPs (the
            # lab routes the pod networks to the nodes), not at ClusterIPs, which only
            # kube-proxy on a node can translate.
            "--enable-aggregator-routing=true",
            # `kubectl logs/exec` reach the kubelets, which trust this CA.
            f"--kubelet-client-certificate={admin.cert}",
            f"--kubelet-client-key={admin.key}",
            # ... at the node's InternalIP: the lab's node names are in no DNS.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ]

    def _controllers(self) -> tuple[str, ...]:
        if self.scheduler is None:
            return self.controllers
        return (*self.controllers, *WORKLOAD_CONTROLLERS)

    def client_kubeconfig(
        self, name: str, user: str, *, groups: tuple[str, ...] = (), server: str | None = None
    ) -> Path:
        """Write a kubeconfig authenticating as ``user`` (in ``groups``) by a client
        certificate of the control plane's CA: what a kubelet (``system:node:<name>`` in
        ``system:nodes``) or kube-proxy (``system:kube-proxy``) is given on a real node."""
        if self.authority is None:
            raise ControlPlaneError("control plane not started")
        pem = self.authority.issue(
            user, organizations=groups, client=True, validity=dt.timedelta(days=2)
        )
        pair = write_pair(self.dir / "pki", name, pem)
        return write_kubeconfig(
            self.dir / f"{name}.kubeconfig",
            server=server or self.server,
            ca=self.ca_file,
            user=user,
            client=pair,
        )

    def _launch(self, comp: Component) -> None:
        self.progress(f"starting {comp.name}")
        self.components[comp.name] = comp
        comp.start()

    def _wait(self, name: str, url: str, deadline: float, ssl_ctx: ssl.SSLContext | None) -> None:
        """Poll a health URL until it answers 200, the process dies, or time runs out."""
        comp = self.components[name]
        last = "no answer yet"
        while True:
            comp.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=5, context=ssl_ctx) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}"
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{name} not healthy at {url} in time ({last}); last log lines:\n"
                    f"{comp.log_tail()}"
                )
            time.sleep(0.1)

    # -- helpers for tests and the lab ------------------------------------------
    def restart(
        self, name: str, timeout: float = DEFAULT_START_TIMEOUT, down_for: float = 0.0
    ) -> None:
        """Stop one component and start it again with the same arguments, after
        ``down_for`` seconds of outage."""
        comp = self.components[name]
        comp.stop()
        time.sleep(down_for)
        comp.start()
        if name == "kube-apiserver":
            ctx = ssl.create_default_context(cafile=str(self.ca_file))
            ctx.load_cert_chain(
                str(self.dir / "pki" / "admin.crt"), str(self.dir / "pki" / "admin.key")
            )
            self._wait(name, f"{self.server}/readyz", time.monotonic() + timeout, ctx)

    def server_at(self, address: str) -> str:
        """The apiserver's URL through ``address`` (one of ``extra_sans``)."""
        port = self.server.rsplit(":", 1)[1]
        host = f"[{address}]" if ":" in address else address
        return f"https://{host}:{port}"

    def token_kubeconfig(self, name: str, token: str, *, server: str | None = None) -> Path:
        """Write a kubeconfig that authenticates with a bearer token (a ServiceAccount's);
        ``server`` overrides the URL (see :meth:`server_at`)."""
        return write_kubeconfig(
            self.dir / f"{name}.kubeconfig",
            server=server or self.server,
            ca=self.ca_file,
            user=name,
            token=token,
        )

    def rss(self) -> dict[str, int]:
        """Resident memory in bytes of each running component."""
        return {n: c.rss_bytes for n, c in self.components.items()}
