"""Converter for the bundled MetalLB section of GKE on VMware cluster configuration files.

Input: a user-cluster configuration (YAML mapping) with

* ``loadBalancer.metalLB.addressPools[]``: ``name``, ``addresses`` (CIDRs, ``/32``s or
  ``first-last`` ranges), ``avoidBuggyIPs``, ``manualAssign`` (true means the pool is
  never chosen automatically, i.e. ``autoAssign: false``);
* ``nodePools[]``: ``name`` and ``enableLoadBalancer``; the pools with
  ``enableLoadBalancer: true`` hold the nodes that announce the addresses.

Output: one IPAddressPool per address pool (same name) and one L2Advertisement
``gke-metallb`` for all of them, whose node selector picks the announcing nodes by the
node label ``cloud.google.com/gke-nodepool`` (the label GKE puts on every node with the
name of its node pool): ``cloud.google.com/gke-nodepool In [<pool>, ...]``. The label can
be changed with ``node_pool_label`` if your nodes carry another one; check with
``kubectl get nodes -L cloud.google.com/gke-nodepool``. When no node pool enables the load
balancer, the advertisement has no node selector: every node announces, as the bundled
MetalLB does then. Bundled MetalLB announces in Layer 2 only, hence no BGP objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metallb.config.errors import ConfigError, ObjectRef, Problems
from metallb.config.legacy import DEFAULT_NAMESPACE

NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
ADVERTISEMENT_NAME = "gke-metallb"


class _Getter:
    """Typed access to the cluster file, reporting fields of the wrong type."""

    def __init__(self, problems: Problems, ref: ObjectRef) -> None:
        self.problems, self.ref = problems, ref

    def get(self, obj: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            where = f"{path}.{key}" if path else key
            self.problems.add(self.ref, where, f"must be a {kind.__name__}")
            return None
        return value


def gke_to_crs(
    cluster: object,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    node_pool_label: str = NODE_POOL_LABEL,
) -> list[dict[str, Any]]:
    """metallb.io objects equivalent to a GKE on VMware cluster file's MetalLB section."""
    problems = Problems()
    ref = ObjectRef("GKE cluster file", "", "")
    if not isinstance(cluster, Mapping):
        problems.add(ref, "", "must be a YAML mapping")
        problems.raise_if_any()
        raise AssertionError  # unreachable: raise_if_any raised
    g = _Getter(problems, ref)
    lb = g.get(cluster, "loadBalancer", dict, "") or {}
    metallb = g.get(lb, "metalLB", dict, "loadBalancer") or {}
    raw_pools = g.get(metallb, "addressPools", list, "loadBalancer.metalLB") or []
    if not raw_pools and not problems:
        problems.add(ref, "loadBalancer.metalLB.addressPools", "no address pools defined")
    meta = {"namespace": namespace}
    out: list[dict[str, Any]] = []
    for i, pool in enumerate(raw_pools):
        path = f"loadBalancer.metalLB.addressPools[{i}]"
        if not isinstance(pool, Mapping):
            problems.add(ref, path, "must be an object")
            continue
        name = g.get(pool, "name", str, path)
        addresses = g.get(pool, "addresses", list, path)
        if not name:
            problems.add(ref, f"{path}.name", "missing pool name")
        if not addresses:
            problems.add(ref, f"{path}.addresses", "pool has no addresses")
        spec: dict[str, Any] = {"addresses": [str(a) for a in addresses or ()]}
        if g.get(pool, "manualAssign", bool, path):
            spec["autoAssign"] = False
        if g.get(pool, "avoidBuggyIPs", bool, path):
            spec["avoidBuggyIPs"] = True
        out.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": name or "", **meta},
                "spec": spec,
            }
        )
    announcing: list[str] = []
    for i, node_pool in enumerate(g.get(cluster, "nodePools", list, "") or []):
        path = f"nodePools[{i}]"
        if not isinstance(node_pool, Mapping):
            problems.add(ref, path, "must be an object")
            continue
        if g.get(node_pool, "enableLoadBalancer", bool, path):
            name = g.get(node_pool, "name", str, path)
            if not name:
                problems.add(
                    ref, f"{path}.name", "a node pool with enableLoadBalancer needs a name"
                )
            else:
                announcing.append(name)
    l2_spec: dict[str, Any] = {"ipAddressPools": [p["metadata"]["name"] for p in out]}
    if announcing:
        expr = {"key": node_pool_label, "operator": "In", "values": announcing}
        l2_spec["nodeSelectors"] = [{"matchExpressions": [expr]}]
    out.append(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": ADVERTISEMENT_NAME, **meta},
            "spec": l2_spec,
        }
    )
    problems.raise_if_any()
    return out


__all__ = ["ADVERTISEMENT_NAME", "NODE_POOL_LABEL", "ConfigError", "gke_to_crs"]
