"""Converter for the bundled MetalLB section of GKE on VMware (Google Distributed Cloud
for VMware) cluster configuration files, with the checks that platform makes.

Shapes read (the platform's documentation prints each of them):

* the whole user-cluster file (``kind: UserCluster``, or a file with ``nodePools``):
  ``loadBalancer.kind: MetalLB``, ``loadBalancer.metalLB.addressPools``,
  ``loadBalancer.vips``, ``nodePools[].enableLoadBalancer``;
* a ``loadBalancer:`` fragment, with or without ``kind``;
* a top-level ``metalLB:`` fragment;
* a top-level ``addressPools:`` fragment.

Each address pool (``name``, ``addresses`` as CIDRs or ``first-last`` ranges,
``avoidBuggyIPs``, ``manualAssign``; ``manualAssign: true`` is ``autoAssign: false``)
becomes an IPAddressPool of the same name, and one L2Advertisement ``gke-metallb``
announces them all: bundled MetalLB runs in Layer 2 mode only, so there are no BGP
objects. The advertisement selects the announcing nodes with the node label
``cloud.google.com/gke-nodepool`` ``In`` the node pools that have
``enableLoadBalancer: true`` (a guess at the label the nodes carry, hence a warning;
``node_pool_label`` changes it). A fragment carries no node pools: its advertisement has
no node selector (every node announces) and a warning says so; convert the whole file to
keep MetalLB on the node pools the platform would run it on.

The platform's rules, and where its documentation states them, are in
:mod:`metallb.config.gke_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from metallb.config.errors import ConfigError, ObjectRef, Problem
from metallb.config.gke_rules import (
    Reader,
    absent,
    announcing_node_pools,
    check_vips,
    read_pools,
)
from metallb.config.legacy import DEFAULT_NAMESPACE

NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
ADVERTISEMENT_NAME = "gke-metallb"
_SHAPE_KEYS = ("loadBalancer", "metalLB", "addressPools")


@dataclass
class GKEConversion:
    """What a GKE file converted to: which shape was read, the objects, the warnings."""

    shape: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """Lines for stderr: the shape read, then the warnings."""
        return [f"read {self.shape}", *(f"warning: {w}" for w in self.warnings)]


def is_gke_document(doc: object) -> bool:
    """Whether a YAML document is a GKE on VMware cluster file or one of its fragments."""
    if not isinstance(doc, Mapping):
        return False
    if doc.get("kind") in ("UserCluster", "AdminCluster"):
        return True
    return "kind" not in doc and any(k in doc for k in _SHAPE_KEYS)


def convert_gke(
    cluster: object,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    node_pool_label: str = NODE_POOL_LABEL,
) -> GKEConversion:
    """metallb.io objects for a GKE on VMware file of any documented shape.

    Raises ConfigError listing every problem, each naming its field path as written in
    the input (``loadBalancer.metalLB.addressPools[1].addresses[0]``).
    """
    if not isinstance(cluster, Mapping):
        raise ConfigError((Problem(ObjectRef("GKE", "", "file"), "", "must be a YAML mapping"),))
    shape, ref = _shape(cluster)
    r = Reader(ref)
    out = GKEConversion(shape)
    present = [k for k in _SHAPE_KEYS if k in cluster]
    if len(present) > 1:
        r.add("", f"has both {' and '.join(present)} at the top level: one shape per file")
        r.problems.raise_if_any()
    if not present:
        r.add(
            "",
            "no loadBalancer, metalLB or addressPools at the top level: not a GKE on VMware "
            "MetalLB configuration",
        )
        r.problems.raise_if_any()
    lb: Mapping[str, Any] = {}
    prefix = {"loadBalancer": "loadBalancer.metalLB", "metalLB": "metalLB"}.get(present[0], "")
    if present[0] == "loadBalancer":
        lb = r.get(cluster, "loadBalancer", dict, "") or {}
        container = _load_balancer(r, cluster, lb)
    elif present[0] == "metalLB":
        container = r.get(cluster, "metalLB", dict, "")
    else:
        container = cluster
    if container is None:
        r.problems.raise_if_any()
    pools = read_pools(r, container or {}, prefix)
    if lb:
        check_vips(r, lb, pools, out.warnings)
    announcing = announcing_node_pools(r, cluster, out.warnings, node_pool_label)
    r.problems.raise_if_any()
    if pools and all(p.manual for p in pools):
        out.warnings.append(
            "every address pool has manualAssign: true: no Service gets an address unless "
            "it asks for one (metallb.io/loadBalancerIPs or the address-pool annotation)"
        )
    meta = {"namespace": namespace}
    for p in pools:
        spec: dict[str, Any] = {"addresses": [text for text, _ in p.ranges]}
        if p.manual:
            spec["autoAssign"] = False
        if p.avoid_buggy:
            spec["avoidBuggyIPs"] = True
        out.objects.append(_object("IPAddressPool", p.name, meta, spec))
    l2_spec: dict[str, Any] = {"ipAddressPools": [p.name for p in pools]}
    if announcing:
        expr = {"key": node_pool_label, "operator": "In", "values": announcing}
        l2_spec["nodeSelectors"] = [{"matchExpressions": [expr]}]
    out.objects.append(_object("L2Advertisement", ADVERTISEMENT_NAME, meta, l2_spec))
    return out


def gke_to_crs(
    cluster: object,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    node_pool_label: str = NODE_POOL_LABEL,
) -> list[dict[str, Any]]:
    """Only the objects of :func:`convert_gke`."""
    return convert_gke(cluster, namespace=namespace, node_pool_label=node_pool_label).objects


def expand_gke(objects: list[Any]) -> tuple[list[Any], list[str]]:
    """The documents with every GKE file replaced by its metallb.io objects, and one
    line per GKE file (its shape) and per warning, for ``config validate``."""
    out: list[Any] = []
    notes: list[str] = []
    problems: list[Problem] = []
    for doc in objects:
        if not is_gke_document(doc):
            out.append(doc)
            continue
        try:
            conv = convert_gke(doc)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        out.extend(conv.objects)
        notes.extend(conv.notes())
    if problems:
        raise ConfigError(tuple(problems))
    return out, notes


def _object(kind: str, name: str, meta: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, **meta},
        "spec": spec,
    }


def _shape(cluster: Mapping[str, Any]) -> tuple[str, ObjectRef]:
    """A description of what was read, and the ref problems are reported under."""
    name = cluster.get("name") if isinstance(cluster.get("name"), str) else ""
    kind = cluster.get("kind")
    if kind in ("UserCluster", "AdminCluster") or "nodePools" in cluster:
        what = "admin cluster" if kind == "AdminCluster" else "user cluster"
        label = f"{what} {name}" if name else f"{what} file"
        return f"GKE on VMware {what} file", ObjectRef("GKE", "", label)
    if "loadBalancer" in cluster:
        lb = cluster["loadBalancer"]
        desc = "loadBalancer fragment"
        if not (isinstance(lb, Mapping) and "kind" in lb):
            desc += " (no kind)"
    else:
        desc = "metalLB fragment" if "metalLB" in cluster else "addressPools fragment"
    return f"GKE on VMware {desc}", ObjectRef("GKE", "", desc)


def _load_balancer(r: Reader, cluster: Mapping[str, Any], lb: Mapping[str, Any]) -> Any:
    """The ``metalLB`` mapping under ``loadBalancer``, after the ``kind`` rule."""
    kind = lb.get("kind")
    if kind is not None and kind != "MetalLB":
        r.add(
            "loadBalancer.kind",
            f"is {kind!r}: only the bundled MetalLB load balancer (kind: MetalLB) has a "
            "MetalLB configuration to convert",
        )
        return None
    if absent(lb, "metalLB"):
        if cluster.get("kind") == "AdminCluster":
            r.add(
                "loadBalancer.metalLB",
                "an admin cluster file has no MetalLB address pools (its VIPs are not "
                "Service addresses): convert the user cluster file",
            )
        else:
            r.add("loadBalancer.metalLB", "missing: no MetalLB address pools to convert")
        return None
    return r.get(lb, "metalLB", dict, "loadBalancer")


__all__ = [
    "ADVERTISEMENT_NAME",
    "NODE_POOL_LABEL",
    "ConfigError",
    "GKEConversion",
    "convert_gke",
    "expand_gke",
    "gke_to_crs",
    "is_gke_document",
]
