"""The Layer 2 announcer in node namespaces, seen by clients nobody here wrote.

The announcer runs as ``python -m bench.demo_announcer`` inside a node's namespace
(raw sockets belong to the namespace of the process that opens them). Clients: iputils
``arping``, ``ndisc6``, the client kernel's own neighbour table (``ping`` then
``ip neigh``) and ``tcpdump``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metallb.lab.netlab import Netlab
from tests.integration.net.conftest import (
    MAC_A,
    MAC_B,
    MAC_CLIENT,
    VIP,
    VIP6,
    arping,
    neighbour_mac,
    start_speaker,
    wait_for,
)

pytestmark = pytest.mark.timeout(90)


def test_arping_gets_exactly_one_reply_per_probe_from_the_announcer(
    l2lan: Netlab, tmp_path: Path
) -> None:
    """Three broadcast probes, three replies, all with node a's MAC; counters agree."""
    a, client = l2lan.hosts["a"], l2lan.hosts["client"]
    speaker = start_speaker(a, tmp_path, "--ip", VIP)
    result = arping(client, "eth0", VIP, count=3)
    assert result.sent == 3, result.output
    assert result.macs == [MAC_A] * 3, result.output
    stats = speaker.stats()
    assert stats["requests_received"] == {VIP: 3}
    assert stats["responses_sent"] == {VIP: 3}
    drops = stats["drops"]
    assert isinstance(drops, dict)
    # The NDP responder may see the kernels' own address-configuration solicitations
    # (dropped as noSourceLL); no ARP request went unanswered.
    assert "announceIP" not in drops


def test_no_reply_for_an_address_not_owned(l2lan: Netlab, tmp_path: Path) -> None:
    """A probe for an IP the node does not announce gets no answer, and is counted."""
    a, client = l2lan.hosts["a"], l2lan.hosts["client"]
    speaker = start_speaker(a, tmp_path, "--ip", VIP)
    result = arping(client, "eth0", "192.0.2.199", count=2)
    assert result.sent == 2, result.output
    assert result.macs == [], result.output
    stats = speaker.stats()
    drops = stats["drops"]
    assert isinstance(drops, dict)
    assert drops.get("announceIP") == 2
    assert stats["responses_sent"] == {}


def test_kernel_client_resolves_owned_ipv6_to_the_announcer(l2lan: Netlab, tmp_path: Path) -> None:
    """The client kernel's NS for an owned IPv6 IP is answered with node a's MAC, and the
    node joined the IP's solicited-node group (ff02::1:ff00:100 -> 33:33:ff:00:01:00)."""
    a, client = l2lan.hosts["a"], l2lan.hosts["client"]
    speaker = start_speaker(a, tmp_path, "--ip", VIP6)
    assert "33:33:ff:00:01:00" in a.run("ip", "maddr", "show", "dev", "eth0")
    # No echo reply comes back (the VIP is not configured on the node); the neighbour
    # entry is what we are after.
    client.call("ping", "-6", "-c1", "-W1", VIP6)
    assert neighbour_mac(client, VIP6) == MAC_A
    stats = speaker.stats()
    assert stats["responses_sent"] == {VIP6: 1}
    assert stats["groups"] == {"eth0": ["33:33:ff:00:01:00"]}


def test_ipv6_group_is_left_when_the_announcer_stops(l2lan: Netlab, tmp_path: Path) -> None:
    """The solicited-node membership goes with the announcer's socket."""
    a = l2lan.hosts["a"]
    speaker = start_speaker(a, tmp_path, "--ip", VIP6)
    assert "33:33:ff:00:01:00" in a.run("ip", "maddr", "show", "dev", "eth0")
    speaker.stop()
    assert "33:33:ff:00:01:00" not in a.run("ip", "maddr", "show", "dev", "eth0")


def test_ndisc6_sees_the_announcer_mac(l2lan: Netlab, tmp_path: Path) -> None:
    """ndisc6 from the client reports node a's MAC for an owned IPv6 address."""
    a, client = l2lan.hosts["a"], l2lan.hosts["client"]
    start_speaker(a, tmp_path, "--ip", VIP6)
    out = client.call("ndisc6", "-1", "-r2", "-w1000", VIP6, "eth0").stdout
    assert MAC_A.upper() in out.upper()


def test_only_the_announcing_node_answers(l2lan: Netlab, tmp_path: Path) -> None:
    """With both nodes running, each answers only for its own IP: one MAC per IP."""
    a, b, client = l2lan.hosts["a"], l2lan.hosts["b"], l2lan.hosts["client"]
    start_speaker(a, tmp_path, "--ip", VIP)
    start_speaker(b, tmp_path, "--ip", "192.0.2.101")
    assert arping(client, "eth0", VIP, count=2).macs == [MAC_A] * 2
    assert arping(client, "eth0", "192.0.2.101", count=2).macs == [MAC_B] * 2


