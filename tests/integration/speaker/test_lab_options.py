"""The lab options the speaker tests rely on: the root namespace on a management LAN, and
an apiserver reachable (with a verified certificate) from a host namespace through it."""

from __future__ import annotations

import subprocess

import pytest

from metallb.lab.controlplane import Binaries, ControlPlane
from metallb.lab.netlab import Netlab, NetlabError

pytestmark = pytest.mark.timeout(180)


def _root_has(address: str) -> bool:
    out = subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True, check=True)
    return address in out.stdout


def test_root_link_reaches_hosts_and_goes_on_close() -> None:
    """A host pings the root side; the root link and its address are gone after close."""
    with Netlab() as lab:
        lan = lab.add_lan("mgmt")
        host = lab.add_host("h")
        lab.connect(host, lan, "eth1", ["203.0.113.21/24"])
        ifname = lab.connect_root(lan, "203.0.113.253/24")
        assert _root_has("203.0.113.253")
        host.run("ping", "-c1", "-W2", "203.0.113.253")
    assert not _root_has("203.0.113.253")
    assert (
        ifname
        not in subprocess.run(["ip", "link"], capture_output=True, text=True, check=True).stdout
    )


def test_root_link_refuses_addresses_outside_documentation_ranges() -> None:
    with Netlab() as lab, pytest.raises(NetlabError):
        lab.connect_root(lab.add_lan("mgmt"), "10.1.2.3/24")


def test_apiserver_bound_beyond_loopback_serves_the_extra_san() -> None:
    """curl in a host namespace verifies the serving certificate for the extra SAN."""
    with Netlab() as lab:
        lan = lab.add_lan("mgmt")
        host = lab.add_host("h")
        lab.connect(host, lan, "eth1", ["203.0.113.22/24"])
        lab.connect_root(lan, "203.0.113.252/24")
        with ControlPlane(
            Binaries.locate(), bind_address="0.0.0.0", extra_sans=("203.0.113.252",)
        ) as cp:
            url = cp.server_at("203.0.113.252") + "/version"
            out = host.call("curl", "-sS", "--cacert", str(cp.ca_file), url, timeout=20)
            # Anonymous /version is allowed; what matters is that TLS verified.
            assert out.returncode == 0, out.stderr
            assert "gitVersion" in out.stdout
