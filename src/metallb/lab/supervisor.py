"""The lab's long-running process: builds the cluster, keeps it, tears it down.

``metallb lab up`` starts this detached (its own session) so the lab outlives the
command; ``lab down`` sends it SIGTERM. It writes ``<dir>/state.json`` (phase, pid,
service IPs) and serves one-line JSON commands on ``<dir>/control.sock`` for ``status``,
``fail-node`` and ``heal-node``. All work happens on the main thread: commands are
handled between waits, so nothing touches the cluster concurrently.

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

from metallb.lab.cluster import CLIENT_IP, DATA_IP, MGMT_ROOT, NODES, L2Cluster, wait_for
from metallb.lab.demo import DEMO_NS, deploy_demo


def _log(msg: str) -> None:
    print(f"lab: {msg}", flush=True)


class Supervisor:
    def __init__(self, labdir: Path) -> None:
        self.dir = labdir
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
            with L2Cluster(workdir=work, progress=_log) as cluster:
                self.cluster = cluster
                assert cluster.cp is not None
                assert cluster.kube is not None
                shutil.copyfile(cluster.cp.kubeconfig, self.dir / "kubeconfig")
                _log("creating an L2 IPAddressPool and two demo Services (IPv4, IPv6)")
                names = deploy_demo(cluster.kube)
                ips = {n: wait_for(partial(self._ip, n), 60, f"an IP for {n}") for n in names}
                # Show it working, as a user would check: a request from the client
                # namespace through each service IP.
                answers = {
                    n: wait_for(partial(cluster.curl, ip), 30, f"HTTP via {ip}")
                    for n, ip in ips.items()
                }
                self.write_state(
                    phase="ready", services=ips, answers=answers, server=cluster.cp.server
                )
                _log("ready")
                self._serve()
        except Exception as err:  # the CLI shows this line and the log
            self.write_state(phase="failed", error=f"{type(err).__name__}: {err}")
            _log(f"failed: {err}")
            return 1
        finally:
            self.sock_path.unlink(missing_ok=True)
            (self.dir / "kubeconfig").unlink(missing_ok=True)
            shutil.rmtree(work, ignore_errors=True)
        self.write_state(phase="stopped")
        _log("stopped; every namespace and process removed")
        return 0

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
            c.lab.hosts[node].link_set("eth0", "down")
            c.kill_speaker(node)
            self.failed.add(node)
            return {"ok": f"{node}: data link down and speaker killed"}
        if cmd == "heal-node":
            c.lab.hosts[node].link_set("eth0", "up")
            if not c.speakers[node].alive():
                c.start_speaker(node)
                c.wait_speaker_ready(node)
            self.failed.discard(node)
            return {"ok": f"{node}: data link up and speaker running"}
        if cmd == "status":
            answering = {}
            for name, ip in (self.state.get("services") or {}).items():
                macs = c.arping_macs(ip, count=1) if ":" not in ip else []
                answering[name] = [c.mac_owner(m) for m in macs]
            return {
                "state": self.state,
                "failed": sorted(self.failed),
                "speakers": {n: sp.alive() for n, sp in c.speakers.items()},
                "answering": answering,
                "http": {n: c.curl(ip) for n, ip in (self.state.get("services") or {}).items()},
            }
        return {"error": f"unknown command {cmd!r}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=".lab")
    args = parser.parse_args()
    labdir = Path(args.dir).resolve()
    labdir.mkdir(parents=True, exist_ok=True)
    _log(
        f"supervisor pid {os.getpid()}; management {MGMT_ROOT}, client {CLIENT_IP}, "
        f"nodes {', '.join(f'{n}={DATA_IP[n]}' for n in NODES)}"
    )
    started = time.monotonic()
    rc = Supervisor(labdir).run()
    _log(f"supervisor exits after {time.monotonic() - started:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
