"""What the controller does for one Service, as a value the Kubernetes adapter applies.

:func:`reconcile_service` runs the allocator's convergence (upstream's
``convergeBalancer``) and turns the outcome into one merge patch for the
``services/status`` subresource, which carries both ``status.loadBalancer.ingress``
and the ``metallb.io/ip-allocated-from-pool`` annotation (the apiserver accepts
metadata changes through the status subresource, and one write keeps the two in step),
plus the Events to record. The patch is ``None`` when the Service already says what
it should: writes are the expensive part of a controller, and an unchanged write would
also wake every watcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metallb.ipam.allocator import Allocator
from metallb.ipam.converge import WARNING, Event, converge, release
from metallb.ipam.model import ServiceKey
from metallb.ipam.service import (
    DEPRECATED_PREFIX,
    IP_ALLOCATED_FROM_POOL,
    is_handled,
    request_from_service,
)
from metallb.views import Service


@dataclass(frozen=True)
class ServiceDecision:
    """The writes for one Service, and whether every other Service needs another look."""

    status_patch: dict[str, Any] | None = None
    events: tuple[Event, ...] = ()
    reprocess_all: bool = False


def _status_patch(
    service: Service, ips: tuple[str, ...], pool: str | None
) -> dict[str, Any] | None:
    have_pool = service.annotations.get(IP_ALLOCATED_FROM_POOL)
    if service.ingress_ips == ips and have_pool == pool:
        return None
    return {
        # A merge patch: None deletes the annotation and the ingress list.
        "metadata": {"annotations": {IP_ALLOCATED_FROM_POOL: pool}},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips] or None}},
    }


def reconcile_service(
    alloc: Allocator,
    key: str,
    service: Service | None,
    *,
    namespace_labels: Mapping[str, str] | None = None,
    lb_class: str = "",
) -> ServiceDecision:
    """Converge one Service (``None``: deleted) against the allocator."""
    if service is None:
        return ServiceDecision(reprocess_all=release(alloc, ServiceKey(key)))
    if not is_handled(service, lb_class):
        # Not ours (another loadBalancerClass, or no longer a LoadBalancer). If it was
        # ours, free the IP rather than hold it until the next restart, and once it is no
        # LoadBalancer at all take back the annotation we wrote (the apiserver itself
        # clears the status on such a type change).
        reprocess = release(alloc, ServiceKey(key))
        patch = (
            None if service.is_load_balancer else _status_patch(service, service.ingress_ips, None)
        )
        return ServiceDecision(status_patch=patch, reprocess_all=reprocess)
    req = request_from_service(service, namespace_labels)
    outcome = converge(alloc, req)
    ips = tuple(str(ip) for ip in outcome.ips)
    patch = _status_patch(service, ips, outcome.pool)
    events = outcome.events
    if patch is not None and req.deprecated_annotations:
        events += tuple(
            Event(WARNING, "deprecatedAnnotation", f"Service uses deprecated annotation {k}")
            for k in req.deprecated_annotations
            if k.startswith(DEPRECATED_PREFIX)
        )
    return ServiceDecision(patch, events, outcome.reprocess_all)
