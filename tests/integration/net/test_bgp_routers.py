"""The native BGP speaker against real routers (FRR, BIRD 2, GoBGP) in network
namespaces: routes with their attributes appear and are withdrawn, TCP-MD5, peer
restarts, silent peers caught by the hold timer, and ECMP from three nodes.

Each speaker is ``python -m bench.bgp_demo`` started inside a node namespace
(sockets belong to the namespace of the process that opens them); routers are started
through :mod:`metallb.lab.routers`, so the Netlab kills every daemon on teardown.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from metallb.lab.netlab import Host, Netlab
from metallb.lab.routers import (
    FRR,
    ROUTERS,
    GoBGP,
    Neighbor,
    Route,
    Router,
    remove_frr_rundirs,
    wait_for,
)

ROUTER_ASN = 64512
NODE_ASN_EBGP = 64513
ROUTER_V4, ROUTER_V6 = "192.0.2.1", "2001:db8::1"
VIP4, VIP6 = "198.51.100.7/32", "2001:db8:ff::7/128"
COMMUNITY, LARGE = "64512:100", "64512:1:2"
LOCAL_PREF = 150
CLIENT, CLIENT_GW, CLIENT_NET = "203.0.113.10", "203.0.113.1", "203.0.113.0/24"
WAIT = 20.0  # seconds any single convergence may take


def node_v4(i: int) -> str:
    return f"192.0.2.{10 + i}"


def node_v6(i: int) -> str:
    return f"2001:db8::{10 + i:x}"


@dataclass
class Speaker:
    """One demo speaker process and its JSON-lines log."""

    proc: subprocess.Popen[bytes]
    log: Path
    prefixes: Path

    def events(self) -> list[dict[str, object]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def transitions(self) -> list[tuple[object, object, object]]:
        return [(e["old"], e["new"], e["on"]) for e in self.events() if e["event"] == "transition"]

    def ups(self) -> int:
        return sum(1 for old, new, _ in self.transitions() if new == "Established" != old)

    def announce(self, *prefixes: str) -> None:
        tmp = self.prefixes.with_suffix(".tmp")
        tmp.write_text("\n".join(prefixes) + "\n")
        tmp.rename(self.prefixes)  # atomic: the speaker never reads half a file


@dataclass
class BgpNet:
    lab: Netlab
    router_host: Host
    nodes: list[Host]
    tmp: Path

    def router(
        self,
        kind: str,
        node_asn: int,
        *,
        count: int = 1,
        password: str | None = None,
        hold_time: int = 9,
        maximum_paths: int = 0,
        ipv6: bool = False,
    ) -> Router:
        """A router peering with nodes 1..count, all in ``node_asn``."""
        address = node_v6 if ipv6 else node_v4
        neighbors = [Neighbor(address(i), node_asn, password) for i in range(1, count + 1)]
        workdir = self.tmp / kind
        router: Router
        if kind == "frr":
            router = FRR(
                self.router_host,
                workdir,
                ROUTER_ASN,
                ROUTER_V4,
                neighbors,
                hold_time,
                maximum_paths=maximum_paths,
            )
        else:
            router = ROUTERS[kind](
                self.router_host, workdir, ROUTER_ASN, ROUTER_V4, neighbors, hold_time
            )
        router.start()
        return router

    def speaker(self, index: int, node_asn: int, *args: str, peer: str = ROUTER_V4) -> Speaker:
        host = self.nodes[index - 1]
        log = self.tmp / f"speaker-{index}.log"
        prefixes = self.tmp / f"prefixes-{index}.txt"
        argv = [sys.executable, "-m", "bench.bgp_demo", "--peer", peer]
        argv += ["--local-asn", str(node_asn), "--peer-asn", str(ROUTER_ASN)]
        argv += ["--prefixes-file", str(prefixes), "--lifetime", "240", *args]
        proc = host.start(*argv, log=log)
        return Speaker(proc, log, prefixes)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[BgpNet]:
    """A router and three nodes on one LAN, dual stack, documentation addresses."""
    tmp_path.chmod(0o755)  # FRR's daemons run as user frr and read their config here
    with Netlab() as lab:
        lan = lab.add_lan("lan")
        router = lab.add_host("router")
        lab.connect(router, lan, "eth0", [f"{ROUTER_V4}/24", f"{ROUTER_V6}/64"])
        nodes = []
        for i in (1, 2, 3):
            node = lab.add_host(f"node{i}")
            lab.connect(node, lan, "eth0", [f"{node_v4(i)}/24", f"{node_v6(i)}/64"])
            nodes.append(node)
        yield BgpNet(lab, router, nodes, tmp_path)
    remove_frr_rundirs(lab.tag)


# An eBGP route carries no LOCAL_PREF (RFC 4271 section 5.1.5); BIRD then shows its
# own default preference for it, the others show none.
EBGP_LOCAL_PREF = {"frr": None, "bird": 100, "gobgp": None}


def expected(ibgp: bool, next_hop: str, kind: str = "bird") -> Route:
    return Route(
        next_hop=next_hop,
        communities=(COMMUNITY,),
        large_communities=(LARGE,),
        local_pref=LOCAL_PREF if ibgp else EBGP_LOCAL_PREF[kind],
    )


ATTRS = ["--community", COMMUNITY, "--large-community", LARGE, "--local-pref", str(LOCAL_PREF)]


@pytest.mark.parametrize(
    ("kind", "ibgp"),
    [
        pytest.param("frr", False, id="FRR eBGP"),
        pytest.param("frr", True, id="FRR iBGP"),
        pytest.param("bird", True, id="BIRD iBGP"),
        pytest.param("bird", False, id="BIRD eBGP"),
        pytest.param("gobgp", True, id="GoBGP iBGP"),
    ],
)
def test_routes_appear_with_attributes_and_are_withdrawn(
    net: BgpNet, kind: str, ibgp: bool
) -> None:
    """A /32 and a /128 reach the router with our next hops, communities, large
    communities and (iBGP only) local preference; set() without them withdraws both."""
    asn = ROUTER_ASN if ibgp else NODE_ASN_EBGP
    router = net.router(kind, asn)
    speaker = net.speaker(1, asn, *ATTRS)
    speaker.announce(VIP4, VIP6)
    router.wait_established(node_v4(1), WAIT)
    v4 = wait_for("the /32", lambda: router.routes(4).get(VIP4), WAIT)
    v6 = wait_for("the /128", lambda: router.routes(6).get(VIP6), WAIT)
    assert v4 == [expected(ibgp, node_v4(1), kind)]
    assert v6 == [expected(ibgp, node_v6(1), kind)]
    speaker.announce()
    wait_for("withdrawal", lambda: not router.routes(4) and not router.routes(6), WAIT)
    assert router.established(node_v4(1))  # withdrawn by UPDATE, not by a reset
    assert speaker.ups() == 1


def test_tcp_md5_right_password_establishes_and_wrong_never_does(net: BgpNet) -> None:
    """FRR with a neighbour password: the speaker with the same key is Established and
    its route arrives; one with another key never gets past Connect."""
    router = net.router("frr", NODE_ASN_EBGP, count=2, password="s3cret")
    good = net.speaker(1, NODE_ASN_EBGP, "--password", "s3cret")
    bad = net.speaker(2, NODE_ASN_EBGP, "--password", "wrong", "--connect-timeout", "2")
    good.announce(VIP4)
    bad.announce("198.51.100.8/32")
    router.wait_established(node_v4(1), WAIT)
    wait_for("the good route", lambda: router.routes(4).get(VIP4), WAIT)
    # Unsigned by the right key, its SYNs are dropped: attempts time out in Connect.
    wait_for("two failed attempts", lambda: bad_attempts(bad) >= 2, WAIT)
    with pytest.raises(TimeoutError):
        router.wait_established(node_v4(2), 3)
    assert "198.51.100.8/32" not in router.routes(4)
    assert bad.ups() == 0


def test_ipv6_transport_with_tcp_md5_carries_both_families(net: BgpNet) -> None:
    """A session to FRR's IPv6 address, keyed with TCP-MD5 on the IPv6 peer: the /128
    gets the node's IPv6 address as next hop, the /32 the IPv4 address on the same
    interface."""
    router = net.router("frr", ROUTER_ASN, password="s3cret", ipv6=True)
    speaker = net.speaker(1, ROUTER_ASN, *ATTRS, "--password", "s3cret", peer=ROUTER_V6)
    speaker.announce(VIP4, VIP6)
    router.wait_established(node_v6(1), WAIT)
    v4 = wait_for("the /32", lambda: router.routes(4).get(VIP4), WAIT)
    v6 = wait_for("the /128", lambda: router.routes(6).get(VIP6), WAIT)
    assert v4 == [expected(True, node_v4(1))]
    assert v6 == [expected(True, node_v6(1))]


def bad_attempts(speaker: Speaker) -> int:
    return sum(1 for old, new, _ in speaker.transitions() if (old, new) == ("Connect", "Idle"))


def test_peer_port_is_dialled(net: BgpNet) -> None:
    """peerPort: a GoBGP listening on 1179 gets the session and the route."""
    neighbors = [Neighbor(node_v4(1), ROUTER_ASN)]
    router = GoBGP(net.router_host, net.tmp / "gobgp", ROUTER_ASN, ROUTER_V4, neighbors, port=1179)
    router.start()
    speaker = net.speaker(1, ROUTER_ASN, "--peer-port", "1179")
    speaker.announce(VIP4)
    router.wait_established(node_v4(1), WAIT)
    assert wait_for("the /32", lambda: router.routes(4).get(VIP4), WAIT)


def test_routes_return_after_the_peer_restarts(net: BgpNet) -> None:
    """Killing BIRD and starting it again: the speaker redials and replays its routes."""
    router = net.router("bird", ROUTER_ASN)
    speaker = net.speaker(1, ROUTER_ASN, *ATTRS)
    speaker.announce(VIP4, VIP6)
    wait_for("the routes", lambda: router.routes(6).get(VIP6), WAIT)
    router.stop()
    wait_for(
        "the speaker to notice",
        lambda: ("Established", "Idle") in [(o, n) for o, n, _ in speaker.transitions()],
        WAIT,
    )
    router.start()
    # Refused redials back off (1, 2, 4, 8 s ...): allow for a slow restart under load.
    wait_for("the routes again", lambda: router.routes(4).get(VIP4), 2 * WAIT)
    assert router.routes(6).get(VIP6) == [expected(True, node_v6(1))]
    assert speaker.ups() == 2


@pytest.mark.parametrize("kind", ["frr", "bird", "gobgp"])
def test_silent_peer_is_caught_by_the_hold_timer(net: BgpNet, kind: str) -> None:
    """A router frozen with SIGSTOP sends nothing more: with a 3 s hold time the speaker
    drops the session on HOLD_TIMER_EXPIRES (and the router is thawed for teardown)."""
    router = net.router(kind, ROUTER_ASN, hold_time=3)
    speaker = net.speaker(1, ROUTER_ASN, "--hold-time", "3")
    speaker.announce(VIP4)
    router.wait_established(node_v4(1), WAIT)
    router.signal(signal.SIGSTOP)
    try:
        wait_for(
            "hold timer expiry",
            lambda: ("Established", "Idle", "HOLD_TIMER_EXPIRES") in speaker.transitions(),
            10,
        )
    finally:
        router.signal(signal.SIGCONT)


def test_three_nodes_give_three_ecmp_paths_and_a_client_gets_through(net: BgpNet) -> None:
    """Three speakers advertise one /32 to FRR with maximum-paths 3: the router's kernel
    table holds one route with three next hops, one per node, and a client on another
    LAN behind the router reaches the service IP through it."""
    router = net.router("frr", NODE_ASN_EBGP, count=3, maximum_paths=3)
    vip = VIP4.split("/", maxsplit=1)[0]
    client = net.lab.add_host("client")
    net.lab.connect(client, net.lab.add_lan("outside"), "eth0", [f"{CLIENT}/24"])
    client.run("ip", "route", "add", "default", "via", CLIENT_GW)
    net.lab.connect(net.router_host, net.lab.lans["outside"], "eth1", [f"{CLIENT_GW}/24"])
    net.router_host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    for i, node in enumerate(net.nodes, start=1):
        # What kube-proxy would do: the node accepts the service IP (here on lo).
        node.run("ip", "addr", "add", VIP4, "dev", "lo")
        node.run("ip", "route", "add", f"{CLIENT_NET}", "via", ROUTER_V4)
        net.speaker(i, NODE_ASN_EBGP).announce(VIP4)

    def three_hops() -> list[str] | None:
        hops = sorted(set(re_hops(net.router_host.run("ip", "route", "show", VIP4))))
        return hops if len(hops) == 3 else None

    hops = wait_for("three ECMP next hops", three_hops, WAIT)
    assert hops == sorted(node_v4(i) for i in (1, 2, 3))
    assert router.established(node_v4(3))
    client.run("ping", "-c", "3", "-i", "0.2", "-W", "2", vip)


def test_stopping_the_speaker_says_cease_to_the_router(net: BgpNet) -> None:
    """SIGTERM to the speaker closes the session with Cease / Administrative Shutdown
    (RFC 4486, RFC 9003) instead of a bare TCP close; FRR records why."""
    router = net.router("frr", NODE_ASN_EBGP)
    assert isinstance(router, FRR)
    speaker = net.speaker(1, NODE_ASN_EBGP)
    speaker.announce(VIP4)
    router.wait_established(node_v4(1), WAIT)
    speaker.proc.send_signal(signal.SIGTERM)
    speaker.proc.wait(10)

    def neighbor() -> dict[str, object] | None:
        out = json.loads(router.vtysh(f"show bgp neighbors {node_v4(1)} json"))
        state = out.get(node_v4(1), {})
        return state if state.get("lastNotificationReason") else None

    state = wait_for("FRR to record the reset", neighbor, WAIT)
    assert state["lastResetDueTo"] == "BGP Notification received"
    assert state["lastNotificationReason"] == "Cease/Administrative Shutdown"
    assert state["lastShutdownDescription"] == "speaker stopping"  # RFC 9003 text


def re_hops(route_output: str) -> list[str]:
    return re.findall(r"nexthop via (\S+)", route_output)
