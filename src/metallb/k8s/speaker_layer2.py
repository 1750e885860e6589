"""The Layer 2 protocol of the speaker: elected IPs into the announcer's ARP/NDP table.

The Layer 2 implementation of the speaker's announcement interface
(:mod:`metallb.k8s.speaker_protocol`). For one Service, :meth:`Layer2.reconcile` runs the
pure decision (:func:`metallb.speaker.layer2_decision.decide`: upstream's ShouldAnnounce, with
the election of :mod:`metallb.election.ranking` over the Nodes and live members of
:class:`~metallb.k8s.speaker_world.ElectionWorld`) and applies it to the announcer's
table in the same step (SetBalancer/DeleteBalancer), so a membership change turns into
gratuitous ARP without waiting for the apiserver. IPs shared by several Services
(``allow-shared-ip``) are announced while any of them needs it, on the union of their
interfaces (:class:`~metallb.k8s.speaker_support.OwnedIPs`).

After a membership or Node change (:meth:`Layer2.reelect`), the Services announced here
that stay here are confirmed with a burst (:meth:`metallb.net.announcer.Announcer.reannounce`).
An advertisement naming interfaces this node does not have cannot announce here
(upstream's SetBalancer check): a Warning Event says so once, and the Service is tried
again when the announcer's interfaces change (:meth:`Layer2.interfaces_changed`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from ipaddress import ip_address
from typing import Any

from metallb import views
from metallb.config.types import Config
from metallb.k8s.speaker_status import ServiceL2Status, StatusObjects, StatusTarget
from metallb.k8s.speaker_support import AnnounceTable, OwnedIPs
from metallb.k8s.speaker_world import ElectionWorld
from metallb.speaker import layer2_decision
from metallb.speaker.layer2_decision import Announce

log = logging.getLogger(__name__)

RECREATE_DELAY = 5.0  # seconds before writing again a status object another node deleted


class Layer2:
    """Announces, from this node, the Layer 2 IPs it wins (see the module docstring)."""

    name = "layer2"

    def __init__(
        self,
        announcer: AnnounceTable,
        world: ElectionWorld,
        target: StatusTarget,
        *,
        lb_class: str = "",
        ignore_exclude_lb: bool = False,
    ) -> None:
        self.announcer = announcer
        self.world = world
        self.target = target
        self.node_name = target.node
        self.lb_class = lb_class
        self.ignore_exclude_lb = ignore_exclude_lb
        # What this node announces, by Service key; and the table given to the announcer.
        self.announced: dict[str, Announce] = {}
        self.table = OwnedIPs(announcer)
        # Services announced before a membership or Node change: confirmed with a burst
        # when their re-election keeps them here (see Announcer.reannounce).
        self._reannounce: set[str] = set()
        self._announce_failed: set[str] = set()  # their interfaces are not on this node
        self.status = StatusObjects(
            target,
            name="speaker-status",
            kind=ServiceL2Status,
            plural="servicel2statuses",
            desired=self.announced.get,
            recreate_delay=RECREATE_DELAY,
        )

    def start(self) -> None:
        """Nothing runs beside the reconciles: the announcer is the caller's."""

    async def close(self) -> None:
        """The announcer is the caller's to close."""

    def set_config(self, config: Config | None, node: views.Node | None) -> None:
        """Each decision reads the configuration it is given: nothing to keep."""

    # -- reconcile (no await: the announce table changes in one step) --------------------
    def reconcile(
        self,
        key: str,
        service: views.Service | None,
        endpoints: Sequence[views.Endpoint],
        config: Config | None,
    ) -> bool:
        """Upstream's ShouldAnnounce, then SetBalancer or DeleteBalancer, for Layer 2."""
        world = self.world
        decision: layer2_decision.Decision | None = None
        if service is not None and config is not None:
            decision = layer2_decision.decide(
                config,
                service,
                my_node=self.node_name,
                nodes=world.nodes(),
                members=world.members(),
                endpoints=endpoints,
                lb_class=self.lb_class,
                ignore_exclude_lb=self.ignore_exclude_lb,
                elector=world.elector,
                key=key,
            )
        elif world.elector is not None:
            world.elector.forget(key)
        new = decision if isinstance(decision, Announce) else None
        if new is not None and not self._interfaces_exist(key, new):
            new = None
        old = self.announced.get(key)
        reannounce = key in self._reannounce
        self._reannounce.discard(key)
        if new == old:
            for ip in new.ips if new is not None and reannounce else ():
                self.announcer.reannounce(ip_address(ip))
            return False
        if new is None:
            del self.announced[key]
            log.info(
                "speaker: %s: not announcing (%s)", key, getattr(decision, "reason", "deleted")
            )
        else:
            self.announced[key] = new
            log.info(
                "speaker: %s: announcing %s on %s", key, ",".join(new.ips), new.interfaces or "all"
            )
        changed = {*(old.ips if old else ()), *(new.ips if new else ())}
        self.table.apply(self.announced.values(), changed)
        return True

    def _interfaces_exist(self, key: str, ann: Announce) -> bool:
        """Upstream's SetBalancer check: an advertisement naming interfaces this node
        does not have cannot announce here; a Warning Event says so, once."""
        if not ann.interfaces or set(ann.interfaces) & self.announcer.interfaces:
            self._announce_failed.discard(key)
            return True
        svc: Mapping[str, Any] | None = self.target.service(key)
        if key not in self._announce_failed and svc is not None:
            self._announce_failed.add(key)
            for ip in ann.ips:
                message = (
                    f'the interfaces specified by LB IP "{ip}" doesn\'t exist in assigned node '
                    f'"{self.node_name}" with protocol "layer2"'
                )
                self.target.recorder.record(svc, "Warning", "announceFailed", message)
        return False

    def interfaces_changed(self) -> list[str]:
        """The announcer's scan found other interfaces: the Services to try again."""
        return list(self._announce_failed)

    def reelect(self, *, everything: bool) -> frozenset[str] | None:
        """The Services whose owner may have moved (None: every Service); the winners
        that stay winners say so again (a burst, see Announcer.reannounce), at once if
        they are not re-decided."""
        moved = None if everything else self.world.moved()
        if moved is None:
            self._reannounce.update(self.announced)
            return None
        for key, ann in self.announced.items():
            if key in moved:
                self._reannounce.add(key)
            else:
                for ip in ann.ips:
                    self.announcer.reannounce(ip_address(ip))
        return moved
