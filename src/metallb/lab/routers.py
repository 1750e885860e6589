"""Real BGP routers (FRR, BIRD 2, GoBGP) in a netlab host, from a generated config.

Each router listens passively (the speaker dials, as upstream's native speaker), accepts the
routes its neighbours send and exports nothing. Daemons run in the foreground through
:meth:`Host.start`, so the :class:`~metallb.lab.netlab.Netlab` that owns the host kills
them on close; their logs and configs live in a directory the caller owns.

Queries return plain dicts (prefix -> :class:`Route`), normalised across the three
routers so one test can check all of them the same way. Each daemon gets its own
configuration, run and socket directories, so several run on one machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from metallb.lab.netlab import Host, NetlabError

FRR_BIN = Path("/usr/lib/frr")
FRR_RUN = Path("/var/run/frr")
GOBGP_API_PORT = 50051
POLL = 0.1  # seconds between polls in wait helpers


@dataclass(frozen=True)
class Neighbor:
    """A speaker the router accepts a session from."""

    address: str
    asn: int
    password: str | None = None


@dataclass(frozen=True)
class Route:
    """One received path, normalised: communities as ``"a:b"``, large as ``"a:b:c"``."""

    next_hop: str
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    local_pref: int | None = None


T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll ``probe`` until it returns something truthy, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(POLL)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@dataclass
class Router:
    """Common parts: the host, our AS, router ID, neighbours and a work directory."""

    host: Host
    workdir: Path
    asn: int
    router_id: str
    neighbors: Sequence[Neighbor]
    hold_time: int = 9
    port: int = 179  # where the router listens (honoured by GoBGP)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    kind = "router"

    def start(self) -> None:
        raise NotImplementedError

    def routes(self, family: int) -> dict[str, list[Route]]:
        """Received prefixes (``"a.b.c.d/32"``) and their paths, for IPv4 or IPv6."""
        raise NotImplementedError

    def established(self, address: str) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        """Kill the daemons now (a peer crash); Netlab would do it on close anyway."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait(5)
        self.procs.clear()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to every daemon (SIGSTOP freezes the router: silence)."""
        for proc in self.procs:
            os.killpg(proc.pid, sig)

    def wait_established(self, address: str, timeout: float = 20) -> None:
        wait_for(f"{self.kind} session with {address}", lambda: self.established(address), timeout)

    def _path(self, name: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir / f"{self.host.name}-{name}"


def remove_frr_rundirs(tag: str | None = None) -> list[str]:
    """Delete FRR path-space directories of a finished lab (``tag``), or, without a tag,
    those whose owning process (``mlb<pid>-...``) is gone. Call after the lab closed."""
    removed = []
    for path in FRR_RUN.glob("mlb*-*") if FRR_RUN.exists() else ():
        head = path.name.split("-", 1)[0]
        pid = head[3:]
        mine = tag is not None and path.name.startswith(f"{tag}-")
        dead = pid.isdigit() and not Path(f"/proc/{pid}").exists()
        if mine or (tag is None and dead):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


@dataclass
class FRR(Router):
    """zebra + bgpd with a path space (``-N``) of their own; ``maximum_paths`` > 0
    turns on ECMP for eBGP and iBGP routes."""

    kind = "FRR"
    maximum_paths: int = 0

    @property
    def pathspace(self) -> str:
        return self.host.netns

    def config(self) -> str:
        lines = [
            "frr defaults traditional",
            f"hostname {self.host.name}",
            f"log file {FRR_RUN / self.pathspace / 'frr.log'}",
            f"router bgp {self.asn}",
            f" bgp router-id {self.router_id}",
            " no bgp ebgp-requires-policy",
            " no bgp default ipv4-unicast",
        ]
        for n in self.neighbors:
            lines.append(f" neighbor {n.address} remote-as {n.asn}")
            lines.append(f" neighbor {n.address} passive")
            keepalive = max(1, self.hold_time // 3)
            lines.append(f" neighbor {n.address} timers {keepalive} {self.hold_time}")
            if n.password:
                lines.append(f" neighbor {n.address} password {n.password}")
        for fam in ("ipv4", "ipv6"):
            lines.append(f" address-family {fam} unicast")
            if self.maximum_paths:
                lines.append(f"  maximum-paths {self.maximum_paths}")
                lines.append(f"  maximum-paths ibgp {self.maximum_paths}")
            lines += [f"  neighbor {n.address} activate" for n in self.neighbors]
            lines.append(" exit-address-family")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        remove_frr_rundirs()  # leftovers of runs that died before cleaning up
        rundir = FRR_RUN / self.pathspace
        rundir.mkdir(parents=True, exist_ok=True)
        shutil.chown(rundir, "frr", "frr")
        # The daemons run as user frr: keep their config where that user can read it
        # (pytest's tmp_path is private to root), with a copy in workdir for reading.
        conf = rundir / "frr.conf"
        conf.write_text(self.config())
        conf.chmod(0o644)
        self._path("frr.conf").write_text(self.config())
        log = self._path("frr.out")
        for daemon in ("zebra", "bgpd"):
            argv = [str(FRR_BIN / daemon), "-N", self.pathspace, "-f", str(conf)]
            argv += ["-i", str(rundir / f"{daemon}.pid")]
            self.procs.append(self.host.start(*argv, log=log))
            if daemon == "zebra":
                wait_for("zebra socket", (rundir / "zserv.api").exists, 10)
        wait_for("bgpd", lambda: self.vtysh_call("show bgp summary").returncode == 0, 10)

    def vtysh(self, command: str) -> str:
        # --config_dir: vtysh -N otherwise insists on /etc/frr/<pathspace>/vtysh.conf.
        vtyconf = self._path("vtysh")
        (vtyconf / self.pathspace).mkdir(parents=True, exist_ok=True)
        (vtyconf / self.pathspace / "vtysh.conf").touch()
        argv = ["vtysh", "-N", self.pathspace, "--config_dir", str(vtyconf), "-c", command]
        return self.host.run(*argv)

    def vtysh_call(self, command: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.CompletedProcess([], 0, self.vtysh(command), "")
        except NetlabError as err:
            return subprocess.CompletedProcess([], 1, "", str(err))

    def established(self, address: str) -> bool:
        out = json.loads(self.vtysh(f"show bgp neighbors {address} json") or "{}")
        return bool(out.get(address, {}).get("bgpState") == "Established")

    def routes(self, family: int) -> dict[str, list[Route]]:
        fam = "ipv4" if family == 4 else "ipv6"
        table = json.loads(self.vtysh(f"show bgp {fam} unicast json") or "{}")
        out: dict[str, list[Route]] = {}
        for prefix in table.get("routes", {}):
            detail = json.loads(self.vtysh(f"show bgp {fam} unicast {prefix} json"))
            out[prefix] = [_frr_route(p) for p in detail.get("paths", [])]
        return out


def _frr_route(path: dict[str, object]) -> Route:
    hops = path.get("nexthops") or [{}]
    hop = hops[0] if isinstance(hops, list) else {}
    comm = path.get("community")
    large = path.get("largeCommunity")
    lp = path.get("locPrf")
    return Route(
        next_hop=str(hop.get("ip", "")),
        communities=tuple(str(comm["string"]).split()) if isinstance(comm, dict) else (),
        large_communities=tuple(str(large["string"]).split()) if isinstance(large, dict) else (),
        local_pref=int(lp) if isinstance(lp, int) else None,
    )


class BIRD(Router):
    """BIRD 2 in the foreground, controlled through its socket."""

    kind = "BIRD"

    @property
    def socket(self) -> Path:
        return self._path("bird.ctl")

    def config(self) -> str:
        parts = [
            f"router id {self.router_id};",
            f'log "{self._path("bird.log")}" all;',
            "protocol device {}",
            "protocol direct { ipv4; ipv6; }",
        ]
        for i, n in enumerate(self.neighbors):
            password = f'password "{n.password}";' if n.password else ""
            parts.append(
                f"protocol bgp peer{i} {{ local as {self.asn}; neighbor {n.address} as {n.asn};"
                f" passive on; hold time {self.hold_time}; {password}"
                " ipv4 { import all; export none; }; ipv6 { import all; export none; }; }"
            )
        return "\n".join(parts) + "\n"

    def start(self) -> None:
        conf = self._path("bird.conf")
        conf.write_text(self.config())
        self.socket.unlink(missing_ok=True)  # a restart must not find the old one
        argv = ["bird", "-f", "-c", str(conf), "-s", str(self.socket)]
        self.procs.append(self.host.start(*argv, log=self._path("bird.out")))
        wait_for("bird control socket", self.socket.exists, 10)

    def birdc(self, *command: str) -> str:
        return self.host.run("birdc", "-s", str(self.socket), *command)

    def established(self, address: str) -> bool:
        index = [n.address for n in self.neighbors].index(address)
        return "Established" in self.birdc("show", "protocols", f"peer{index}")

    def route_count(self) -> int:
        """Routes in all tables (``show route count``: one line per table, then a total)."""
        match = re.search(r"Total: (\d+) of", self.birdc("show", "route", "count"))
        return int(match.group(1)) if match else 0

    def routes(self, family: int) -> dict[str, list[Route]]:
        table = "master4" if family == 4 else "master6"
        out: dict[str, list[Route]] = {}
        prefix = ""
        current: dict[str, str] = {}

        def flush() -> None:
            if current.get("proto", "").startswith("peer"):
                out.setdefault(prefix, []).append(_bird_route(current))

        for line in self.birdc("show", "route", "all", "table", table).splitlines():
            head = re.match(r"^(\S+/\d+)\s+\w+\s+\[(\S+)", line)
            alt = re.match(r"^\s+\w+\s+\[(\S+)\s", line)
            if head or alt:
                flush()
                if head:
                    prefix = head.group(1)
                current = {"proto": (head or alt).group(2 if head else 1)}  # type: ignore[union-attr]
                continue
            attr = re.match(r"^\s+BGP\.(\w+):\s*(.*)$", line)
            if attr:
                current[attr.group(1)] = attr.group(2).strip()
        flush()
        return out


def _bird_route(attrs: dict[str, str]) -> Route:
    comms = re.findall(r"\((\d+),\s*(\d+)\)", attrs.get("community", ""))
    larges = re.findall(r"\((\d+),\s*(\d+),\s*(\d+)\)", attrs.get("large_community", ""))
    lp = attrs.get("local_pref")
    return Route(
        next_hop=attrs.get("next_hop", "").split()[0] if attrs.get("next_hop") else "",
        communities=tuple(f"{a}:{b}" for a, b in comms),
        large_communities=tuple(f"{a}:{b}:{c}" for a, b, c in larges),
        local_pref=int(lp) if lp else None,
    )


class GoBGP(Router):
    """gobgpd with its gRPC API on the namespace's loopback."""

    kind = "GoBGP"

    def config(self) -> str:
        lines = [
            "[global.config]",
            f"  as = {self.asn}",
            f'  router-id = "{self.router_id}"',
            f"  port = {self.port}",
        ]
        for n in self.neighbors:
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{n.address}"',
                f"    peer-as = {n.asn}",
                *([f'    auth-password = "{n.password}"'] if n.password else []),
                "  [neighbors.transport.config]",
                "    passive-mode = true",
                "  [neighbors.timers.config]",
                f"    hold-time = {self.hold_time}",
                *(
                    f"  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n"
                    f'      afi-safi-name = "{fam}"'
                    for fam in ("ipv4-unicast", "ipv6-unicast")
                ),
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        conf = self._path("gobgp.toml")
        conf.write_text(self.config())
        argv = ["gobgpd", "-f", str(conf), "-p", "--pprof-disable"]
        argv += [f"--api-hosts=127.0.0.1:{GOBGP_API_PORT}"]
        self.procs.append(self.host.start(*argv, log=self._path("gobgp.log")))
        wait_for("gobgp API", lambda: self.gobgp_call("global").returncode == 0, 10)

    def gobgp_call(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.host.call("gobgp", "-u", "127.0.0.1", "-p", str(GOBGP_API_PORT), *args)

    def gobgp(self, *args: str) -> str:
        proc = self.gobgp_call(*args)
        if proc.returncode != 0:
            raise NetlabError(f"gobgp {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def established(self, address: str) -> bool:
        out = json.loads(self.gobgp("neighbor", address, "-j"))
        return bool(out.get("state", {}).get("session_state") == 6)  # 6: ESTABLISHED

    def routes(self, family: int) -> dict[str, list[Route]]:
        fam = "ipv4" if family == 4 else "ipv6"
        table = json.loads(self.gobgp("global", "rib", "-a", fam, "-j") or "{}")
        return {prefix: [_gobgp_route(p) for p in paths] for prefix, paths in table.items()}


def _gobgp_route(path: dict[str, Any]) -> Route:
    fields: dict[str, Any] = {"next_hop": ""}
    for attr in path.get("attrs", []):
        kind = attr.get("type")
        if kind in {3, 14}:  # NEXT_HOP, or MP_REACH_NLRI for IPv6
            fields["next_hop"] = str(attr.get("nexthop"))
        elif kind == 5:
            fields["local_pref"] = int(attr["value"])
        elif kind == 8:
            fields["communities"] = tuple(
                f"{c >> 16}:{c & 0xFFFF}" for c in attr.get("communities", [])
            )
        elif kind == 32:
            fields["large_communities"] = tuple(
                f"{c['ASN']}:{c['LocalData1']}:{c['LocalData2']}" for c in attr.get("value", [])
            )
    return Route(**fields)


ROUTERS: dict[str, type[Router]] = {"frr": FRR, "bird": BIRD, "gobgp": GoBGP}


def start_frr(
    host: Host, pathspace: str, config: str, log: Path, procs: list[subprocess.Popen[bytes]]
) -> Path:
    """zebra, bgpd and bfdd in ``host`` with path space ``pathspace``; returns the rundir."""
    remove_frr_rundirs()
    rundir = FRR_RUN / pathspace
    rundir.mkdir(parents=True, exist_ok=True)
    shutil.chown(rundir, "frr", "frr")
    conf = rundir / "frr.conf"
    conf.write_text(config)
    conf.chmod(0o644)
    for daemon in ("zebra", "bgpd", "bfdd"):
        argv = [str(FRR_BIN / daemon), "-N", pathspace, "-f", str(conf)]
        procs.append(host.start(*argv, "-i", str(rundir / f"{daemon}.pid"), log=log))
        if daemon == "zebra":
            wait_for("zebra socket", (rundir / "zserv.api").exists, 10)
    wait_for("bfdd socket", (rundir / "bfdd.vty").exists, 10)
    return rundir


def start_node_frr(host: Host, log: Path, procs: list[subprocess.Popen[bytes]]) -> Path:
    """A lab node's own FRR (zebra, bgpd, bfdd; path space: the node's namespace) with a
    bare configuration, for the FRR or frr-k8s mode to configure."""
    base = f"frr defaults traditional\nhostname {host.name}\n"
    base += f"log file {FRR_RUN / host.netns}/frr.log\n"
    return start_frr(host, host.netns, base, log, procs)
