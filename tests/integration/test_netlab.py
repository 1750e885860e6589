"""The lab's network: hosts on a bridged LAN talk, real clients see the right MACs,
unsafe addresses are refused, and closing leaves no namespace or process behind."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from metallb.lab.netlab import (
    Netlab,
    NetlabError,
    check_safe,
    list_namespaces,
    sweep_stale_namespaces,
)

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"


@pytest.fixture
def lan() -> Iterator[Netlab]:
    with Netlab() as lab:
        a, b = lab.add_host("a"), lab.add_host("b")
        seg = lab.add_lan("lan")
        lab.connect(a, seg, "eth0", ["192.0.2.1/24", "2001:db8::1/64"], mac=MAC_A)
        lab.connect(b, seg, "eth0", ["192.0.2.2/24", "2001:db8::2/64"], mac=MAC_B)
        yield lab


def test_hosts_reach_each_other_over_ipv4_and_ipv6(lan: Netlab) -> None:
    """ping works both ways across the bridge, for both families."""
    a = lan.hosts["a"]
    a.run("ping", "-c1", "-W2", "192.0.2.2")
    a.run("ping", "-6", "-c1", "-W2", "2001:db8::2")


def test_real_arp_and_ndp_clients_see_the_owner_mac(lan: Netlab) -> None:
    """arping and ndisc6 (the clients the L2 tests rely on) report the answering MAC."""
    a = lan.hosts["a"]
    assert lan.hosts["b"].mac("eth0") == MAC_B
    out = a.run("arping", "-c1", "-w2", "-I", "eth0", "192.0.2.2")
    assert MAC_B.upper() in out.upper()
    out6 = a.run("ndisc6", "-1", "-r1", "-w1000", "2001:db8::2", "eth0")
    assert MAC_B.upper() in out6.upper()


def test_link_down_cuts_the_host_off(lan: Netlab) -> None:
    """A host's link set down stops traffic: the failover tests depend on it."""
    a, b = lan.hosts["a"], lan.hosts["b"]
    a.run("ping", "-c1", "-W2", "192.0.2.2")
    b.link_set("eth0", "down")
    # ping exits 1 when no reply came back (2 would be another error).
    assert a.call("ping", "-c1", "-W1", "192.0.2.2").returncode == 1
    b.link_set("eth0", "up")
    a.run("ping", "-c3", "-i0.2", "-W2", "192.0.2.2")


def test_pulled_cable_cuts_the_host_off_and_keeps_its_routes(lan: Netlab) -> None:
    """A cable pulled at the switch stops traffic but, unlike an admin-down link, leaves
    the host's static routes in place: plugged back, the host is whole again (the Pod
    lab's node failures depend on it: a kubelet node loses its Service and pod routes
    otherwise)."""
    a, b = lan.hosts["a"], lan.hosts["b"]
    b.run("ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.1", "dev", "eth0")
    b.cable("eth0", plugged=False)
    assert a.call("ping", "-c1", "-W1", "192.0.2.2").returncode == 1
    assert "198.51.100.0/24 via 192.0.2.1" in b.run("ip", "route")
    b.cable("eth0", plugged=True)
    a.run("ping", "-c3", "-i0.2", "-W2", "192.0.2.2")
    assert "198.51.100.0/24 via 192.0.2.1" in b.run("ip", "route")


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("10.0.0.1/24", id="private range"),
        pytest.param("8.8.8.8/32", id="public address"),
        pytest.param("192.0.2.1/16", id="wider than a documentation range"),
        pytest.param("fd00::1/64", id="ULA IPv6"),
    ],
)
def test_unsafe_addresses_are_refused(address: str) -> None:
    """The lab never configures an address outside the documentation ranges."""
    with pytest.raises(NetlabError, match="documentation ranges"):
        check_safe(address)


def test_close_removes_namespaces_and_processes() -> None:
    """Everything the lab made is gone after close, including a running process."""
    lab = Netlab()
    host = lab.add_host("h")
    lab.add_lan("l")
    proc = host.start("sleep", "60")
    names = list(lab.namespaces)
    assert all(n in list_namespaces() for n in names)
    lab.close()
    assert proc.poll() is not None
    remaining = list_namespaces()
    assert not [n for n in names if n in remaining]
    assert not [n for n in remaining if re.match(rf"{lab.tag}-", n)]


def test_sweep_removes_namespaces_of_dead_owners() -> None:
    """A run killed before cleanup leaves namespaces; the next lab removes them."""
    stale = "mlb999999999-0-leftover"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in sweep_stale_namespaces()
        assert stale not in list_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", stale], check=False, capture_output=True)
