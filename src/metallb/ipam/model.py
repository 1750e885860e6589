"""The allocator's own frozen input and output values.

The allocator does not import `metallb.config`: an adapter maps the configuration's
pools to `Pool`, and a Service (plus its Namespace's labels) to `ServiceRequest` (see
`ipam.service`). Keeping these types small and local lets the core be tested with
literals and keeps the two packages free to evolve apart.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NewType

from metallb.config.addresses import IPAddress
from metallb.config.selectors import Selector
from metallb.ipam.addresses import AddressRange, parse_addresses

ServiceKey = NewType("ServiceKey", str)
"""`namespace/name` of a Service."""


class FamilyPolicy(enum.StrEnum):
    """`spec.ipFamilyPolicy`; a Service without one is SingleStack."""

    SINGLE_STACK = "SingleStack"
    PREFER_DUAL_STACK = "PreferDualStack"
    REQUIRE_DUAL_STACK = "RequireDualStack"


@dataclass(frozen=True, slots=True, order=True)
class Port:
    """One (protocol, port) of a Service: the unit of IP-sharing conflicts."""

    protocol: str
    port: int

    def __str__(self) -> str:
        return f"{self.protocol}/{self.port}"


MATCH_EVERYTHING = Selector.everything()


@dataclass(frozen=True, slots=True)
class ServiceAllocation:
    """A pool's `spec.serviceAllocation`.

    `namespace_selectors` are resolved against the cluster's Namespaces when the pools
    are loaded (`Allocator.set_pools`), as upstream does at configuration time.
    """

    priority: int = 0
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[Selector, ...] = ()
    service_selectors: tuple[Selector, ...] = ()


@dataclass(frozen=True, slots=True)
class Pool:
    """An IPAddressPool as the allocator sees it; `ranges` keep configuration order."""

    name: str
    ranges: tuple[AddressRange, ...]
    avoid_buggy_ips: bool = False
    auto_assign: bool = True
    allocation: ServiceAllocation | None = None


def pool_from_strings(
    name: str,
    addresses: Iterable[str],
    *,
    avoid_buggy_ips: bool = False,
    auto_assign: bool = True,
    allocation: ServiceAllocation | None = None,
) -> Pool:
    """A Pool from `spec.addresses` strings (CIDRs or `a-b` ranges); ValueError if invalid."""
    return Pool(
        name=name,
        ranges=tuple(parse_addresses(a) for a in addresses),
        avoid_buggy_ips=avoid_buggy_ips,
        auto_assign=auto_assign,
        allocation=allocation,
    )


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """Everything the allocator needs to know about one Service, already extracted.

    `cluster_ips` (not `ip_families`) decide the Service's family, as upstream;
    `ip_families[0] == "IPv6"` only makes IPv6 the primary family for PreferDualStack.
    `requested_ips_error` carries a parse error of the requested IPs, reported when the
    allocator needs them. `status_ips` is `status.loadBalancer.ingress[].ip`, the durable
    truth after a restart. `deprecated_annotations` lists the `metallb.universe.tf*` keys
    present, for the `deprecatedAnnotation` Warning the caller emits when it updates the
    Service. loadBalancerClass filtering is the caller's job (`ipam.service.is_handled`).
    """

    namespace: str
    name: str
    cluster_ips: tuple[str, ...] = ()
    ip_family_policy: FamilyPolicy = FamilyPolicy.SINGLE_STACK
    ip_families: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    sharing_key: str = ""
    backend_key: str = ""
    requested_ips: tuple[IPAddress, ...] = ()
    requested_ips_error: str | None = None
    requested_pool: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    namespace_labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    status_ips: tuple[str, ...] = ()
    load_balancer: bool = True
    deprecated_annotations: tuple[str, ...] = ()
    key: ServiceKey = field(init=False, compare=False, hash=False, repr=False)
    """`namespace/name`, computed once: the allocator looks it up many times."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", ServiceKey(f"{self.namespace}/{self.name}"))


@dataclass(frozen=True, slots=True)
class PoolCounters:
    """A pool's status: distinct IPs in use, and capacity minus that, per family."""

    assigned_ipv4: int = 0
    assigned_ipv6: int = 0
    available_ipv4: int = 0
    available_ipv6: int = 0


class AllocationError(Exception):
    """An expected outcome: this Service cannot have these or any IPs; str() is upstream's text."""


class NotInConfigError(AllocationError):
    """The requested IPs are in no pool (or only on a buggy address of an avoiding pool)."""


class IncompatiblePoolError(AllocationError):
    """The pool's serviceAllocation does not admit this Service."""


class SharingConflictError(AllocationError):
    """The IP is held by Services this one may not share with."""


class PoolExhaustedError(AllocationError):
    """No suitable free or shareable IP."""


class UnknownPoolError(AllocationError):
    """The requested pool does not exist."""
