"""The lab's network and what its clients do: shared by both ways the lab runs MetalLB.

:class:`metallb.lab.cluster.L2Cluster` runs the controller and speakers as processes;
:class:`metallb.lab.podcluster.PodCluster` runs them as Pods on real kubelet nodes. Both
build the same network (:func:`build_network`): three nodes ``n1..n3`` and a ``client``
on a data LAN, the nodes and the root namespace (where the apiserver listens) on a
management LAN kept apart from it, and optionally the BGP router with a remote client.
:class:`LanClients` holds what the tests and the lab do from the client namespace.
Addresses are documentation ones (:mod:`metallb.lab.netlab` refuses any other).
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from lightkube.generic_resource import create_namespaced_resource

from metallb.lab.bgplab import BGPLab, add_bgp_router
from metallb.lab.daemon import LabError
from metallb.lab.netlab import Host, Netlab

REPO = Path(__file__).resolve().parents[3]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))

NS = "metallb-system"
MGMT_ROOT = "198.51.100.254"
NODES = ("n1", "n2", "n3")
DATA_IP = {n: f"192.0.2.1{i}" for i, n in enumerate(NODES, 1)}
DATA_IP6 = {n: f"2001:db8::1{i}" for i, n in enumerate(NODES, 1)}
MGMT_IP = {n: f"198.51.100.1{i}" for i, n in enumerate(NODES, 1)}
MAC = {n: f"02:00:00:00:01:0{i}" for i, n in enumerate(NODES, 1)}
CLIENT_IP, CLIENT_IP6, CLIENT_MAC = "192.0.2.50", "2001:db8::50", "02:00:00:00:01:50"
# Every VIP the tests use lies in these: the nodes deliver them locally.
SERVICE_RANGE, SERVICE_RANGE6 = "192.0.2.192/27", "2001:db8::200/120"
SPEAKER_LABELS = "app=metallb,component=speaker"
WORKDIR_PREFIX = "l2cluster-"
EXCLUDE_L2 = "announcedInterfacesToExclude: ['^eth1$', '^lo$', '^veth.*']\n"
# Pod networks of the real-node lab: one IPv4 /28 and one IPv6 /64 per node, routed
# node to node over the data LAN and from the root namespace (the apiserver dials the
# webhook's Pod) over the management LAN. 203.0.113.128/26 is clear of the wan LAN
# (203.0.113.0/25) and the BGP pool (203.0.113.192/28).
POD_CIDR = {n: f"203.0.113.{128 + 16 * i}/28" for i, n in enumerate(NODES)}
POD_CIDR6 = {n: f"2001:db8:ff0{i}::/64" for i, n in enumerate(NODES, 1)}
T = TypeVar("T")

Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")
L2Adv = create_namespaced_resource("metallb.io", "v1beta1", "L2Advertisement", "l2advertisements")
L2Status = create_namespaced_resource(
    "metallb.io", "v1beta1", "ServiceL2Status", "servicel2statuses"
)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, step: float = 0.05) -> T:
    """Poll ``check`` until it returns a value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


_REPLY = re.compile(r"reply from (\S+) \[([0-9A-Fa-f:]+)\]")


def build_network(
    lab: Netlab,
    workdir: Path,
    stack: contextlib.ExitStack,
    *,
    bgp_router: bool,
    progress: Callable[[str], None],
) -> BGPLab | None:
    """The nodes, the client, both LANs and (with ``bgp_router``) the router."""
    progress("creating the network: 3 nodes, a client, a management and a data LAN")
    mgmt, data = lab.add_lan("mgmt"), lab.add_lan("data")
    lab.connect_root(mgmt, f"{MGMT_ROOT}/24")
    for n in NODES:
        host = lab.add_host(n)
        lab.connect(host, data, "eth0", [f"{DATA_IP[n]}/24", f"{DATA_IP6[n]}/64"], mac=MAC[n])
        lab.connect(host, mgmt, "eth1", [f"{MGMT_IP[n]}/24"])
    client = lab.add_host("client")
    lab.connect(client, data, "eth0", [f"{CLIENT_IP}/24", f"{CLIENT_IP6}/64"], mac=CLIENT_MAC)
    if not bgp_router:
        return None
    progress("starting an FRR router peering with every node, a remote client behind it")
    return add_bgp_router(lab, DATA_IP, workdir / "frr", stack)


class LanClients:
    """What the client on the data LAN does: ARP probes, neighbour lookups, HTTP."""

    lab: Netlab

    @property
    def client(self) -> Host:
        return self.lab.hosts["client"]

    def arping_macs(self, ip: str, count: int = 3) -> list[str]:
        """MACs of all replies to ``count`` broadcast probes from the client (lower case)."""
        proc = self.client.call(
            "arping", "-b", "-c", str(count), "-i", "1", "-w", str(count + 1), "-I", "eth0", ip,
            timeout=count + 10,
        )  # fmt: skip
        return [m.group(2).lower() for m in _REPLY.finditer(proc.stdout)]

    def neighbour_mac(self, ip: str) -> str | None:
        out = self.client.run("ip", "neigh", "show", ip, "dev", "eth0")
        found = re.search(r"lladdr ([0-9a-f:]+)", out)
        return found.group(1) if found else None

    def curl(self, ip: str, timeout: float = 1.0) -> str | None:
        """The node name the backend behind ``ip`` answers, or None."""
        host = f"[{ip}]" if ":" in ip else ip
        proc = self.client.call(
            "curl", "-s", "-g", "--max-time", str(timeout), f"http://{host}/",
            timeout=timeout + 5,
        )  # fmt: skip
        return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None

    def mac_owner(self, mac: str) -> str | None:
        return next((n for n, m in MAC.items() if m == mac), None)
