"""What :mod:`metallb.k8s.speaker` is built on: the ports to the announcer and the
membership node, the table of owned IPs it keeps the announcer in step with, and dict
views of informer objects (the pure decisions take plain dicts, as the API serves them)."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_address
from typing import Any, Protocol

from metallb.speaker import layer2
from metallb.speaker.layer2 import Announce


class AnnounceTable(Protocol):
    """What the speaker needs of :class:`metallb.net.announcer.Announcer`."""

    @property
    def interfaces(self) -> frozenset[str]: ...
    def set_owned(self, ip: Any, interfaces: Any = None) -> None: ...
    def reannounce(self, ip: Any) -> None: ...
    def remove(self, ip: Any) -> None: ...


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
