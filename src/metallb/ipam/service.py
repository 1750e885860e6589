"""From a v1 Service (its :class:`metallb.views.Service`) to a `ServiceRequest`.

Pure parsing, so annotation precedence is tested in the core: a stable `metallb.io/*`
annotation that is present wins whatever its value (even empty); the deprecated
`metallb.universe.tf/*` one is read only when the stable key is absent. Requested IPs
come from `metallb.io/loadBalancerIPs` or `spec.loadBalancerIP`, never both; parse
errors are kept in the request (with upstream's texts) and reported when the allocator
needs the IPs.
"""

from __future__ import annotations

from collections.abc import Mapping

from metallb.config.addresses import IPAddress, parse_ip
from metallb.config.gotext import go_quote
from metallb.ipam.addresses import family_for_addresses
from metallb.ipam.model import FamilyPolicy, Port, ServiceRequest
from metallb.views import Service

PREFIX = "metallb.io/"
DEPRECATED_PREFIX = "metallb.universe.tf/"
ADDRESS_POOL = "address-pool"
LOAD_BALANCER_IPS = "loadBalancerIPs"
ALLOW_SHARED_IP = "allow-shared-ip"
IP_ALLOCATED_FROM_POOL = PREFIX + "ip-allocated-from-pool"


def annotation(annotations: Mapping[str, str], name: str) -> str:
    """The stable annotation if present (any value), else the deprecated one, else ""."""
    stable = PREFIX + name
    if stable in annotations:
        return annotations[stable]
    return annotations.get(DEPRECATED_PREFIX + name, "")


def requested_ips(
    annotations: Mapping[str, str], spec_ip: str
) -> tuple[tuple[IPAddress, ...], str | None]:
    """Upstream's getDesiredLbIPs: the requested IPs, or an error text."""
    raw = annotation(annotations, LOAD_BALANCER_IPS)
    if not raw and not spec_ip:
        return (), None
    if raw and spec_ip:
        return (
            (),
            f"service can not have both {PREFIX}{LOAD_BALANCER_IPS} and svc.Spec.LoadBalancerIP",
        )
    if raw:
        ips = []
        for part in raw.split(","):
            ip = parse_ip(part.strip())
            if ip is None:
                return (), f"invalid {PREFIX}{LOAD_BALANCER_IPS}: {go_quote(raw)}"
            ips.append(ip)
        _, err = family_for_addresses([str(ip) for ip in ips])
        return (tuple(ips), None) if err is None else ((), err)
    ip = parse_ip(spec_ip)
    if ip is None:
        return (), f"invalid spec.loadBalancerIP {go_quote(spec_ip)}"
    return (ip,), None


def backend_key(service: Service) -> str:
    """Empty under externalTrafficPolicy Cluster; the selector as `k=v,...` under Local."""
    if not service.local_traffic_policy:
        return ""
    selector = service.selector
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def is_handled(service: Service, lb_class: str = "") -> bool:
    """`--lb-class` filtering: no class is ours only without a flag; a class must match it."""
    if service.load_balancer_class is None:
        return lb_class == ""
    return service.load_balancer_class == lb_class


def request_from_service(
    service: Service, namespace_labels: Mapping[str, str] | None = None
) -> ServiceRequest:
    """Extract what the allocator needs from a v1 Service and its Namespace's labels."""
    annotations = service.annotations
    try:
        policy = FamilyPolicy(service.ip_family_policy or FamilyPolicy.SINGLE_STACK)
    except ValueError:
        policy = FamilyPolicy.SINGLE_STACK
    ips, error = requested_ips(annotations, service.load_balancer_ip)
    return ServiceRequest(
        namespace=service.namespace,
        name=service.name,
        cluster_ips=service.cluster_ips,
        ip_family_policy=policy,
        ip_families=service.ip_families,
        ports=tuple(Port(p.protocol, p.port) for p in service.ports),
        sharing_key=annotation(annotations, ALLOW_SHARED_IP),
        backend_key=backend_key(service),
        requested_ips=ips,
        requested_ips_error=error,
        requested_pool=annotation(annotations, ADDRESS_POOL),
        labels=dict(service.labels),
        namespace_labels=dict(namespace_labels or {}),
        status_ips=service.ingress_ips,
        load_balancer=service.is_load_balancer,
        deprecated_annotations=tuple(
            sorted(k for k in annotations if k.startswith(DEPRECATED_PREFIX.rstrip("/")))
        ),
    )
