"""Legacy ConfigMaps from tutorials and GKE cluster files convert to metallb.io objects
that build the same Config as the original."""

from __future__ import annotations

import ipaddress

import pytest

from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.gke import NODE_POOL_LABEL, gke_to_crs
from metallb.config.legacy import config_from_configmap, configmap_to_crs, k8s_name
from metallb.config.yamlio import GENERATED_HEADER, dump_documents, load_documents, load_one

LAYER2_TUTORIAL = """
apiVersion: v1
kind: ConfigMap
metadata:
  namespace: metallb-system
  name: config
data:
  config: |
    address-pools:
    - name: default
      protocol: layer2
      addresses:
      - 192.168.100.171-192.168.100.175
"""

BGP_TUTORIAL = """
apiVersion: v1
kind: ConfigMap
metadata:
  namespace: lb
  name: config
data:
  config: |
    peers:
    - peer-address: 10.0.0.1
      peer-asn: 64501
      my-asn: 64500
    - peer-address: 10.0.0.2
      peer-asn: 64501
      my-asn: 64500
      hold-time: 9.5s
      keepalive-time: 3s
    bgp-communities:
      no-advertise: 65535:65282
    address-pools:
    - name: Prod_Pool
      protocol: bgp
      auto-assign: false
      addresses:
      - 198.51.100.0/24
      bgp-advertisements:
      - aggregation-length: 24
        localpref: 100
        communities: [no-advertise, 64500:1]
      - {}
    - name: empty-bgp
      protocol: bgp
      addresses: [203.0.113.0/28]
    - name: l2-typo
      protocol: l2
      addresses: [192.0.2.0/28]
"""


def test_layer2_tutorial_converts_to_pool_and_l2_advertisement() -> None:
    """The layer2 tutorial gives one pool with the range and one L2Advertisement for it."""
    crs = configmap_to_crs(load_one(LAYER2_TUTORIAL))
    assert [(o["kind"], o["metadata"]["name"]) for o in crs] == [
        ("IPAddressPool", "default"),
        ("L2Advertisement", "l2advertisement1"),
    ]
    cfg = config_from_configmap(load_one(LAYER2_TUTORIAL))
    (pool,) = cfg.pools
    assert (str(pool.ranges[0].first), str(pool.ranges[0].last)) == (
        "192.168.100.171",
        "192.168.100.175",
    )
    assert pool.ranges[0].size == 5
    assert cfg.l2_advertisements_for("default")[0].name == "l2advertisement1"


def test_bgp_tutorial_names_defaults_and_order() -> None:
    """Peers, names, hold time defaults and advertisement numbering follow upstream."""
    crs = configmap_to_crs(load_one(BGP_TUTORIAL))
    names = [(o["kind"], o["metadata"]["name"]) for o in crs]
    assert names == [
        ("BGPPeer", "peer1"),
        ("BGPPeer", "peer2"),
        ("IPAddressPool", "prod-pool"),
        ("IPAddressPool", "empty-bgp"),
        ("IPAddressPool", "l2-typo"),
        ("BGPAdvertisement", "bgpadvertisement1"),
        ("BGPAdvertisement", "bgpadvertisement2"),
        ("BGPAdvertisement", "bgpadvertisement3"),
        ("Community", "communities"),
    ]
    assert all(o["metadata"]["namespace"] == "lb" for o in crs)
    assert crs[0]["spec"]["holdTime"] == "1m30s"
    assert "keepaliveTime" not in crs[0]["spec"]
    assert crs[1]["spec"]["holdTime"] == "9s"  # truncated to whole seconds
    assert crs[1]["spec"]["keepaliveTime"] == "3s"
    assert crs[2]["spec"]["autoAssign"] is False
    assert crs[5]["spec"] == {
        "aggregationLength": 24,
        "localPref": 100,
        "communities": ["no-advertise", "64500:1"],
        "ipAddressPools": ["prod-pool"],
    }
    assert crs[7]["spec"] == {"ipAddressPools": ["empty-bgp"]}