@pytest.mark.parametrize(
    ("vip", "capture", "client_request"),
    [
        pytest.param(VIP, "arp", "Request who-has 192.0.2.100", id="gratuitous ARP"),
        pytest.param(VIP6, "icmp6", "who has 2001:db8::100", id="unsolicited NA"),
    ],
)
def test_takeover_moves_the_client_cache_without_a_client_request(
    l2lan: Netlab, tmp_path: Path, vip: str, capture: str, client_request: str
) -> None:
    """a announced, the client cached a's MAC; a stops and b announces: the client's
    neighbour entry switches to b's MAC from b's announcements alone."""
    a, b, client = l2lan.hosts["a"], l2lan.hosts["b"], l2lan.hosts["client"]
    speaker_a = start_speaker(a, tmp_path, "--ip", vip)
    client.call("ping", "-c1", "-W1", vip)
    assert neighbour_mac(client, vip) == MAC_A
    speaker_a.stop()

    dump = tmp_path / "client.tcpdump"
    dump.write_text("")
    client.start("tcpdump", "-l", "-n", "-e", "-i", "eth0", capture, log=dump)
    wait_for(lambda: "listening on" in dump.read_text() or None, 10, "tcpdump")
    speaker_b = start_speaker(b, tmp_path, "--ip", vip)
    wait_for(lambda: neighbour_mac(client, vip) == MAC_B or None, 8, f"{vip} -> {MAC_B}")

    # tcpdump -e prints "<time> <source MAC> > <destination MAC>, ..."; the kernel may
    # update the neighbour entry before tcpdump has written the frame, so wait for it.
    wait_for(lambda: f" {MAC_B} > " in dump.read_text() or None, 5, "the capture of b's frame")
    traffic = dump.read_text()
    from_client = [line for line in traffic.splitlines() if f" {MAC_CLIENT} > " in line]
    assert not [line for line in from_client if client_request in line], traffic
    assert f" {MAC_B} > " in traffic
    gratuitous = speaker_b.stats()["gratuitous_sent"]
    assert isinstance(gratuitous, dict)
    assert gratuitous.get(vip, 0) >= 1


def test_no_reply_on_a_disallowed_or_excluded_interface(tmp_path: Path) -> None:
    """An IP restricted to eth0 is not answered on eth1; an interface named veth* (upstream's
    exclusion list) gets no responder at all, while eth1 answers an unrestricted IP."""
    with Netlab() as lab:
        node, client = lab.add_host("node"), lab.add_host("client")
        nets = {"lan1": "192.0.2", "lan2": "198.51.100", "lan3": "203.0.113"}
        for (lan_name, prefix), node_if, client_if in zip(
            nets.items(), ("eth0", "eth1", "veth7"), ("eth0", "eth1", "eth2"), strict=True
        ):
            seg = lab.add_lan(lan_name)
            lab.connect(node, seg, node_if, [f"{prefix}.1/24"])
            lab.connect(client, seg, client_if, [f"{prefix}.10/24"])
        speaker = start_speaker(node, tmp_path, "--ip", f"{VIP}=eth0", "--ip", "198.51.100.100")
        # NDP responders follow once the link-local addresses appear; only ARP matters here.
        responders = speaker.wait_ready()["responders"]
        assert isinstance(responders, list)
        assert [r for r in responders if r.endswith("/arp")] == ["eth0/arp", "eth1/arp"]
        eth0, eth1 = node.mac("eth0"), node.mac("eth1")
        assert arping(client, "eth0", VIP, count=1).macs == [eth0]
        assert arping(client, "eth1", VIP, count=2, source="198.51.100.10").macs == []
        assert arping(client, "eth1", "198.51.100.100", count=1).macs == [eth1]
        assert arping(client, "eth2", "198.51.100.100", count=2, source="203.0.113.10").macs == []
        drops = speaker.stats()["drops"]
        assert isinstance(drops, dict)
        assert drops.get("notMatchInterface") == 2


def test_a_link_flap_between_scans_is_followed_at_once(l2lan: Netlab, tmp_path: Path) -> None:
    """With periodic scans an hour apart, node a's link goes down and up again: netlink's
    events restart the responder, so the next probes are answered (upstream, scanning
    every 10 s, can stay mute for up to 10 s after such a flap)."""
    a, client = l2lan.hosts["a"], l2lan.hosts["client"]
    start_speaker(a, tmp_path, "--scan-interval", "3600", "--ip", VIP)
    assert arping(client, "eth0", VIP, count=1).macs == [MAC_A]
    a.link_set("eth0", "down")
    a.link_set("eth0", "up")
    # Probes until one is answered, bounded: the veth pair needs a moment for carrier.
    replies = wait_for(lambda: arping(client, "eth0", VIP, count=1).macs or None, 10, "a reply")
    assert replies == [MAC_A]
