"""What :mod:`metallb.k8s.speaker` is built on: the
ports to the announcer and the membership node, the table of owned IPs the Layer 2
protocol (:mod:`metallb.k8s.speaker_layer2`) keeps the announcer in step with, and the
dicts of informer objects (as the API serves them) that the typed views of
:mod:`metallb.views` are built from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from ipaddress import ip_address
from typing import Any, Protocol

from metallb import views
from metallb.config.addresses import IPAddress
from metallb.k8s.cache import KubeObject
from metallb.k8s.speaker_seeds import Joiner
from metallb.membership import MemberEvent
from metallb.speaker.layer2_decision import Announce
from metallb.views import SERVICE_NAME_LABEL


class AnnounceTable(Protocol):
    """What the speaker needs of :class:`metallb.net.announcer.Announcer`."""

    @property
    def interfaces(self) -> frozenset[str]: ...
    def set_owned(self, ip: IPAddress, interfaces: frozenset[str] | None = None) -> None: ...
    def reannounce(self, ip: IPAddress) -> None: ...
    def remove(self, ip: IPAddress) -> None: ...


class OwnedIPs:
    """The IPs this node announces in Layer 2, each with its interfaces (None: all), as
    last given to the announcer: it is told only what changes."""

    def __init__(self, announcer: AnnounceTable) -> None:
        self.announcer = announcer
        self._table: dict[str, frozenset[str] | None] = {}

    def __len__(self) -> int:
        return len(self._table)

    def apply(self, announced: Iterable[Announce], ips: Iterable[str]) -> None:
        """Make the announcer hold, for ``ips``, what ``announced`` (every Service this
        node announces) asks for: an IP shared by Services is announced while any of
        them needs it, on the union of their interfaces (all if one asks for all)."""
        announced = list(announced)
        for ip in ips:
            users = [a for a in announced if ip in a.ips]
            if not users:
                if self._table.pop(ip, ...) is not ...:
                    self.announcer.remove(ip_address(ip))
                continue
            want = (
                None
                if any(not a.interfaces for a in users)
                else frozenset(i for a in users for i in a.interfaces)
            )
            if ip not in self._table or self._table[ip] != want:
                self._table[ip] = want
                self.announcer.set_owned(ip_address(ip), want)


class Member(Protocol):
    """A live member as the election reads it (a membership record): its node's name."""

    @property
    def name(self) -> str: ...


class Members(Joiner, Protocol):
    """What the speaker needs of :class:`metallb.net.membership.MembershipNode`: the live
    members, a call on every membership event, and (:class:`Joiner`) the join."""

    def members(self) -> Sequence[Member]: ...
    def add_listener(self, callback: Callable[[MemberEvent], None]) -> None: ...


class ApiObject(KubeObject, Protocol):
    """A lightkube object as the informers cache it: metadata, and its body as a dict."""

    def to_dict(self) -> dict[str, Any]: ...


def as_dict(obj: ApiObject, api_version: str, kind: str) -> dict[str, Any]:
    """A lightkube object as the dict the API serves."""
    body: dict[str, Any] = obj.to_dict()
    return {"apiVersion": api_version, "kind": kind, **body}


def slice_service(obj: KubeObject) -> list[str]:
    """The Service key an EndpointSlice belongs to (its ``kubernetes.io/service-name``)."""
    meta = obj.metadata
    name = (meta.labels or {}).get(SERVICE_NAME_LABEL) if meta else None
    return [f"{meta.namespace}/{name}"] if meta and name else []


def endpoints_of(slices: Iterable[ApiObject]) -> tuple[views.Endpoint, ...]:
    """The endpoints of cached EndpointSlices (one Service's: the informer's index
    selects them), as the core reads them."""
    return tuple(
        ep
        for s in slices
        for ep in views.EndpointSlice.from_dict(
            as_dict(s, "discovery.k8s.io/v1", "EndpointSlice")
        ).endpoints
    )
