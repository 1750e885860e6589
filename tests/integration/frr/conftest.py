"""A node running FRR driven by the FRR backend, peering with an FRR router, both with
bfdd, on one LAN of network namespaces (documentation addresses, private ASNs)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from metallb.lab.netlab import Host, Netlab
from metallb.lab.routers import (
    FRR,
    FRR_RUN,
    Neighbor,
    remove_frr_rundirs,
    start_frr,
    wait_for,
)

ASN = 64512  # iBGP: node and router share it, so LOCAL_PREF travels
ROUTER_V4, ROUTER_V6 = "192.0.2.1", "2001:db8::1"
NODE_V4, NODE_V6 = "192.0.2.10", "2001:db8::10"
BFD_MS = 100  # both ends: 100 ms intervals, multiplier 3 -> 300 ms detection


class BFDRouter(FRR):
    """The lab's FRR router plus bfdd and BFD towards its neighbours."""

    def config(self) -> str:
        lines = super().config().splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith(" address-family"))
        extra = []
        for n in self.neighbors:
            extra += [f" neighbor {n.address} bfd", f" neighbor {n.address} bfd profile lab"]
        bfd = ["bfd", " profile lab", f"  receive-interval {BFD_MS}"]
        bfd += [f"  transmit-interval {BFD_MS}", "  detect-multiplier 3", " exit", "exit"]
        return "\n".join([*lines[:at], *extra, *lines[at:], *bfd]) + "\n"

    def start(self) -> None:
        start_frr(self.host, self.pathspace, self.config(), self._path("frr.out"), self.procs)
        wait_for("bgpd", lambda: self.vtysh_call("show bgp summary").returncode == 0, 10)


@dataclass
class FrrNet:
    lab: Netlab
    router: BFDRouter
    node: Host
    node_procs: list[subprocess.Popen[bytes]]
    workdir: Path


@pytest.fixture
def frrnet(tmp_path: Path) -> Iterator[FrrNet]:
    tmp_path.chmod(0o755)
    with Netlab() as lab:
        lan = lab.add_lan("lan")
        router_host, node = lab.add_host("router"), lab.add_host("node")
        lab.connect(router_host, lan, "eth0", [f"{ROUTER_V4}/24", f"{ROUTER_V6}/64"])
        lab.connect(node, lan, "eth0", [f"{NODE_V4}/24", f"{NODE_V6}/64"])
        router = BFDRouter(router_host, tmp_path, ASN, ROUTER_V4, [Neighbor(NODE_V4, ASN)])
        router.start()
        procs: list[subprocess.Popen[bytes]] = []
        base = f"frr defaults traditional\nhostname node\nlog file {FRR_RUN / node.netns}/frr.log\n"
        start_frr(node, node.netns, base, tmp_path / "node-frr.out", procs)
        try:
            yield FrrNet(lab, router, node, procs, tmp_path / "backend")
        finally:
            lab.close()
            remove_frr_rundirs(lab.tag)
