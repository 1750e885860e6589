"""GKE on VMware's own rules for its MetalLB section, checked while reading it.

The platform's rules, with where they are written:

* ``loadBalancer.kind`` other than ``MetalLB`` (F5BigIP, Seesaw, ManualLB) runs no MetalLB:
  refused. https://cloud.google.com/anthos/clusters/docs/on-prem/latest/how-to/setup-load-balance
* Address pools are required and must not overlap; the ingress VIP must be in one of
  them ("AddressPools is a list of non-overlapping IP pools used by load balancer typed
  services. ... IngressVIP must be included in the pools."):
  https://googleapis.dev/dotnet/Google.Apis.GKEOnPrem.v1/latest/api/Google.Apis.GKEOnPrem.v1.Data.VmwareMetalLbConfig.html
* A pool needs a name and addresses in CIDR or range form; ``avoidBuggyIPs`` skips
  addresses ending in .0 or .255; ``manualAssign`` stops automatic assignment:
  https://doc.deno.land/https://googleapis.deno.dev/v1/gkeonprem:v1.ts/~/VmwareAddressPool
  The name becomes the IPAddressPool's object name (and the value Services put in the
  address-pool annotation), so it must be a valid Kubernetes object name, and unique.
* MetalLB runs only on the nodes of the node pools with ``enableLoadBalancer: true``; the
  example files put the ingress VIP inside a pool and the control-plane VIP outside:
  https://cloud.google.com/anthos/clusters/docs/on-prem/latest/how-to/bundled-load-balance-metallb
  https://docs.cloud.google.com/kubernetes-engine/distributed-cloud/vmware/docs/how-to/create-user-cluster
  The control-plane VIP is served by the control plane (on the admin cluster, or by the
  user cluster's own control-plane nodes with Controlplane V2), never by MetalLB; the
  bare-metal edition of the same bundled load balancer says it outright: "Don't list this
  address in the address pools":
  https://cloud.google.com/anthos/clusters/docs/bare-metal/1.15/installing/bundled-lb
  so a control-plane VIP inside a pool is refused (a Service could be given it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metallb.config.addresses import (
    AddressError,
    AddressRange,
    IPAddress,
    overlaps,
    parse_addresses,
    parse_ip,
)
from metallb.config.errors import ObjectRef, Problems

_POOL_KEYS = frozenset({"name", "addresses", "avoidBuggyIPs", "manualAssign"})
# A Kubernetes object name (DNS-1123 subdomain), which the pool name becomes.
_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# A label value, which an announcing node pool's name becomes in the node selector.
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass
class Pool:
    """A well-formed address pool: where it is in the file, and what it holds."""

    path: str
    name: str
    ranges: list[tuple[str, AddressRange]]
    avoid_buggy: bool
    manual: bool


class Reader:
    """Typed access to the cluster file, reporting fields of the wrong type."""

    def __init__(self, ref: ObjectRef) -> None:
        self.ref, self.problems = ref, Problems()

    def add(self, path: str, reason: str) -> None:
        self.problems.add(self.ref, path, reason)

    def get(self, obj: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.add(join(path, key), f"must be a {_TYPE_NAMES.get(kind, kind.__name__)}")
            return None
        return value


_TYPE_NAMES = {dict: "mapping", list: "list", str: "string", bool: "boolean (true or false)"}


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def absent(obj: Mapping[str, Any], key: str) -> bool:
    """The key is missing, null or empty (a value of the wrong type is reported elsewhere)."""
    value = obj.get(key)
    return value is None or (isinstance(value, str | list) and not value)


def read_pools(r: Reader, container: Mapping[str, Any], prefix: str) -> list[Pool]:
    """Every well-formed pool; problems for the rest, overlaps checked across all."""
    raw = r.get(container, "addressPools", list, prefix)
    list_path = join(prefix, "addressPools")
    if not raw:
        if absent(container, "addressPools"):
            r.add(list_path, "no address pools defined")
        return []
    pools: list[Pool] = []
    names: dict[str, str] = {}
    seen: list[tuple[str, AddressRange]] = []
    for i, pool in enumerate(raw):
        path = f"{list_path}[{i}]"
        if not isinstance(pool, Mapping):
            r.add(path, "must be a mapping (name, addresses, avoidBuggyIPs, manualAssign)")
            continue
        name = _pool_name(r, pool, path, names)
        ranges = _pool_addresses(r, pool, path, seen)
        avoid_buggy = bool(r.get(pool, "avoidBuggyIPs", bool, path))
        manual = bool(r.get(pool, "manualAssign", bool, path))
        unknown = set(pool) - _POOL_KEYS
        if "name" not in pool:
            unknown.discard("pool")  # reported with the missing name, as a spelling hint
        for key in sorted(unknown, key=str):
            r.add(join(path, str(key)), "unknown field of a GKE address pool")
        if name is None or ranges is None:
            continue
        if avoid_buggy and all(_all_buggy(rng) for _, rng in ranges):
            r.add(
                join(path, "addresses"),
                "every address ends in .0 or .255 and avoidBuggyIPs is true: the pool has "
                "no address to give",
            )
            continue
        pools.append(Pool(path, name, ranges, avoid_buggy, manual))
    return pools


def _pool_name(r: Reader, pool: Mapping[str, Any], path: str, names: dict[str, str]) -> str | None:
    name: str | None = r.get(pool, "name", str, path)
    where = join(path, "name")
    if not name:
        if absent(pool, "name"):
            hint = " (`pool:` is the gcloud/API spelling; the cluster file says `name:`)"
            r.add(where, "missing pool name" + (hint if "pool" in pool else ""))
        return None
    if len(name) > 253 or not _OBJECT_NAME.match(name):
        r.add(
            where,
            f"{name!r} is not a valid Kubernetes object name (lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit); the pool name "
            "becomes the IPAddressPool's name and the value of the address-pool annotation",
        )
        return None
    if name in names:
        r.add(where, f"duplicate pool name {name!r}, also at {names[name]}")
        return None
    names[name] = where
    return name


def _pool_addresses(
    r: Reader, pool: Mapping[str, Any], path: str, seen: list[tuple[str, AddressRange]]
) -> list[tuple[str, AddressRange]] | None:
    addresses = r.get(pool, "addresses", list, path)
    if not addresses:
        if absent(pool, "addresses"):
            r.add(join(path, "addresses"), "pool has no addresses")
        return None
    ranges: list[tuple[str, AddressRange]] = []
    ok = True
    for k, text in enumerate(addresses):
        where = f"{path}.addresses[{k}]"
        if not isinstance(text, str):
            r.add(where, "must be a string (a CIDR or a first-last range)")
            ok = False
            continue
        try:
            rng = parse_addresses(text)
        except AddressError as exc:
            r.add(where, f"{exc} (write a CIDR such as 192.0.2.0/28 or a range first-last)")
            ok = False
            continue
        clash = next((w for w, other in seen if overlaps(rng, other)), None)
        if clash is not None:
            r.add(where, f"{text!r} overlaps {clash}: GKE address pools must not overlap")
            ok = False
        seen.append((f"{where} ({text!r})", rng))
        ranges.append((text, rng))
    return ranges if ok else None


def _buggy(ip: IPAddress) -> bool:
    """An IPv4 address ending in .0 or .255, which avoidBuggyIPs never hands out."""
    return ip.version == 4 and ip.packed[-1] in (0, 255)


def _all_buggy(rng: AddressRange) -> bool:
    return rng.size <= 2 and _buggy(rng.first) and _buggy(rng.last)


def check_vips(r: Reader, lb: Mapping[str, Any], pools: list[Pool], warnings: list[str]) -> None:
    """The ingress VIP must be in a pool; the control-plane VIP must not."""
    vips = r.get(lb, "vips", dict, "loadBalancer")
    if vips is None:
        warnings.append(
            "no loadBalancer.vips: the ingress VIP (which must be in a pool) is not checked"
        )
        return
    ingress = _vip(r, vips, "ingressVIP")
    if ingress is not None:
        pool = _pool_of(ingress, pools)
        where = "loadBalancer.vips.ingressVIP"
        if pool is None and pools:
            r.add(
                where,
                f"{ingress} is in no address pool: GKE on VMware requires the ingress VIP "
                "inside one of the pools (the ingress Service takes its address from them)",
            )
        elif pool is not None and pool.avoid_buggy and _buggy(ingress):
            r.add(
                where,
                f"{ingress} ends in .0 or .255 and its pool {pool.name!r} ({pool.path}) has "
                "avoidBuggyIPs: true: MetalLB would never give it to the ingress Service",
            )
    elif "ingressVIP" not in vips:
        warnings.append("no loadBalancer.vips.ingressVIP: a user cluster needs one, inside a pool")
    control = _vip(r, vips, "controlPlaneVIP")
    if control is not None:
        pool = _pool_of(control, pools)
        if pool is not None:
            r.add(
                "loadBalancer.vips.controlPlaneVIP",
                f"{control} is inside address pool {pool.name!r} ({pool.path}): the control "
                "plane serves this VIP, not MetalLB; keep it out of the pools, or a Service "
                "could be given the API server's address",
            )


def _vip(r: Reader, vips: Mapping[str, Any], key: str) -> IPAddress | None:
    text = r.get(vips, key, str, "loadBalancer.vips")
    if text is None:
        return None
    ip = parse_ip(text.strip())
    if ip is None:
        r.add(f"loadBalancer.vips.{key}", f"{text!r} is not an IP address")
    return ip


def _pool_of(ip: IPAddress, pools: list[Pool]) -> Pool | None:
    return next((p for p in pools if any(ip in rng for _, rng in p.ranges)), None)


def announcing_node_pools(
    r: Reader, cluster: Mapping[str, Any], warnings: list[str], label: str
) -> list[str]:
    """Names of the node pools that run MetalLB; problems when none would."""
    if "nodePools" not in cluster:
        warnings.append(
            "the input has no nodePools: the L2Advertisement selects no nodes, so every "
            "node may announce; convert the whole user cluster file to announce only from "
            "the node pools with enableLoadBalancer: true"
        )
        return []
    raw = r.get(cluster, "nodePools", list, "") or []
    announcing: list[str] = []
    enabled = 0
    for i, node_pool in enumerate(raw):
        path = f"nodePools[{i}]"
        if not isinstance(node_pool, Mapping):
            r.add(path, "must be a mapping")
            continue
        if not r.get(node_pool, "enableLoadBalancer", bool, path):
            continue
        enabled += 1
        name = r.get(node_pool, "name", str, path)
        if not name:
            r.add(join(path, "name"), "a node pool with enableLoadBalancer needs a name")
        elif len(name) > 63 or not _LABEL_VALUE.match(name):
            r.add(join(path, "name"), f"{name!r} cannot be a node label value")
        else:
            announcing.append(name)
    if not enabled and isinstance(cluster.get("nodePools"), list | None):
        r.add(
            "nodePools",
            "no node pool has enableLoadBalancer: true: GKE on VMware runs MetalLB only on "
            "the nodes of those pools, so no node would announce the addresses",
        )
    if announcing:
        warnings.append(
            f"announcing nodes are chosen by the node label {label}={{node pool name}}: "
            f"check your nodes carry it (kubectl get nodes -L {label})"
        )
    return announcing
