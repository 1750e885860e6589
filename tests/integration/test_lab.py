"""`metallb lab` as a user runs it: up, a request through each VIP (over Layer 2 from
the client, over BGP from the remote client behind the FRR router), fail-node, down.

The lab's namespaces, FRR path spaces and processes all carry ``mlb<supervisor pid>-``,
which is how the checks below find this lab's (and not another run's) and prove that
``down`` leaves none behind.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metallb.lab.bgplab import BGP_RANGE
from metallb.lab.knode import RUN_ROOT
from metallb.lab.netlab import list_namespaces
from metallb.lab.routers import FRR_BIN, FRR_RUN
from metallb.lab.topology import DATA_IP, KUBECTL, NODES

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not FRR_BIN.exists(), reason="FRR is not installed"),
]


def lab(labdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", "lab", *args, f"--dir={labdir}"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def in_ns(tag: str, host: str, *argv: str) -> str:
    """Run ``argv`` in the lab's namespace for ``host``; its stdout, stripped."""
    netns = next(n for n in list_namespaces() if n.startswith(tag) and n.endswith(f"-{host}"))
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.stdout.strip()


def curl(tag: str, host: str, ip: str) -> str:
    return in_ns(tag, host, "curl", "-s", "--max-time", "2", f"http://{ip}/")


def router_next_hops(tag: str, ip: str) -> list[str]:
    """The next hops of the router's kernel route to ``ip``/32."""
    return sorted(
        set(re.findall(r"\bvia (\S+)", in_ns(tag, "router", "ip", "route", "show", f"{ip}/32")))
    )


def leftovers(tag: str) -> list[str]:
    """Namespaces, FRR path-space and node run directories, processes and cgroups of the
    lab ``tag``."""
    found = [n for n in list_namespaces() if n.startswith(tag)]
    found += [str(p) for p in FRR_RUN.glob(f"{tag}*")] if FRR_RUN.exists() else []
    found += [str(p) for p in RUN_ROOT.glob(f"{tag}*")] if RUN_ROOT.exists() else []
    # The real nodes' cgroups (their daemons and Pods) are named after the lab too.
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{tag}*")]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if tag in cmdline:
            found.append(f"pid {proc.name}: {cmdline}")
    return found


def test_lab_up_failover_and_down(tmp_path: Path) -> None:
    """The README's main command works end to end and leaves nothing behind: MetalLB's
    images as the Pods of deploy/ on three real kubelet nodes (the default install)."""
    labdir = tmp_path / "lab"
    tag = ""
    try:
        up = lab(labdir, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "lab: ready" in up.stdout
        assert "the client fetched http://" in up.stdout
        state = json.loads((labdir / "state.json").read_text())
        tag = f"mlb{state['pid']}-"
        ip = state["services"]["web"]
        assert (labdir / "kubeconfig").is_file()
        first = curl(tag, "client", ip)
        assert first in NODES

        # BGP: an EXTERNAL-IP from the BGP pool, reached from behind the router over
        # three ECMP paths (one per node), not from the Layer 2 client's LAN.
        bgp_ip = state["bgp"]["services"]["web-bgp"]
        assert ipaddress.ip_address(bgp_ip) in ipaddress.ip_network(BGP_RANGE)
        svc = subprocess.run(
            [KUBECTL, f"--kubeconfig={labdir / 'kubeconfig'}",
             "get", "svc", "-n", "demo", "web-bgp", "--no-headers"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()  # fmt: skip
        assert svc[3] == bgp_ip  # the EXTERNAL-IP column
        assert state["bgp"]["answers"]["web-bgp"] in NODES
        assert curl(tag, "remote", bgp_ip) in NODES
        assert router_next_hops(tag, bgp_ip) == sorted(DATA_IP.values())
        assert curl(tag, "client", bgp_ip) == ""  # the client's LAN has no route to it
        assert f"curl -s http://{bgp_ip}/   # through the FRR router" in up.stdout
        vtysh = state["bgp"]["vtysh"]
        shown = subprocess.run(
            [*vtysh, "-c", f"show ip route {bgp_ip}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        assert sorted(re.findall(r"\* (\S+), via eth0", shown)) == sorted(DATA_IP.values())

        again = lab(labdir, "up")  # idempotent
        assert again.returncode == 0
        assert "already up" in again.stdout

        failed = lab(labdir, "fail-node", first)
        assert failed.returncode == 0, failed.stderr
        deadline = time.monotonic() + 30
        while (answer := curl(tag, "client", ip)) in ("", first) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer in set(NODES) - {first}
        # The router drops the failed node's path when its hold time (9 s) expires.
        rest = sorted(DATA_IP[n] for n in NODES if n != first)
        deadline = time.monotonic() + 30
        while router_next_hops(tag, bgp_ip) != rest and time.monotonic() < deadline:
            time.sleep(0.5)
        assert router_next_hops(tag, bgp_ip) == rest
        # Policy Cluster: a node may still forward to the failed node's backend until
        # the node controller marks it NotReady; some request gets through meanwhile.
        deadline = time.monotonic() + 60
        while (answer := curl(tag, "remote", bgp_ip)) == "" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer in NODES
        status = lab(labdir, "status")
        assert "(failed by lab fail-node)" in status.stdout
        assert f"demo/web-bgp {bgp_ip}" in status.stdout
        assert f"router next hops: {', '.join(rest)};" in status.stdout
        bad = lab(labdir, "fail-node", "n9")
        assert bad.returncode == 1
        assert "unknown node" in bad.stderr
    finally:
        down = lab(labdir, "down")
    assert down.returncode == 0, down.stderr
    assert tag
    assert leftovers(tag) == []
    assert not (labdir / "kubeconfig").exists()
    assert not (labdir / "work").exists()


def test_lab_up_in_frrk8s_mode(tmp_path: Path) -> None:
    """`metallb lab up --bgp-mode frr-k8s`: the BGP demo reaches the remote client through
    the real frr-k8s on every node (the speakers wrote one FRRConfiguration per node),
    and `down` leaves nothing behind, frr-k8s's processes included."""
    labdir = tmp_path / "lab"
    tag = ""
    try:
        up = lab(labdir, "up", "--bgp-mode=frr-k8s")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "starting FRR and frr-k8s" in up.stdout
        state = json.loads((labdir / "state.json").read_text())
        tag = f"mlb{state['pid']}-"
        bgp_ip = state["bgp"]["services"]["web-bgp"]
        assert curl(tag, "remote", bgp_ip) in NODES
        assert router_next_hops(tag, bgp_ip) == sorted(DATA_IP.values())
        names = subprocess.run(
            [KUBECTL, f"--kubeconfig={labdir / 'kubeconfig'}", "get", "frrconfigurations",
             "-n", "frr-k8s-system", "-o", "name"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()  # fmt: skip
        assert sorted(names) == [f"frrconfiguration.frrk8s.metallb.io/metallb-{n}" for n in NODES]
    finally:
        down = lab(labdir, "down")
    assert down.returncode == 0, down.stderr
    assert tag
    assert leftovers(tag) == []
