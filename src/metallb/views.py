"""Typed, frozen views of the Kubernetes objects the pure core reads: Service,
EndpointSlice and Node.

Each view is built once from the object as the API serves it (a JSON-shaped dict), by
its ``from_dict``, at the adapter boundary (``metallb.k8s`` where informers' caches
are read, ``metallb.plan`` where its input is loaded); the core then reads fields,
never nested dicts. ``from_dict`` is tolerant as the API is: a missing or null field
reads as empty (``metadata.namespace`` as ``default``), as kopf's body views do.

The readiness rule for endpoints lives here too (:attr:`Endpoint.can_serve`,
:func:`serving`), so that Layer 2's election and BGP read one rule (upstream's
``EndpointCanServe``, internal/k8s/epslices/epslices.go).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# The label tying an EndpointSlice to its Service (discovery/v1).
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def frozen(labels: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy, for the mappings of frozen values."""
    return MappingProxyType(dict(labels))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(obj.get("metadata"))


def _namespace(meta: Mapping[str, Any]) -> str:
    return str(meta.get("namespace") or "default")


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One ``spec.ports[]`` entry: protocol (TCP when unset) and port."""

    protocol: str
    port: int


@dataclass(frozen=True, slots=True)
class Service:
    """A v1 Service as the controller, the speakers and ``plan`` read it.

    ``ingress`` has one entry per ``status.loadBalancer.ingress[]``, "" for an entry
    without an ``ip`` (a hostname one), so that Layer 2 and BGP can refuse such a status
    as upstream does; :attr:`ingress_ips` keeps the IPs only.
    """

    namespace: str = "default"
    name: str = ""
    type: str = ""
    load_balancer_class: str | None = None  # None: the field is absent
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    cluster_ips: tuple[str, ...] = ()
    ip_families: tuple[str, ...] = ()
    ip_family_policy: str = ""
    external_traffic_policy: str = ""
    selector: Mapping[str, str] = field(default_factory=dict)
    load_balancer_ip: str = ""  # spec.loadBalancerIP
    ports: tuple[ServicePort, ...] = ()
    ingress: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("annotations", "labels", "selector"):
            object.__setattr__(self, name, frozen(getattr(self, name)))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Service:
        meta, spec = _meta(obj), _map(obj.get("spec"))
        cluster_ips = tuple(spec.get("clusterIPs") or ())
        if not cluster_ips and spec.get("clusterIP"):
            cluster_ips = (spec["clusterIP"],)
        lb_class = spec.get("loadBalancerClass")
        ingress = _map(_map(obj.get("status")).get("loadBalancer")).get("ingress") or ()
        return cls(
            namespace=_namespace(meta),
            name=str(meta.get("name") or ""),
            type=str(spec.get("type") or ""),
            load_balancer_class=None if lb_class is None else str(lb_class),
            annotations=_map(meta.get("annotations")),
            labels=_map(meta.get("labels")),
            cluster_ips=cluster_ips,
            ip_families=tuple(spec.get("ipFamilies") or ()),
            ip_family_policy=str(spec.get("ipFamilyPolicy") or ""),
            external_traffic_policy=str(spec.get("externalTrafficPolicy") or ""),
            selector=_map(spec.get("selector")),
            load_balancer_ip=str(spec.get("loadBalancerIP") or ""),
            ports=tuple(
                ServicePort(p.get("protocol") or "TCP", int(p.get("port") or 0))
                for p in spec.get("ports") or ()
            ),
            ingress=tuple(str(_map(i).get("ip") or "") for i in ingress),
        )

    @property
    def key(self) -> str:
        """``namespace/name``, the key of the informers' caches and work queues."""
        return f"{self.namespace}/{self.name}"

    @property
    def is_load_balancer(self) -> bool:
        return self.type == "LoadBalancer"

    @property
    def local_traffic_policy(self) -> bool:
        """``externalTrafficPolicy: Local``."""
        return self.external_traffic_policy == "Local"

    @property
    def ingress_ips(self) -> tuple[str, ...]:
        """The IPs of ``status.loadBalancer.ingress``, in order (hostname entries left out)."""
        return tuple(ip for ip in self.ingress if ip)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One EndpointSlice endpoint: its node and conditions (None = unset), its addresses.

    Equality leaves out ``addresses`` and ``terminating``: the Layer 2 election compares
    Services to keep its cached ranking, and neither changes who may announce.
    """

    node_name: str | None
    ready: bool | None = None
    serving: bool | None = None
    addresses: tuple[str, ...] = field(default=(), compare=False)
    terminating: bool | None = field(default=None, compare=False)

    @property
    def can_serve(self) -> bool:
        """Upstream ``EndpointCanServe``: ready unset or true, or serving true.

        An unset ``ready`` counts as ready, as the EndpointSlice API says consumers
        should interpret it; ``serving`` lets terminating endpoints keep traffic.
        """
        return self.ready is None or self.ready or self.serving is True

    @classmethod
    def from_dict(cls, ep: Mapping[str, Any]) -> Endpoint:
        cond = _map(ep.get("conditions"))
        return cls(
            ep.get("nodeName"),
            cond.get("ready"),
            cond.get("serving"),
            tuple(ep.get("addresses") or ()),
            cond.get("terminating"),
        )


def serving(endpoints: Iterable[Endpoint], node: str | None = None) -> Iterator[Endpoint]:
    """The endpoints that can serve; with ``node``, only those on that node (an endpoint
    on no node is then left out). Layer 2's election and BGP both filter through this."""
    for ep in endpoints:
        if ep.can_serve and (node is None or ep.node_name == node):
            yield ep


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    """A discovery/v1 EndpointSlice: whose Service it is (its label) and its endpoints."""

    namespace: str
    name: str
    service_name: str | None  # the kubernetes.io/service-name label; None: no Service's
    endpoints: tuple[Endpoint, ...] = ()

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> EndpointSlice:
        meta = _meta(obj)
        service = _map(meta.get("labels")).get(SERVICE_NAME_LABEL)
        return cls(
            namespace=_namespace(meta),
            name=str(meta.get("name") or ""),
            service_name=None if service is None else str(service),
            endpoints=tuple(Endpoint.from_dict(_map(ep)) for ep in obj.get("endpoints") or ()),
        )

    @property
    def service_key(self) -> str | None:
        """The key (``namespace/name``) of the Service the slice belongs to, if any."""
        return None if self.service_name is None else f"{self.namespace}/{self.service_name}"


def endpoints_by_service(slices: Iterable[EndpointSlice]) -> dict[str, tuple[Endpoint, ...]]:
    """Every Service's endpoints, by Service key, over all of ``slices`` (in order)."""
    out: dict[str, list[Endpoint]] = {}
    for s in slices:
        if s.service_key is not None:
            out.setdefault(s.service_key, []).extend(s.endpoints)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class Node:
    """A v1 Node as the election and BGP read it: name, labels, and the
    NetworkUnavailable condition (never Ready: upstream does not read it)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    network_unavailable: bool = False  # condition NetworkUnavailable has status "True"

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", frozen(self.labels))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Node:
        meta = _meta(obj)
        conditions = _map(obj.get("status")).get("conditions") or ()
        return cls(
            name=str(meta.get("name") or ""),
            labels=_map(meta.get("labels")),
            network_unavailable=any(
                _map(c).get("type") == "NetworkUnavailable" and _map(c).get("status") == "True"
                for c in conditions
            ),
        )
