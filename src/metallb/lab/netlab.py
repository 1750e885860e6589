"""Simulated hosts and LANs from Linux network namespaces, for tests and the lab.

A :class:`Netlab` owns everything it creates: host namespaces, one "switch"
namespace per LAN holding a bridge (so nothing touches the root namespace's
links), the veth pairs joining them, and every process started inside. Closing
it kills the processes and deletes the namespaces, which destroys their links.

Safety is enforced here, not left to each test: addresses may only come from
the documentation ranges (RFC 5737, RFC 3849), so traffic can never leave for
a real network; namespace names carry the owner's PID, and a later run sweeps
namespaces whose owner died without cleaning up.

Only veth, bridge and vxlan links work on the machines this runs on (no dummy,
vlan or macvlan), which is why hosts are joined by veth pairs to bridges.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# RFC 5737 (IPv4) and RFC 3849 (IPv6) documentation ranges: never routed on the Internet.
SAFE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_PREFIX = "mlb"
_COUNTER = itertools.count()


class NetlabError(RuntimeError):
    """A namespace, link or address could not be set up."""


def check_safe(address: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """Parse ``addr/len`` and refuse anything outside the documentation ranges."""
    iface = ipaddress.ip_interface(address)
    net = iface.network
    if not any(net.version == n.version and net.subnet_of(n) for n in SAFE_NETWORKS):  # type: ignore[arg-type]
        raise NetlabError(
            f"{address} is outside the documentation ranges "
            f"({', '.join(map(str, SAFE_NETWORKS))}); the lab only uses those"
        )
    return iface


def _ip(*args: str, netns: str | None = None) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise NetlabError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc.stdout


def list_namespaces() -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "list"], check=False, capture_output=True, text=True, timeout=30
    )
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def sweep_stale_namespaces() -> list[str]:
    """Delete ``mlb<pid>-*`` namespaces whose owning process no longer exists."""
    removed = []
    for name in list_namespaces():
        head = name.split("-", 1)[0]
        if not head.startswith(_PREFIX) or not head[len(_PREFIX) :].isdigit():
            continue
        if Path(f"/proc/{head[len(_PREFIX) :]}").exists():
            continue
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=30)
        removed.append(name)
    return removed


@dataclass
class Host:
    """A network namespace standing for one machine."""

    lab: Netlab
    name: str
    netns: str
    # ifname -> (LAN, the switch port its cable plugs into)
    ports: dict[str, tuple[Lan, str]] = field(default_factory=dict)

    def call(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace; the caller reads the exit code."""
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(self, *argv: str, timeout: float = 30) -> str:
        """Run a command inside the namespace and return its stdout; fail on non-zero exit."""
        proc = self.call(*argv, timeout=timeout)
        if proc.returncode != 0:
            raise NetlabError(
                f"{self.name}: `{' '.join(argv)}` exited {proc.returncode}: "
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc.stdout

    def start(self, *argv: str, log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running process inside the namespace; the lab stops it on close."""
        out = log.open("ab") if log else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
        self.lab.processes.append(proc)
        return proc

    def link_set(self, ifname: str, state: str) -> None:
        """Set one of the host's links ``up`` or ``down``."""
        _ip("link", "set", ifname, state, netns=self.netns)

    def cable(self, ifname: str, plugged: bool) -> None:
        """Pull (or plug back) the cable of ``ifname`` at the switch.

        Unlike :meth:`link_set` on the host's side, the host keeps its link
        administratively up: the kernel only sees the carrier go, so the routes through
        the link stay (an admin-down link loses every static route through it, which a
        machine cut off by a switch or a cable does not).
        """
        lan, port = self.ports[ifname]
        _ip("link", "set", port, "up" if plugged else "down", netns=lan.netns)

    def mac(self, ifname: str) -> str:
        """The MAC address of one of the host's links (``ip -br link``: name, state, MAC)."""
        return _ip("-br", "link", "show", ifname, netns=self.netns).split()[2]


@dataclass
class Lan:
    """A broadcast domain: a bridge in a switch namespace of its own."""

    name: str
    netns: str
    bridge: str = "br0"


@dataclass(frozen=True)
class Uplink:
    """The cable between two LANs' switches (:meth:`Netlab.uplink`)."""

    lan: Lan
    port: str  # its end in ``lan``'s switch

    def plug(self, plugged: bool) -> None:
        """Plug the cable back (heal) or pull it (partition): one link at one switch, so
        both sides see it at the same instant (a veth's peer loses its carrier with it)."""
        _ip("link", "set", self.port, "up" if plugged else "down", netns=self.lan.netns)


@dataclass
class Netlab:
    """Owner of every namespace, link and process of one test network."""

    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    hosts: dict[str, Host] = field(default_factory=dict)
    lans: dict[str, Lan] = field(default_factory=dict)
    root_links: list[str] = field(default_factory=list)
    tag: str = field(default_factory=lambda: f"{_PREFIX}{os.getpid()}-{next(_COUNTER)}")

    def __enter__(self) -> Netlab:
        sweep_stale_namespaces()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _netns(self, name: str) -> str:
        netns = f"{self.tag}-{name}"
        _ip("netns", "add", netns)
        self.namespaces.append(netns)
        _ip("link", "set", "lo", "up", netns=netns)
        return netns

    def add_host(self, name: str) -> Host:
        """A new machine with only loopback (up: daemons bind their control sockets there)."""
        if name in self.hosts:
            raise NetlabError(f"host {name} exists")
        host = Host(self, name, self._netns(name))
        # Duplicate address detection would hold new IPv6 addresses "tentative" for
        # a second or more; lab addresses are unique by construction.
        host.run("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0")
        host.run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        self.hosts[name] = host
        return host

    def add_lan(self, name: str) -> Lan:
        """A new LAN: a bridge in its own namespace, with no address of its own."""
        lan = Lan(name, self._netns(f"sw-{name}"))
        _ip("link", "add", lan.bridge, "type", "bridge", netns=lan.netns)
        # No STP and no forwarding delay: ports forward as soon as they come up.
        _ip(
            "link",
            "set",
            lan.bridge,
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
            netns=lan.netns,
        )
        _ip("link", "set", lan.bridge, "up", netns=lan.netns)
        self.lans[name] = lan
        return lan

    def connect(
        self,
        host: Host,
        lan: Lan,
        ifname: str,
        addresses: Sequence[str] = (),
        mac: str | None = None,
    ) -> None:
        """Plug ``host`` into ``lan`` through a new interface ``ifname`` with ``addresses``."""
        for a in addresses:
            check_safe(a)
        port = f"p{len(self.namespaces)}{next(_COUNTER)}"[:15]
        _ip(
            "link",
            "add",
            ifname,
            "netns",
            host.netns,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            lan.netns,
        )
        _ip("link", "set", port, "master", lan.bridge, "up", netns=lan.netns)
        host.ports[ifname] = (lan, port)
        if mac:
            _ip("link", "set", ifname, "address", mac, netns=host.netns)
        for a in addresses:
            _ip("addr", "add", a, "dev", ifname, *(["nodad"] if ":" in a else []), netns=host.netns)
        _ip("link", "set", ifname, "up", netns=host.netns)

    def uplink(self, a: Lan, b: Lan) -> Uplink:
        """Join two LANs' switches with a cable (a veth pair between their bridges), so
        they form one broadcast domain until :meth:`Uplink.plug` pulls it: a partition of
        the LAN in one step, healed in one step."""
        port_a = f"u{len(self.namespaces)}{next(_COUNTER)}"[:15]
        port_b = f"u{len(self.namespaces)}{next(_COUNTER)}"[:15]
        _ip(
            "link", "add", port_a, "netns", a.netns, "type", "veth",
            "peer", "name", port_b, "netns", b.netns,
        )  # fmt: skip
        _ip("link", "set", port_a, "master", a.bridge, "up", netns=a.netns)
        _ip("link", "set", port_b, "master", b.bridge, "up", netns=b.netns)
        return Uplink(a, port_a)

    def connect_root(self, lan: Lan, address: str) -> str:
        """Plug the ROOT namespace into ``lan`` with ``address``; return the interface name.

        For a management LAN only: it lets processes in host namespaces reach a server
        of the root namespace (the test apiserver) at ``address``. Keep it apart from
        the LANs under test, whose ARP and failures it must not see. The address must
        be a documentation one like every other, on a subnet no other root link uses
        (the root namespace routes each subnet through one interface); the link is
        deleted on :meth:`close` (and with the switch namespace, should this process die
        first).
        """
        check_safe(address)
        ifname = f"mlr{os.getpid()}x{next(_COUNTER)}"[:15]
        port = f"r{len(self.namespaces)}{next(_COUNTER)}"[:15]
        _ip("link", "add", ifname, "type", "veth", "peer", "name", port, "netns", lan.netns)
        self.root_links.append(ifname)
        _ip("link", "set", port, "master", lan.bridge, "up", netns=lan.netns)
        _ip("addr", "add", address, "dev", ifname, *(["nodad"] if ":" in address else []))
        _ip("link", "set", ifname, "up")
        return ifname

    def close(self) -> None:
        """Stop every process, then delete every namespace (their links go with them)."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 15)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, 9)
                    proc.wait(5)
        self.processes.clear()
        for ifname in self.root_links:
            subprocess.run(
                ["ip", "link", "del", ifname], check=False, capture_output=True, timeout=30
            )
        self.root_links.clear()
        for netns in reversed(self.namespaces):
            subprocess.run(
                ["ip", "netns", "del", netns], check=False, capture_output=True, timeout=30
            )
        self.namespaces.clear()
        self.hosts.clear()
        self.lans.clear()
