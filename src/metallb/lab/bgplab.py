"""The lab's BGP half: an FRR router peering with every node, and a client behind it.

:class:`~metallb.lab.cluster.L2Cluster` adds this when built with ``bgp_router=True``
(``metallb lab up`` does). Topology, documentation addresses only:

- ``router``: on the data LAN at ``ROUTER_IP`` (where the nodes' speakers dial it) and
  on a ``wan`` LAN at ``ROUTER_WAN_IP``; FRR (zebra + bgpd, AS ``ROUTER_ASN``) accepts a
  session from every node (AS ``NODE_ASN``) with ``maximum-paths 3``, so a Service IP
  the three nodes advertise becomes one kernel route with three next hops;
- ``remote``: a client on the wan LAN whose default route is the router, so its
  requests to a BGP Service IP can only arrive through what BGP taught the router;
- on each node, what kube-proxy would do for the BGP pool (``BGP_RANGE`` delivered
  locally, like the Layer 2 service range) and a route back to the wan LAN via the
  router, so replies take the same path as requests.

The wan LAN is ``203.0.113.0/25`` and the BGP pool ``203.0.113.192/28``, outside it: if
the pool lay inside the remote client's subnet, the client would ARP for Service IPs
on its own LAN instead of sending them to the router.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lightkube.generic_resource import create_namespaced_resource

from metallb.lab.netlab import Host, Netlab
from metallb.lab.routers import FRR, Neighbor, remove_frr_rundirs

ROUTER, REMOTE = "router", "remote"
ROUTER_IP = "192.0.2.1"
ROUTER_WAN_IP, REMOTE_IP, WAN_NET = "203.0.113.1", "203.0.113.50", "203.0.113.0/25"
BGP_RANGE = "203.0.113.192/28"
ROUTER_ASN, NODE_ASN = 64512, 64513

BGPPeer = create_namespaced_resource("metallb.io", "v1beta2", "BGPPeer", "bgppeers")
BGPAdv = create_namespaced_resource(
    "metallb.io", "v1beta1", "BGPAdvertisement", "bgpadvertisements"
)

# One path: "IP via HOP dev ..."; several: "IP proto bgp ..." then "nexthop via HOP ...".
_VIA = re.compile(r"\bvia (\S+)")


@dataclass
class BGPLab:
    """The router, its FRR daemons and the remote client of one lab."""

    router: FRR
    remote: Host

    @property
    def vtysh_argv(self) -> list[str]:
        """vtysh talking to this router's daemons (their own path space and config dir)."""
        return [
            "vtysh",
            "-N",
            self.router.pathspace,
            "--config_dir",
            str(self.router.workdir / f"{self.router.host.name}-vtysh"),
        ]

    def next_hops(self, ip: str) -> list[str]:
        """The next hops of the router's kernel route to ``ip``/32, sorted ([] if none)."""
        out = self.router.host.run("ip", "route", "show", f"{ip}/32")
        return sorted(set(_VIA.findall(out)))

    def curl(self, ip: str, timeout: float = 1.0) -> str | None:
        """The node name answering ``http://ip/`` from the remote client, or None."""
        proc = self.remote.call(
            "curl", "-s", "--max-time", str(timeout), f"http://{ip}/", timeout=timeout + 5
        )
        return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def add_bgp_router(
    lab: Netlab, nodes: Mapping[str, str], workdir: Path, stack: contextlib.ExitStack
) -> BGPLab:
    """Build the router, the wan LAN and the remote client; start FRR.

    ``nodes`` maps each node host's name to its data address. Teardown goes on
    ``stack``: FRR stops, then its path-space directory in /var/run/frr is removed;
    the namespaces go when ``lab`` closes.
    """
    wan = lab.add_lan("wan")
    host = lab.add_host(ROUTER)
    lab.connect(host, lab.lans["data"], "eth0", [f"{ROUTER_IP}/24"])
    lab.connect(host, wan, "eth1", [f"{ROUTER_WAN_IP}/25"])
    host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    remote = lab.add_host(REMOTE)
    lab.connect(remote, wan, "eth0", [f"{REMOTE_IP}/25"])
    remote.run("ip", "route", "add", "default", "via", ROUTER_WAN_IP)
    for name in nodes:
        node = lab.hosts[name]
        node.run("ip", "route", "add", "local", BGP_RANGE, "dev", "lo")
        node.run("ip", "route", "add", WAN_NET, "via", ROUTER_IP)
        # A new namespace may inherit a strict rp_filter from the root one; requests
        # to a Service IP arrive on eth0 for an address routed on lo, which strict
        # reverse-path filtering can count as asymmetric and drop. Turn it off.
        for conf in ("all", "default", "eth0"):
            node.run("sysctl", "-qw", f"net.ipv4.conf.{conf}.rp_filter=0")
    router = FRR(
        host,
        workdir,
        ROUTER_ASN,
        ROUTER_IP,
        [Neighbor(ip, NODE_ASN) for ip in nodes.values()],
        maximum_paths=3,
    )
    # LIFO: the daemons stop first, then their rundir goes (Netlab.close would kill
    # them too, but only after this stack's callbacks ran).
    stack.callback(remove_frr_rundirs, lab.tag)
    stack.callback(router.stop)
    router.start()
    return BGPLab(router, remote)
