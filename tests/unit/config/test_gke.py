"""GKE on VMware MetalLB sections in every shape the platform documents, and its rules."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.gke import NODE_POOL_LABEL, convert_gke, expand_gke, is_gke_document
from metallb.config.yamlio import load_one

POOLS = """
- name: address-pool-1
  addresses:
  - 192.0.2.100/32
  - 192.0.2.101-192.0.2.112
  avoidBuggyIPs: true
- name: ingress-pool
  addresses: [198.51.100.40/32]
  manualAssign: true
"""
POOLS_4 = textwrap.indent(POOLS, "    ")
POOLS_2 = textwrap.indent(POOLS, "  ")

USER_CLUSTER = f"""
apiVersion: v1
kind: UserCluster
name: my-user-cluster
enableControlplaneV2: true
loadBalancer:
  vips:
    controlPlaneVIP: 198.51.100.20
    ingressVIP: 198.51.100.40
  kind: MetalLB
  metalLB:
    addressPools:
{POOLS_4}
nodePools:
- name: lb-pool
  replicas: 3
  enableLoadBalancer: true
- name: workers
  replicas: 5
"""

LOAD_BALANCER = f"""
loadBalancer:
  kind: MetalLB
  metalLB:
    addressPools:
{POOLS_4}
"""

LOAD_BALANCER_NO_KIND = f"""
loadBalancer:
  metalLB:
    addressPools:
{POOLS_4}
"""

METALLB = f"""
metalLB:
  addressPools:
{POOLS_2}
"""

ADDRESS_POOLS = f"""
addressPools:
{POOLS}
"""

EXPECTED_POOLS = [
    {
        "name": "address-pool-1",
        "spec": {
            "addresses": ["192.0.2.100/32", "192.0.2.101-192.0.2.112"],
            "avoidBuggyIPs": True,
        },
    },
    {"name": "ingress-pool", "spec": {"addresses": ["198.51.100.40/32"], "autoAssign": False}},
]


def _pools(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": o["metadata"]["name"], "spec": o["spec"]}
        for o in objects
        if o["kind"] == "IPAddressPool"
    ]


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        convert_gke(load_one(text))
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        pytest.param(USER_CLUSTER, "GKE on VMware user cluster file", id="user-cluster"),
        pytest.param(LOAD_BALANCER, "GKE on VMware loadBalancer fragment", id="loadBalancer"),
        pytest.param(
            LOAD_BALANCER_NO_KIND,
            "GKE on VMware loadBalancer fragment (no kind)",
            id="loadBalancer-no-kind",
        ),
        pytest.param(METALLB, "GKE on VMware metalLB fragment", id="metalLB"),
        pytest.param(ADDRESS_POOLS, "GKE on VMware addressPools fragment", id="addressPools"),
    ],
)
def test_every_documented_shape_converts_to_the_same_pools(text: str, shape: str) -> None:
    """Each shape is recognised, named, and gives the same IPAddressPools."""
    doc = load_one(text)
    assert is_gke_document(doc)
    conv = convert_gke(doc)
    assert conv.shape == shape
    assert conv.notes()[0] == f"read {shape}"
    assert _pools(conv.objects) == EXPECTED_POOLS
    cfg = build_config(conv.objects)
    assert [p.name for p in cfg.pools] == ["address-pool-1", "ingress-pool"]
    (l2,) = [o for o in conv.objects if o["kind"] == "L2Advertisement"]
    assert l2["spec"]["ipAddressPools"] == ["address-pool-1", "ingress-pool"]


def test_user_cluster_announces_from_enabled_node_pools_only() -> None:
    """The node selector holds the enableLoadBalancer pools; the label guess is a warning."""
    conv = convert_gke(load_one(USER_CLUSTER))
    (sel,) = build_config(conv.objects).l2_advertisements[0].node_selectors
    assert sel.matches({NODE_POOL_LABEL: "lb-pool"})
    assert not sel.matches({NODE_POOL_LABEL: "workers"})
    assert any(NODE_POOL_LABEL in w and "kubectl get nodes" in w for w in conv.warnings)


@pytest.mark.parametrize("text", [LOAD_BALANCER, METALLB, ADDRESS_POOLS])
def test_fragment_without_node_pools_announces_everywhere_and_says_so(text: str) -> None:
    """No nodePools in the input: no node selector, and a warning naming the consequence."""
    conv = convert_gke(load_one(text))
    (l2,) = [o for o in conv.objects if o["kind"] == "L2Advertisement"]
    assert "nodeSelectors" not in l2["spec"]
    assert any("no nodePools" in w and "every node" in w for w in conv.warnings)


def test_kind_other_than_metallb_is_refused() -> None:
    problems = _problems(LOAD_BALANCER.replace("kind: MetalLB", "kind: Seesaw"))
    assert problems == [
        "GKE loadBalancer fragment: loadBalancer.kind: is 'Seesaw': only the bundled MetalLB "
        "load balancer (kind: MetalLB) has a MetalLB configuration to convert"
    ]


def test_no_node_pool_enabling_the_load_balancer_is_refused() -> None:
    text = USER_CLUSTER.replace("enableLoadBalancer: true", "enableLoadBalancer: false")
    (problem,) = _problems(text)
    assert problem.startswith("GKE user cluster my-user-cluster: nodePools: no node pool has ")
    assert "no node would announce" in problem


def test_ingress_vip_outside_every_pool_is_refused() -> None:
    (problem,) = _problems(
        USER_CLUSTER.replace("ingressVIP: 198.51.100.40", "ingressVIP: 203.0.113.9")
    )
    assert "loadBalancer.vips.ingressVIP: 203.0.113.9 is in no address pool" in problem


def test_ingress_vip_that_avoid_buggy_ips_would_never_give_is_refused() -> None:
    text = USER_CLUSTER.replace("192.0.2.100/32", "192.0.2.0/31").replace(
        "ingressVIP: 198.51.100.40", "ingressVIP: 192.0.2.0"
    )
    (problem,) = _problems(text)
    assert "loadBalancer.vips.ingressVIP: 192.0.2.0 ends in .0 or .255" in problem
    assert "loadBalancer.metalLB.addressPools[0]" in problem


def test_control_plane_vip_inside_a_pool_is_refused() -> None:
    text = USER_CLUSTER.replace("controlPlaneVIP: 198.51.100.20", "controlPlaneVIP: 192.0.2.105")
    (problem,) = _problems(text)
    assert "loadBalancer.vips.controlPlaneVIP: 192.0.2.105 is inside address pool" in problem
    assert "'address-pool-1' (loadBalancer.metalLB.addressPools[0])" in problem


def test_vip_that_is_not_an_ip_is_refused() -> None:
    (problem,) = _problems(USER_CLUSTER.replace("198.51.100.20", "api.example"))
    assert "loadBalancer.vips.controlPlaneVIP: 'api.example' is not an IP address" in problem


def test_overlapping_pools_name_both_entries() -> None:
    text = ADDRESS_POOLS.replace("198.51.100.40/32", "192.0.2.96/28")
    (problem,) = _problems(text)
    assert problem == (
        "GKE addressPools fragment: addressPools[1].addresses[0]: '192.0.2.96/28' overlaps "
        "addressPools[0].addresses[0] ('192.0.2.100/32'): GKE address pools must not overlap"
    )


def test_bad_address_names_its_full_path() -> None:
    text = USER_CLUSTER.replace("198.51.100.40/32", "198.51.100.400/32")
    problems = _problems(text)
    assert problems[0].startswith(
        "GKE user cluster my-user-cluster: loadBalancer.metalLB.addressPools[1].addresses[0]: "
        'invalid CIDR "198.51.100.400/32"'
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "name: ingress-pool",
            "name: Ingress_Pool",
            "addressPools[1].name: 'Ingress_Pool' is not a valid Kubernetes object name",
            id="invalid",
        ),
        pytest.param(
            "name: ingress-pool",
            "name: address-pool-1",
            "addressPools[1].name: duplicate pool name 'address-pool-1', also at "
            "addressPools[0].name",
            id="duplicate",
        ),
        pytest.param(
            "name: ingress-pool",
            "pool: ingress-pool",
            "addressPools[1].name: missing pool name (`pool:` is the gcloud/API spelling",
            id="gcloud-spelling",
        ),
        pytest.param(
            "manualAssign: true",
            "manualassign: true",
            "addressPools[1].manualassign: unknown field of a GKE address pool",
            id="typo",
        ),
        pytest.param(
            "manualAssign: true",
            "manualAssign: yes-please",
            "addressPools[1].manualAssign: must be a boolean (true or false)",
            id="not-boolean",
        ),
        pytest.param(
            "addresses: [198.51.100.40/32]",
            "addresses: []",
            "addressPools[1].addresses: pool has no addresses",
            id="no-addresses",
        ),
    ],
)
def test_pool_field_rules(old: str, new: str, expected: str) -> None:
    problems = _problems(ADDRESS_POOLS.replace(old, new))
    assert any(expected in p for p in problems), problems


def test_pool_of_only_buggy_addresses_with_avoid_buggy_ips_is_refused() -> None:
    text = ADDRESS_POOLS.replace(
        "  - 192.0.2.100/32\n  - 192.0.2.101-192.0.2.112", "  - 192.0.2.255/32"
    )
    (problem,) = _problems(text)
    assert "addressPools[0].addresses: every address ends in .0 or .255" in problem


def test_every_pool_manual_is_a_warning() -> None:
    text = ADDRESS_POOLS.replace("avoidBuggyIPs: true", "manualAssign: true")
    conv = convert_gke(load_one(text))
    assert any("every address pool has manualAssign: true" in w for w in conv.warnings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "addressPools: []\nmetalLB: {}\n", "has both metalLB and addressPools", id="two"
        ),
        pytest.param(
            "loadBalancer:\n  kind: MetalLB\n", "loadBalancer.metalLB: missing", id="no-metalLB"
        ),
        pytest.param(
            "kind: AdminCluster\nloadBalancer:\n  kind: MetalLB\n"
            "  vips: {controlPlaneVIP: 192.0.2.1}\n",
            "an admin cluster file has no MetalLB address pools",
            id="admin-cluster",
        ),
        pytest.param(
            "metalLB:\n  addressPools:\n", "metalLB.addressPools: no address pools", id="empty"
        ),
    ],
)
def test_files_without_pools_say_why(text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(expected in p for p in problems), problems


def test_not_a_gke_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="no loadBalancer, metalLB or addressPools"):
        convert_gke({"apiVersion": "v1", "kind": "ConfigMap"})


def test_expand_gke_replaces_gke_documents_and_keeps_the_rest() -> None:
    """config validate's path: the GKE file becomes objects next to the others."""
    other = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": "x"},
    }
    objects, notes = expand_gke([load_one(METALLB), other])
    assert [o["kind"] for o in objects] == [
        "IPAddressPool",
        "IPAddressPool",
        "L2Advertisement",
        "L2Advertisement",
    ]
    assert objects[-1] is other
    assert notes[0] == "read GKE on VMware metalLB fragment"
    assert not is_gke_document(other)


def test_expand_gke_reports_problems_of_every_gke_document() -> None:
    with pytest.raises(ConfigError) as exc:
        expand_gke([load_one("addressPools: []\n"), load_one("metalLB: {addressPools: []}\n")])
    assert [p.field for p in exc.value.problems] == ["addressPools", "metalLB.addressPools"]