def test_configmap_round_trip_through_yaml_gives_the_same_config() -> None:
    """ConfigMap -> CR YAML text -> Config equals ConfigMap -> Config."""
    for text in (LAYER2_TUTORIAL, BGP_TUTORIAL):
        direct = config_from_configmap(load_one(text), bgp_type="frr")
        rendered = dump_documents(configmap_to_crs(load_one(text)), header=GENERATED_HEADER)
        assert rendered.startswith(GENERATED_HEADER)
        assert build_config(load_documents(rendered), bgp_type="frr") == direct


def test_bgp_tutorial_config_content() -> None:
    """The built Config carries the converted peers, timers, communities and pools."""
    cfg = config_from_configmap(load_one(BGP_TUTORIAL), bgp_type="frr")
    p1, p2 = cfg.peers
    assert p1.hold_time is not None
    assert p1.hold_time.total_seconds() == 90
    assert p1.keepalive_time is not None
    assert p1.keepalive_time.total_seconds() == 30
    assert p2.port == 179
    prod = cfg.pools_by_name["prod-pool"]
    assert not prod.auto_assign
    assert prod.cidrs == (ipaddress.ip_network("198.51.100.0/24"),)
    ad = cfg.bgp_advertisements_for("prod-pool")[0]
    assert [str(c) for c in ad.communities] == ["64500:1", "65535:65282"]


def test_hold_time_under_three_seconds_is_refused() -> None:
    """A legacy hold-time of 2s is refused with the peer's path."""
    text = BGP_TUTORIAL.replace("hold-time: 9.5s", "hold-time: 2s")
    with pytest.raises(ConfigError) as exc:
        configmap_to_crs(load_one(text))
    assert "ConfigMap lb/config: peers[1].hold-time" in str(exc.value)


def test_configmap_without_data_is_refused() -> None:
    """A ConfigMap without data.config says so."""
    with pytest.raises(ConfigError, match="no data"):
        configmap_to_crs({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("good-name", "good-name"),
        ("01-numbered_Pool", "numbered-pool"),
        ("x" * 70, "x" * 63),
        ("0123", None),
    ],
)
def test_k8s_name_rewrite(name: str, expected: str | None) -> None:
    """Legacy names are rewritten as upstream does."""
    assert k8s_name(name) == expected


GKE = {
    "loadBalancer": {
        "kind": "MetalLB",
        "metalLB": {
            "addressPools": [
                {
                    "name": "pool-1",
                    "addresses": ["192.0.2.10/32", "192.0.2.20-192.0.2.29"],
                    "manualAssign": True,
                    "avoidBuggyIPs": True,
                },
                {"name": "pool-2", "addresses": ["198.51.100.0/28"]},
            ]
        },
    },
    "nodePools": [
        {"name": "lb-nodes", "enableLoadBalancer": True},
        {"name": "workers"},
    ],
}


def test_gke_file_converts_to_pools_and_node_selected_l2_advertisement() -> None:
    """manualAssign becomes autoAssign false; only enableLoadBalancer pools announce."""
    crs = gke_to_crs(GKE)
    assert crs[0]["spec"] == {
        "addresses": ["192.0.2.10/32", "192.0.2.20-192.0.2.29"],
        "autoAssign": False,
        "avoidBuggyIPs": True,
    }
    assert crs[1]["spec"] == {"addresses": ["198.51.100.0/28"]}
    l2 = crs[2]["spec"]
    assert l2["ipAddressPools"] == ["pool-1", "pool-2"]
    cfg = build_config(crs)
    (sel,) = cfg.l2_advertisements[0].node_selectors
    assert sel.matches({NODE_POOL_LABEL: "lb-nodes"})
    assert not sel.matches({NODE_POOL_LABEL: "workers"})


def test_gke_file_with_mistakes_lists_them() -> None:
    """A pool without addresses and a non-boolean flag are both reported."""
    bad = {
        "loadBalancer": {"metalLB": {"addressPools": [{"name": "p", "manualAssign": "yes"}]}},
    }
    with pytest.raises(ConfigError) as exc:
        gke_to_crs(bad)
    text = str(exc.value)
    assert "loadBalancer.metalLB.addressPools[0].addresses" in text
    assert "loadBalancer.metalLB.addressPools[0].manualAssign" in text
