"""Builders shared by the ipam tests: short ways to write pools, requests and IPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from metallb.ipam import (
    FamilyPolicy,
    IPAddress,
    Port,
    ServiceRequest,
)

V4_CLUSTER = ("10.96.0.10",)
V6_CLUSTER = ("fd00::10",)
DUAL_CLUSTER = ("10.96.0.10", "fd00::10")


def ip(text: str) -> IPAddress:
    """An address from text."""
    return ipaddress.ip_address(text)


def ips(*texts: str) -> tuple[IPAddress, ...]:
    """Addresses from text, in order."""
    return tuple(ip(t) for t in texts)


def tcp(*ports: int) -> tuple[Port, ...]:
    """TCP ports."""
    return tuple(Port("TCP", p) for p in ports)


def req(
    name: str,
    *,
    ns: str = "default",
    cluster: tuple[str, ...] = V4_CLUSTER,
    policy: FamilyPolicy = FamilyPolicy.SINGLE_STACK,
    families: tuple[str, ...] = (),
    ports: tuple[Port, ...] = (Port("TCP", 80),),
    key: str = "",
    backend: str = "",
    want: tuple[str, ...] = (),
    pool: str = "",
    labels: Mapping[str, str] | None = None,
    ns_labels: Mapping[str, str] | None = None,
    status: tuple[str, ...] = (),
) -> ServiceRequest:
    """A LoadBalancer Service request with sensible defaults (IPv4, TCP/80, no sharing)."""
    return ServiceRequest(
        namespace=ns,
        name=name,
        cluster_ips=cluster,
        ip_family_policy=policy,
        ip_families=families,
        ports=ports,
        sharing_key=key,
        backend_key=backend,
        requested_ips=ips(*want),
        requested_pool=pool,
        labels=dict(labels or {}),
        namespace_labels=dict(ns_labels or {}),
        status_ips=status,
    )
