"""The lab's long-running process: builds the cluster, keeps it, tears it down.

``metallb lab up`` starts this detached (its own session) so the lab outlives the
command; ``lab down`` sends it SIGTERM. It writes ``<dir>/state.json`` (phase, pid,
service IPs) and serves one-line JSON commands on ``<dir>/control.sock`` for ``status``,
``fail-node`` and ``heal-node``. With the BGP router (the default; ``--no-bgp-router``
leaves it out) it also shows a Service announced by BGP (``--bgp-mode frr-k8s``: through
frr-k8s, which runs on every node beside that node's FRR): the router must hold a next
hop per node for its IP and the ``remote`` client behind the router must fetch a page
through it before the lab is ready; ``state.json`` keeps that under ``bgp``. All work
happens on the main thread: commands are handled between waits, so nothing touches the
cluster concurrently.

Run: ``python -m metallb.lab.supervisor --dir .lab``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from lightkube.resources.core_v1 import Service

from metallb.lab import frrk8s
from metallb.lab.bgplab import REMOTE_IP
from metallb.lab.cluster import L2Cluster
from metallb.lab.demo import DEMO_NS
from metallb.lab.podcluster import Images, PodCluster
from metallb.lab.topology import CLIENT_IP, DATA_IP, MGMT_ROOT, NODES, wait_for

# Either way of running MetalLB offers what the supervisor drives.
LabCluster = L2Cluster | PodCluster


def _log(msg: str) -> None:
    print(f"lab: {msg}", flush=True)


class Supervisor:
    def __init__(
        self,
        labdir: Path,
        bgp_router: bool = True,
        install: str = "kustomize",
        bgp_mode: str = "native",
    ) -> None:
        self.dir = labdir
        self.bgp_router = bgp_router
        self.install = install
        self.bgp_mode = bgp_mode
        self.state_file = labdir / "state.json"
        self.sock_path = labdir / "control.sock"
        self.stop = False
        self.state: dict[str, Any] = {"phase": "starting", "pid": os.getpid()}
        self.failed: set[str] = set()

    def write_state(self, **changes: Any) -> None:
        self.state.update(changes)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.state_file)

    def run(self) -> int:
        self.write_state()
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stop", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stop", True))
        work = self.dir / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            with self._cluster(work) as cluster:
                self.cluster = cluster
                assert cluster.cp is not None
                assert cluster.kube is not None
                if self.bgp_mode == "frr-k8s" and isinstance(cluster, L2Cluster):
                    _log("starting FRR and frr-k8s (built from its Go module) on every node")
                    frrk8s.start_all(cluster)
                shutil.copyfile(cluster.cp.kubeconfig, self.dir / "kubeconfig")
                # The kubeconfig holds a client certificate, which metrics do not take:
                # a reader's token for `metallb status --metrics-token`.
                token_file = self.dir / "metrics-token"
                token_file.touch(mode=0o600)
                token_file.write_text(cluster.metrics_token)
                _log("creating an L2 IPAddressPool and two demo Services (IPv4, IPv6)")
                names = cluster.deploy_demo()
                ips = {n: wait_for(partial(self._ip, n), 60, f"an IP for {n}") for n in names}
                # Show it working, as a user would check: a request from the client
                # namespace through each service IP.
                answers = {
                    n: wait_for(partial(cluster.curl, ip), 30, f"HTTP via {ip}")
                    for n, ip in ips.items()
                }
                bgp = self._bgp_demo() if cluster.bgp else None
                self.write_state(
                    phase="ready", services=ips, answers=answers, server=cluster.cp.server, bgp=bgp
                )
                _log("ready")
                self._serve()
        except Exception as err:  # the CLI shows this line and the log
            self.write_state(phase="failed", error=f"{type(err).__name__}: {err}")
            _log(f"failed: {err}")
            # Kept for the post-mortem (the next `lab up` clears it): each node's
            # kubelet, containerd and Pod logs are under nodes/<node>/.
            _log(f"the lab's files are kept in {work}")
            return 1
        finally:
            self.sock_path.unlink(missing_ok=True)
            (self.dir / "kubeconfig").unlink(missing_ok=True)
            (self.dir / "metrics-token").unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        self.write_state(phase="stopped")
        _log("stopped; every namespace and process removed")
        return 0

    def _cluster(self, work: Path) -> LabCluster:
        if self.install == "processes" or self.bgp_mode == "frr-k8s":
            if self.install != "processes":
                # frr-k8s runs beside each node's FRR as processes (lab.frrk8s); the
                # real-node lab does not run it as a DaemonSet yet.
                _log("--bgp-mode frr-k8s: MetalLB runs as processes (no Pods in this mode)")
            return self._process_cluster(work)
        return PodCluster(
            images=Images.locate(progress=_log),
            install=self.install,
            workdir=work,
            progress=_log,
            bgp_router=self.bgp_router,
        )

    def _process_cluster(self, work: Path) -> L2Cluster:
        """The process-based cluster; in frr-k8s mode with frr-k8s's CRDs, its RBAC and
        the speakers' Role, and the speakers writing FRRConfigurations."""
        cluster = L2Cluster(workdir=work, progress=_log, bgp_router=self.bgp_router)
        if self.bgp_mode == "frr-k8s":
            cluster.env = {"METALLB_BGP_TYPE": "frr-k8s"}
            cluster.manifests = frrk8s.daemon_manifests(work)
            cluster.speaker_args = frrk8s.speaker_args
        return cluster

    def _bgp_demo(self) -> dict[str, Any]:
        """Deploy the BGP demo and check it end to end; the ``bgp`` part of the state."""
        c, b = self.cluster, self.cluster.bgp
        assert c.kube is not None
        assert b is not None
        _log("creating a BGPPeer for the router, a BGP IPAddressPool and demo/web-bgp")
        started = time.monotonic()
        names = c.deploy_bgp_demo()
        ips = {n: wait_for(partial(self._ip, n), 60, f"an IP for {n}") for n in names}

        def all_paths(ip: str) -> list[str] | None:
            hops = b.next_hops(ip)
            return hops if len(hops) == len(NODES) else None

        _log("waiting for the router to route each BGP Service IP to every node (ECMP)")
        hops = {
            n: wait_for(partial(all_paths, ip), 60, f"{ip} via every node") for n, ip in ips.items()
        }
        answers = {
            n: wait_for(partial(b.curl, ip), 30, f"HTTP via {ip} from the remote client")
            for n, ip in ips.items()
        }
        took = time.monotonic() - started
        _log(f"the remote client got a page through the router {took:.1f} s after the BGP objects")
        return {
            "services": ips,
            "answers": answers,
            "next_hops": hops,
            "router": {
                "netns": b.router.host.netns,
                "address": b.router.router_id,
                "asn": b.router.asn,
            },
            "remote": {"netns": b.remote.netns, "address": REMOTE_IP},
            "vtysh": b.vtysh_argv,
        }

    def _ip(self, name: str) -> str | None:
        svc = self.cluster.kube.get(Service, name, namespace=DEMO_NS)  # type: ignore[union-attr]
        lb = svc.status.loadBalancer if svc.status else None
        return lb.ingress[0].ip if lb and lb.ingress else None

    def _serve(self) -> None:
        self.sock_path.unlink(missing_ok=True)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
            srv.bind(str(self.sock_path))
            srv.listen(4)
            srv.settimeout(0.5)
            while not self.stop:
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(120)
                    request = json.loads(conn.makefile().readline() or "{}")
                    reply = self._handle(request)
                    conn.sendall((json.dumps(reply) + "\n").encode())

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd, node = str(request.get("cmd") or ""), str(request.get("node") or "")
        c = self.cluster
        if cmd in ("fail-node", "heal-node") and node not in NODES:
            return {"error": f"unknown node {node!r}; the lab's nodes are {', '.join(NODES)}"}
        if cmd == "fail-node":
            self.failed.add(node)
            return {"ok": c.fail_node(node)}
        if cmd == "heal-node":
            self.failed.discard(node)
            return {"ok": c.heal_node(node)}
        if cmd == "status":
            answering = {}
            for name, ip in (self.state.get("services") or {}).items():
                macs = c.arping_macs(ip, count=1) if ":" not in ip else []
                answering[name] = [c.mac_owner(m) for m in macs]
            return {
                "state": self.state,
                "failed": sorted(self.failed),
                "speakers": c.speaker_states(),
                "answering": answering,
                "http": {n: c.curl(ip) for n, ip in (self.state.get("services") or {}).items()},
                "bgp": {
                    n: {"next_hops": c.bgp.next_hops(ip), "http": c.bgp.curl(ip)}
                    for n, ip in ((self.state.get("bgp") or {}).get("services") or {}).items()
                }
                if c.bgp
                else {},
            }
        return {"error": f"unknown command {cmd!r}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=".lab")
    parser.add_argument(
        "--no-bgp-router",
        dest="bgp_router",
        action="store_false",
        help="leave out the FRR router, the remote client and the BGP demo",
    )
    parser.add_argument(
        "--install",
        choices=("kustomize", "helm", "processes"),
        default="kustomize",
        help="how MetalLB runs: Pods installed from deploy/ (default) or the chart, or "
        "the harness's processes",
    )
    parser.add_argument(
        "--bgp-mode",
        choices=("native", "frr-k8s"),
        default="native",
        help="frr-k8s: each node runs FRR and frr-k8s; the speakers write FRRConfigurations",
    )
    args = parser.parse_args()
    labdir = Path(args.dir).resolve()
    labdir.mkdir(parents=True, exist_ok=True)
    _log(
        f"supervisor pid {os.getpid()}; management {MGMT_ROOT}, client {CLIENT_IP}, "
        f"nodes {', '.join(f'{n}={DATA_IP[n]}' for n in NODES)}"
    )
    started = time.monotonic()
    rc = Supervisor(
        labdir, bgp_router=args.bgp_router, install=args.install, bgp_mode=args.bgp_mode
    ).run()
    _log(f"supervisor exits after {time.monotonic() - started:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
