"""What :mod:`metallb.k8s.speaker` is built on: the configuration kinds it watches, the
ports to the announcer and the membership node, and dict views of informer objects
(the pure decisions take plain dicts, as the API serves them)."""

from __future__ import annotations

from typing import Any, Protocol

from metallb.speaker import layer2

CONFIG_KINDS = (
    ("v1beta1", "IPAddressPool", "ipaddresspools"),
    ("v1beta1", "L2Advertisement", "l2advertisements"),
    ("v1beta1", "BGPAdvertisement", "bgpadvertisements"),
    ("v1beta2", "BGPPeer", "bgppeers"),
    ("v1beta1", "BFDProfile", "bfdprofiles"),
    ("v1beta1", "Community", "communities"),
)


class AnnounceTable(Protocol):
    """What the speaker needs of :class:`metallb.net.announcer.Announcer`."""

    @property
    def interfaces(self) -> frozenset[str]: ...
    def set_owned(self, ip: Any, interfaces: Any = None) -> None: ...
    def reannounce(self, ip: Any) -> None: ...
    def remove(self, ip: Any) -> None: ...


class Members(Protocol):
    """What the speaker needs of :class:`metallb.net.membership.MembershipNode`."""

    def members(self) -> list[Any]: ...
    def add_listener(self, callback: Any) -> None: ...
    def join(self, seeds: Any) -> None: ...


def as_dict(obj: Any, api_version: str, kind: str) -> dict[str, Any]:
    """A lightkube object as the dict the API serves."""
    body: dict[str, Any] = obj.to_dict()
    return {"apiVersion": api_version, "kind": kind, **body}


def slice_service(obj: Any) -> list[str]:
    """The Service key an EndpointSlice belongs to (its ``kubernetes.io/service-name``)."""
    meta = obj.metadata
    name = (meta.labels or {}).get(layer2.SERVICE_NAME_LABEL) if meta else None
    return [f"{meta.namespace}/{name}"] if meta and name else []
