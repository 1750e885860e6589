"""The speaker's announcement interface: what Layer 2 and BGP each implement.

Upstream's speaker (speaker/main.go) drives every protocol through one interface,
``Protocol``: ``SetConfig`` and ``SetNode`` when the configuration or this node change,
``ShouldAnnounce`` to decide a Service, then ``SetBalancer`` (announce) or
``DeleteBalancer`` (withdraw). Ours has the same shape, adapted to the split between
the pure core and the adapters (docs/architecture.md):

- the decision (``ShouldAnnounce``) is a pure function of the core,
  :func:`metallb.speaker.layer2_decision.decide` and :func:`metallb.speaker.bgp_decision.decide`;
- :meth:`AnnounceProtocol.reconcile` runs that decision for one Service and applies it
  at once (``SetBalancer``/``DeleteBalancer``), never awaiting, and says whether what
  this node announces for the Service changed;
- each protocol keeps its own status objects (:class:`~metallb.k8s.speaker_status.StatusObjects`:
  ServiceL2Status, ServiceBGPStatus), which follow on a queue of their own.

The implementations: :class:`metallb.k8s.speaker_layer2.Layer2` (the announcer's ARP/NDP
table, with the election) and :class:`metallb.k8s.speaker_bgp.BGP` (a BGP driver: native
sessions, FRR or frr-k8s). :class:`metallb.k8s.speaker.Speaker` wires them: its
reconcile calls each in turn with the same typed views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from metallb import views
from metallb.config.types import Config
from metallb.k8s.speaker_status import StatusObjects


class Announced(Protocol):
    """What a protocol announces for one Service: at least its IPs."""

    @property
    def ips(self) -> tuple[str, ...]: ...


class AnnounceProtocol(Protocol):
    """One way of announcing a Service's IPs from this node (upstream's ``Protocol``)."""

    @property
    def name(self) -> str:
        """``layer2`` or ``bgp``: the ``protocol`` label of ``metallb_speaker_announced``."""
        ...

    @property
    def announced(self) -> Mapping[str, Announced]:
        """What this node announces with this protocol, by Service key."""
        ...

    @property
    def status(self) -> StatusObjects:
        """This protocol's status objects, their writer and queue."""
        ...

    def start(self) -> None:
        """Start what runs beside the reconciles (a BGP driver's sessions)."""
        ...

    async def close(self) -> None:
        """Stop it, as the speaker stops."""
        ...

    def set_config(self, config: Config | None, node: views.Node | None) -> None:
        """The configuration or this node changed (upstream's SetConfig and SetNode)."""
        ...

    def reconcile(
        self,
        key: str,
        service: views.Service | None,
        endpoints: Sequence[views.Endpoint],
        config: Config | None,
    ) -> bool:
        """Decide ``key`` (None: the Service is gone) and apply the decision at once;
        True when what this node announces for it changed."""
        ...
