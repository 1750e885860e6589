"""The validated configuration: frozen values that the allocator, controller and
speaker read. Built only by :func:`metallb.config.build.build_config`.

Selectors stay selectors here (nodes and Services come and go without the configuration
changing), except namespace selectors, which upstream resolves against the Namespaces
of the snapshot; both the resolved names and the selectors are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import cached_property

from metallb.config.addresses import AddressRange, IPNetwork
from metallb.config.community import Community
from metallb.config.selectors import Selector


class BGPType(StrEnum):
    """``METALLB_BGP_TYPE``: which BGP implementation's rules apply."""

    NATIVE = "native"
    FRR = "frr"
    FRR_K8S = "frr-k8s"


@dataclass(frozen=True)
class ServiceAllocation:
    """Which Services a pool serves.

    ``namespaces`` holds the explicit names plus those matched by ``namespace_selectors``;
    empty means no namespace restriction. ``service_selectors`` are ORed. As upstream,
    an allocation naming neither namespaces nor Services carries one match-all service
    selector, which makes the pool preferred ("pinned") for every Service.
    ``priority``: lower positive numbers are preferred; 0 means lowest.
    """

    priority: int
    namespaces: frozenset[str]
    namespace_selectors: tuple[Selector, ...]
    service_selectors: tuple[Selector, ...]


@dataclass(frozen=True)
class Pool:
    name: str
    ranges: tuple[AddressRange, ...]
    avoid_buggy_ips: bool
    auto_assign: bool
    service_allocation: ServiceAllocation | None
    labels: Mapping[str, str]

    @property
    def cidrs(self) -> tuple[IPNetwork, ...]:
        """Every covering CIDR, in entry order (upstream's ``Pool.CIDR``)."""
        return tuple(n for r in self.ranges for n in r.networks)

    @property
    def families(self) -> frozenset[int]:
        return frozenset(r.version for r in self.ranges)


@dataclass(frozen=True)
class PreferredNodes:
    weight: int
    selector: Selector


@dataclass(frozen=True)
class L2Advertisement:
    name: str
    pools: tuple[str, ...]
    node_selectors: tuple[Selector, ...]
    interfaces: tuple[str, ...]
    service_selectors: tuple[Selector, ...]
    preferred_nodes: tuple[PreferredNodes, ...]


@dataclass(frozen=True)
class BGPAdvertisement:
    name: str
    pools: tuple[str, ...]
    aggregation_length: int
    aggregation_length_v6: int
    local_pref: int
    communities: tuple[Community, ...]
    node_selectors: tuple[Selector, ...]
    peers: tuple[str, ...]
    service_selectors: tuple[Selector, ...]


@dataclass(frozen=True)
class BFDProfile:
    name: str
    receive_interval: int | None
    transmit_interval: int | None
    detect_multiplier: int | None
    echo_interval: int | None
    echo_mode: bool
    passive_mode: bool
    minimum_ttl: int | None


@dataclass(frozen=True)
class Peer:
    """A BGP session to open; ``address`` is empty for unnumbered (``interface``) peers."""

    name: str
    my_asn: int
    asn: int
    dynamic_asn: str
    address: str
    interface: str
    source_address: str
    port: int
    hold_time: timedelta | None
    keepalive_time: timedelta | None
    connect_time: timedelta | None
    router_id: str
    node_selectors: tuple[Selector, ...]
    password: str
    secret_password: str
    password_secret: str
    bfd_profile: str
    enable_graceful_restart: bool
    ebgp_multi_hop: bool
    vrf: str
    dual_stack_address_family: bool
    disable_mp: bool
    local_asn: int
    # spec.passwordSecret.namespace, passed on with --frrk8s-secret-passthrough.
    password_secret_namespace: str = ""


@dataclass(frozen=True)
class Config:
    """A whole, valid configuration. Tuples keep input order; lookups are by name."""

    pools: tuple[Pool, ...] = ()
    l2_advertisements: tuple[L2Advertisement, ...] = ()
    bgp_advertisements: tuple[BGPAdvertisement, ...] = ()
    peers: tuple[Peer, ...] = ()
    bfd_profiles: tuple[BFDProfile, ...] = ()
    communities: tuple[tuple[str, Community], ...] = ()
    warnings: tuple[str, ...] = ()

    @cached_property
    def pools_by_name(self) -> Mapping[str, Pool]:
        return {p.name: p for p in self.pools}

    def l2_advertisements_for(self, pool: str) -> tuple[L2Advertisement, ...]:
        return tuple(a for a in self.l2_advertisements if pool in a.pools)

    def bgp_advertisements_for(self, pool: str) -> tuple[BGPAdvertisement, ...]:
        return tuple(a for a in self.bgp_advertisements if pool in a.pools)
