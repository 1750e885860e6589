"""status rendering, metrics parsing, and doctor's node/interface/webhook/speaker checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from metallb.cli.ops_cmd import read_node_facts
from metallb.plan.doctor import Facts, doctor
from metallb.plan.doctor_checks import NodeFacts, excluded, kube_proxy_mode
from metallb.plan.explain import Finding, Level
from metallb.plan.status import SpeakerScrape, parse_session_up, render
from tests.unit.plan.test_explain_doctor import NS, WEBHOOK_OK, l2ad, pool, svc

METRICS = """\
# HELP metallb_bgp_session_up BGP session state.
# TYPE metallb_bgp_session_up gauge
metallb_bgp_session_up{peer="r1"} 1.0
metallb_bgp_session_up{peer="r2"} 0.0
metallb_bgp_updates_total{peer="r1"} 3.0
"""


def test_parse_session_up() -> None:
    assert parse_session_up(METRICS) == {"r1": True, "r2": False}
    assert parse_session_up("metallb_bgp_session_up 1\n") == {}


def l2status(node: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "ServiceL2Status",
        "status": {"node": node, "serviceName": name, "serviceNamespace": "default", **extra},
    }


def test_status_blocks() -> None:
    p = pool("p", "192.0.2.0/28")
    p["status"] = {"assignedIPv4": 2, "availableIPv4": 14, "assignedIPv6": 0, "availableIPv6": 0}
    objects = [
        p,
        svc("web", ips=("192.0.2.1",)),
        svc("api", ips=("192.0.2.2",)),
        svc("wait"),
        {"kind": "Node", "metadata": {"name": "n1"}},
        {"kind": "Node", "metadata": {"name": "n2"}},
        {"kind": "Node", "metadata": {"name": "n3"}},
        {"kind": "BGPPeer", "metadata": {"name": "r1"}, "spec": {"peerAddress": "192.0.2.1"}},
        {
            "kind": "BGPPeer",
            "metadata": {"name": "r6"},
            "spec": {"peerAddress": "2001:db8::1", "peerPort": 1179},
        },
    ]
    statuses = [
        l2status("n1", "web", interfaces=[{"name": "eth0"}]),
        {
            "kind": "ServiceBGPStatus",
            "status": {"node": "n2", "serviceName": "api", "serviceNamespace": "default",
                       "peers": ["r1", "r2"]},
        },
        {"kind": "ConfigurationState", "metadata": {"name": "controller"},
         "status": {"result": "Valid"}},
        {"kind": "ConfigurationState", "metadata": {"name": "speaker-n2"},
         "status": {"result": "Invalid", "errorSummary": "configuration error: x"}},
    ]  # fmt: skip
    scrapes = [
        SpeakerScrape("speaker-a", "n1", "http://192.0.2.11:9120/metrics", error="timed out"),
        SpeakerScrape(
            "speaker-b",
            "n2",
            "http://192.0.2.12:9120/metrics",
            {"192.0.2.1:179": True, "2001:db8::1:1179": False},
        ),
        SpeakerScrape("speaker-c", "n3", "http://192.0.2.13:9120/metrics", {}),
        SpeakerScrape(
            "speaker-d", "n4", "https://192.0.2.14:9120/metrics", error="HTTP 403", refused=True
        ),
    ]
    lines = render(objects, statuses, scrapes)
    assert lines[0].startswith("POOL")
    assert lines[-3:] == [
        "CONFIGURATION STATE",
        "controller: Valid",
        "speaker-n2: Invalid (configuration error: x)",
    ]
    assert lines[1].split() == ["p", "2", "14", "0", "0"]
    assert any(line.split()[:3] == ["default/web", "192.0.2.1", "n1"] for line in lines)
    assert any(line.split()[:2] == ["default/wait", "<pending>"] for line in lines)
    block = lines[lines.index("ANNOUNCEMENTS PER NODE") :]
    assert block[1] == "n1:"
    assert block[2].split() == ["layer2", "default/web", "192.0.2.1", "on", "eth0"]
    assert block[4].split() == ["bgp", "default/api", "192.0.2.2", "to", "r1,", "r2"]
    assert "n3: nothing" in block
    assert "n1 (speaker-a, http://192.0.2.11:9120/metrics): unreachable: timed out" in lines
    assert (
        "n2 (speaker-b, http://192.0.2.12:9120/metrics): r1 (192.0.2.1:179) up, "
        "r6 (2001:db8::1:1179) DOWN" in lines
    )
    assert "n3 (speaker-c, http://192.0.2.13:9120/metrics): no BGP session" in lines
    assert "n4 (speaker-d, https://192.0.2.14:9120/metrics): refused: HTTP 403" in lines


def found(facts: Facts) -> list[tuple[Level, str]]:
    return [(f.level, f.text) for f in doctor(facts)]


def has(findings: list[tuple[Level, str]], level: Level, *words: str) -> bool:
    return any(lv is level and all(w in t for w in words) for lv, t in findings)


IPVS_OFF = "mode: ipvs\nipvs:\n  strictARP: false\n"


def node_facts(ignore: int, announce: int) -> NodeFacts:
    return NodeFacts(
        "n1",
        {"all": {"arp_ignore": ignore, "arp_announce": announce}, "eth0": {}, "lo": {}},
        ("eth0", "lo", "veth1"),
    )


def test_arp_sysctls_under_ipvs() -> None:
    bad = found(Facts(objects=[], kube_proxy_config=IPVS_OFF, node=node_facts(0, 0)))
    assert has(bad, Level.ERROR, "eth0 (arp_ignore=0, arp_announce=0)", "strictARP: true", "n1")
    ok = found(Facts(objects=[], kube_proxy_config=IPVS_OFF, node=node_facts(1, 2)))
    assert has(ok, Level.OK, "arp_ignore>=1 and arp_announce>=2")
    iptables = found(Facts(objects=[], kube_proxy_config="mode: iptables\n", node=node_facts(0, 0)))
    assert not has(iptables, Level.ERROR, "arp_ignore")
    assert has(iptables, Level.INFO, "fine unless kube-proxy uses IPVS")
    assert kube_proxy_mode("{}") == ("iptables", False)
    # Without --node the sysctls are not read, and doctor says how to check them.
    remote = found(Facts(objects=[], kube_proxy_config=IPVS_OFF))
    assert has(remote, Level.INFO, "metallb doctor --node")
    assert not has(remote, Level.OK, "arp_ignore>=1")


def test_read_node_facts(tmp_path: Path) -> None:
    for iface, ign, ann in (("all", 1, 2), ("eth0", 0, 0), ("lo", 0, 0)):
        (tmp_path / iface).mkdir()
        (tmp_path / iface / "arp_ignore").write_text(f"{ign}\n")
        (tmp_path / iface / "arp_announce").write_text(f"{ann}\n")
    facts = read_node_facts(tmp_path)
    assert facts.interfaces == ("eth0", "lo")
    assert facts.sysctls["all"] == {"arp_ignore": 1, "arp_announce": 2}


def ad_on(name: str, *ifaces: str) -> dict[str, Any]:
    ad = l2ad(name, "p")
    ad["spec"]["interfaces"] = list(ifaces)
    return ad


def test_excluded_interfaces() -> None:
    objects = [pool("p", "192.0.2.0/28"), ad_on("mgmt", "eth1"), ad_on("mixed", "eth0", "veth9")]
    facts = Facts(
        objects=objects,
        exclude_patterns=["^eth1$", "^veth.*", "^lo$"],
        exclude_source="ConfigMap metallb-system/metallb-excludel2",
        node=node_facts(1, 2),
    )
    out = found(facts)
    assert has(out, Level.ERROR, "L2Advertisement mgmt", "eth1", "every one is excluded")
    assert has(out, Level.WARN, "L2Advertisement mixed", "veth9")
    assert not has(out, Level.WARN, "L2Advertisement mixed", "eth0 ")
    assert has(out, Level.INFO, "excluded by ConfigMap", "veth1", "may announce on: eth0")
    assert excluded("docker0", ["^docker.*"])
    assert not excluded("eth0", ["^docker.*", "("])


@pytest.mark.parametrize(
    ("message", "level", "says"),
    [
        ("", Level.OK, "passes admission"),
        (
            'Internal error occurred: failed calling webhook "ipaddresspoolvalidationwebhook'
            '.metallb.io": service "metallb-webhook-service" not found',
            Level.ERROR,
            "metallb-webhook-service has endpoints",
        ),
        ("admission webhook x denied the request: overlaps", Level.OK, "reachable"),
        ("forbidden", Level.WARN, "refused"),
    ],
)
def test_webhook_dry_run(message: str, level: Level, says: str) -> None:
    out = found(Facts(objects=[], webhook_configuration=WEBHOOK_OK, webhook_dry_run=message))
    assert has(out, level, says), out


def pod(node: str, phase: str = "Running", ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": f"speaker-{node}", "namespace": NS},
        "spec": {"nodeName": node},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def nodes(*names: str, **labels: str) -> list[dict[str, Any]]:
    return [{"kind": "Node", "metadata": {"name": n, "labels": labels}} for n in names]


def test_speakers_running() -> None:
    objects = nodes("n1", "n2", "n3")
    all_ok = found(Facts(objects=objects, speaker_pods=[pod("n1"), pod("n2"), pod("n3")]))
    assert has(all_ok, Level.OK, "on each of the 3 nodes")
    broken = found(Facts(objects=objects, speaker_pods=[pod("n1"), pod("n2", ready=False)]))
    assert has(broken, Level.ERROR, "node n2: speaker Pod speaker-n2 is Running, not Ready")
    assert has(broken, Level.ERROR, "node n3 has no speaker Pod")
    assert has(found(Facts(objects=objects, speaker_pods=[])), Level.ERROR, "no speaker Pod")
    # A DaemonSet's nodeSelector leaves n3 out: no speaker is expected there.
    ds = {"spec": {"template": {"spec": {"nodeSelector": {"metallb": "yes"}}}}}
    chosen = [*nodes("n1", "n2", metallb="yes"), *nodes("n3")]
    out = found(Facts(objects=chosen, speaker_pods=[pod("n1"), pod("n2")], speaker_daemonsets=[ds]))
    assert has(out, Level.OK, "on each of the 2 nodes")


def test_findings_keep_their_type() -> None:
    assert all(isinstance(f, Finding) for f in doctor(Facts(objects=[svc("web")])))


def test_cluster_ip_service_is_never_pending() -> None:
    """default/kubernetes has no ingress and is not a LoadBalancer: not reported."""
    objects = [pool("p", "192.0.2.0/28"), l2ad("l", "p"), svc("kubernetes", type_="ClusterIP")]
    out = found(Facts(objects=objects, webhook_configuration=WEBHOOK_OK))
    assert not any("pending" in t for _, t in out), out


def session_state(
    node: str, peer: str, bgp: str, bfd: str = "N/A", vrf: str = ""
) -> dict[str, Any]:
    return {
        "kind": "BGPSessionState",
        "status": {"node": node, "peer": peer, "vrf": vrf, "bgpStatus": bgp, "bfdStatus": bfd},
    }


def test_status_sessions_from_frrk8s() -> None:
    """frr-k8s mode: the sessions block comes from BGPSessionState objects, with the
    BGPPeer names matched by address or interface and VRF."""
    objects = [
        {"kind": "Node", "metadata": {"name": "n1"}},
        {"kind": "BGPPeer", "metadata": {"name": "tor"}, "spec": {"peerAddress": "192.0.2.1"}},
        {"kind": "BGPPeer", "metadata": {"name": "red"},
         "spec": {"peerAddress": "192.0.2.1", "vrf": "red"}},
        {"kind": "BGPPeer", "metadata": {"name": "un"}, "spec": {"interface": "eth1"}},
    ]  # fmt: skip
    states = [
        session_state("n1", "192.0.2.1", "Established", "Up"),
        session_state("n1", "192.0.2.1", "Active", vrf="red"),
        session_state("n2", "eth1", "Connect"),
    ]
    lines = render(objects, [], None, states)
    block = lines[lines.index("BGP SESSIONS (frr-k8s)") :]
    assert block[1] == (
        "n1: red (192.0.2.1, vrf red) DOWN (Active), tor (192.0.2.1) up (Established, BFD Up)"
    )
    assert block[2] == "n2: un (eth1) DOWN (Connect)"
    empty = render(objects, [], None, [])
    assert "no BGPSessionState object: is frr-k8s running on the nodes?" in empty
    assert "BGP SESSIONS (frr-k8s)" not in render(objects, [])


def test_doctor_bgp_mode_and_frrk8s_presence() -> None:
    """doctor names the BGP mode; in frr-k8s mode, a node some BGPPeer selects needs
    frr-k8s running (its FRRNodeState), and frr-k8s must be installed at all."""
    rack_a = {"nodeSelectors": [{"matchLabels": {"rack": "a"}}]}
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "tor", "namespace": NS},
        "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1", **rack_a},
    }
    objects = [*nodes("n1", "n2", rack="a"), *nodes("n3"), peer, pool("p", "192.0.2.0/28")]

    def run(bgp_type: str, states: list[str] | None) -> list[tuple[Level, str]]:
        node_states = None if states is None else [{"metadata": {"name": n}} for n in states]
        facts = Facts(objects=objects, frr_node_states=node_states)
        return [(f.level, f.text) for f in doctor(facts, bgp_type=bgp_type)]

    assert has(run("native", None), Level.INFO, "BGP mode: native")
    assert not has(run("native", None), Level.ERROR, "frr-k8s")
    out = run("frr-k8s", ["n1"])
    assert has(out, Level.INFO, "BGP mode: frr-k8s")
    assert has(out, Level.ERROR, "node n2 has BGP peers but frr-k8s does not run there")
    assert not has(out, Level.ERROR, "node n3")  # no BGPPeer selects n3
    assert has(run("frr-k8s", ["n1", "n2"]), Level.OK, "frr-k8s runs on each of the 2 nodes")
    assert has(run("frr-k8s", None), Level.ERROR, "frr-k8s is not installed")
