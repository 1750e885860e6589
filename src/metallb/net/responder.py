"""One ARP or NDP responder: read a frame, ask the pure decision, send the reply.

The loop holds no logic of its own: :func:`metallb.speaker.layer2_responder.decide_arp` and
:func:`~metallb.speaker.layer2_responder.decide_ndp` decide, against the announce table the
:class:`~metallb.net.announcer.Announcer` keeps current, and the loop moves bytes and
counts. Counters live in :class:`L2Stats`, shared by every responder of an announcer;
they mirror upstream's ``metallb_layer2_*`` metrics (labelled by service IP) plus drops by
reason, and a metrics adapter can publish them later.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from metallb.codec.ethernet import MacAddress
from metallb.config.addresses import IPAddress
from metallb.net.packet_io import FrameIO
from metallb.speaker.layer2_responder import (
    DropReason,
    Interface,
    Ownership,
    Reply,
    decide_arp,
    decide_ndp,
)

log = logging.getLogger(__name__)


class Kind(StrEnum):
    """The protocol a responder answers."""

    ARP = "arp"
    NDP = "ndp"


DECIDE: dict[Kind, Callable[[bytes, Interface, Ownership], Reply | DropReason]] = {
    Kind.ARP: decide_arp,
    Kind.NDP: decide_ndp,
}


@dataclass
class L2Stats:
    """Counters of all responders of one announcer.

    ``requests_received`` and ``responses_sent`` count per service IP, as upstream's
    metrics do: a request is counted when it asks for an owned IP on an allowed
    interface. ``frames`` counts everything the kernel filter let through.
    """

    frames: int = 0
    requests_received: Counter[IPAddress] = field(default_factory=Counter)
    responses_sent: Counter[IPAddress] = field(default_factory=Counter)
    gratuitous_sent: Counter[IPAddress] = field(default_factory=Counter)
    send_errors: int = 0
    drops: Counter[DropReason] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        """Plain JSON-ready values (IP and reason keys as strings)."""
        return {
            "frames": self.frames,
            "requests_received": {str(k): v for k, v in self.requests_received.items()},
            "responses_sent": {str(k): v for k, v in self.responses_sent.items()},
            "gratuitous_sent": {str(k): v for k, v in self.gratuitous_sent.items()},
            "send_errors": self.send_errors,
            "drops": {str(k): v for k, v in self.drops.items()},
        }


class Responder:
    """Answers one protocol on one interface until :meth:`close`.

    ``io`` is the only route to the link; tests replace it (see
    :class:`~metallb.net.packet_io.FrameIO`).
    """

    def __init__(
        self,
        kind: Kind,
        iface: Interface,
        io: FrameIO,
        ownership: Ownership,
        stats: L2Stats,
    ) -> None:
        self.kind = kind
        self.iface = iface
        self.io = io
        self._ownership = ownership
        self._stats = stats
        self._decide = DECIDE[kind]
        self._groups: set[MacAddress] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def groups(self) -> frozenset[MacAddress]:
        """The multicast groups currently joined."""
        return frozenset(self._groups)

    def start(self) -> None:
        """Start the receive loop as a task of the running event loop."""
        self._task = asyncio.get_running_loop().create_task(
            self.serve(), name=f"l2-{self.kind}-{self.iface.name}"
        )

    @property
    def running(self) -> bool:
        """False once the receive loop has ended (an interface that went down, say)."""
        return self._task is not None and not self._task.done()

    async def serve(self) -> None:
        """Receive and answer frames until cancelled or the socket fails."""
        while True:
            try:
                frame = await self.io.recv()
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                # The interface went away (ENETDOWN, ENXIO): the announcer's next scan
                # replaces or removes this responder; spinning on the error helps nobody.
                self._stats.drops[DropReason.ERROR] += 1
                log.warning("%s responder on %s stopped: %s", self.kind, self.iface.name, exc)
                return
            self.handle(frame)

    def handle(self, frame: bytes) -> None:
        """Decide on one frame and send the reply, if any (synchronous: no await)."""
        self._stats.frames += 1
        outcome = self._decide(frame, self.iface, self._ownership)
        if isinstance(outcome, DropReason):
            self._stats.drops[outcome] += 1
            return
        self._stats.requests_received[outcome.ip] += 1
        if self.send(outcome.frame):
            self._stats.responses_sent[outcome.ip] += 1

    def send(self, frame: bytes) -> bool:
        """Send a frame; False (and counted) if the kernel refused it."""
        try:
            self.io.send(frame)
        except OSError as exc:
            self._stats.send_errors += 1
            log.debug("send on %s failed: %s", self.iface.name, exc)
            return False
        return True

    def sync_groups(self, wanted: frozenset[MacAddress]) -> None:
        """Join and leave multicast groups so that exactly ``wanted`` are joined."""
        for mac in wanted - self._groups:
            try:
                self.io.join(mac)
            except OSError as exc:
                log.warning("joining %s on %s failed: %s", mac, self.iface.name, exc)
                continue
            self._groups.add(mac)
        for mac in self._groups - wanted:
            try:
                self.io.leave(mac)
            except OSError as exc:
                log.debug("leaving %s on %s failed: %s", mac, self.iface.name, exc)
            self._groups.discard(mac)

    async def close(self) -> None:
        """Stop the loop and close the socket (which also leaves every group)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                # Our own cancellation of the loop task; re-raise only if we were cancelled.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            self._task = None
        self._groups.clear()
        self.io.close()
