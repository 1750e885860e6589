"""The speaker's BGP protocol and its back-ends: who turns "this node advertises these
routes" into BGP.

:class:`BGP`, the BGP implementation of the speaker's announcement interface
(:mod:`metallb.k8s.speaker_protocol`), decides per Service what this node advertises
(:func:`metallb.speaker.bgp_decision.decide`) and hands two things to its driver: the
configuration and this node (:meth:`BGPDriver.sync`, on every configuration or label
change), and after each batch of reconciles the complete set of advertisements
(:meth:`BGPDriver.advertise`). ``METALLB_BGP_TYPE`` picks the driver (as upstream's
speaker/main.go):

- :class:`NativeBGP` (``native``, the default): one :class:`metallb.net.bgp.Session`
  per BGPPeer selecting the node, each given its table from
  :func:`metallb.speaker.bgp_decision.peer_tables`; a changed BGPPeer gets a new session.
- :class:`FRRBGP` (``frr``): FRR (bgpd, bfdd) runs next to the speaker; the driver renders
  the node's whole FRR configuration (:func:`metallb.frr.render.desired`) and
  :class:`metallb.net.frr.FRRBackend` applies it, debounced, without resetting
  unchanged sessions. Session state comes from asking FRR every ``poll`` seconds.

Both report per-session metrics with upstream's names (:meth:`BGPDriver.peer_metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from typing import Protocol

from metallb import views
from metallb.codec.bgp import LargeCommunity
from metallb.codec.bgp.negotiated import DEFAULT_HOLD_TIME
from metallb.config.types import Config, Peer
from metallb.election import ranking as election
from metallb.frr import render as frr_render
from metallb.frr.status import BFDStatus, NeighborStatus, parse_bfd, parse_neighbors
from metallb.k8s.speaker_status import (
    ServiceBGPStatus,
    StatusObjects,
    StatusTarget,
    desired_bgp_status,
)
from metallb.net.bgp import Advertisement, PeerOptions, Session
from metallb.net.frr import ApplyError, FRRBackend
from metallb.speaker import bgp_decision

log = logging.getLogger(__name__)

CLOSE_GRACE = 2.0  # seconds a closing native session may take to say Cease
FRR_POLL = 5.0  # seconds between two readings of FRR's session state


@dataclass(frozen=True)
class PeerMetrics:
    """One session's values under upstream's metric names; ``vrf`` is None where
    upstream has no such label (native mode)."""

    peer: str
    vrf: str | None
    values: Mapping[str, float]


class BGPDriver(Protocol):
    def start(self) -> None: ...
    def sync(self, config: Config | None, node: election.Node | None) -> None: ...
    def advertise(self, announced: Collection[bgp_decision.Announce]) -> None: ...
    async def close(self) -> None: ...
    def peer_metrics(self) -> list[PeerMetrics]: ...


# -- native -----------------------------------------------------------------------------


class NativeBGP:
    """Our own asyncio BGP sessions, one per BGPPeer selecting this node."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[Peer, Session]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._tables: dict[str, dict[bgp_decision.IPNetwork, bgp_decision.Route]] = {}

    def start(self) -> None:
        """Sessions start as :meth:`sync` creates them."""

    def sync(self, config: Config | None, node: election.Node | None) -> None:
        want = {p.name: p for p in bgp_decision.sessions(config, node)} if config and node else {}
        for name, (peer, session) in list(self.sessions.items()):
            if want.get(name) != peer:
                del self.sessions[name]
                reason = "peer changed" if name in want else "peer removed"
                log.info("speaker: BGP peer %s: closing the session (%s)", name, reason)
                task = asyncio.create_task(session.close(reason, grace=CLOSE_GRACE))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        for name, peer in want.items():
            if name in self.sessions:
                continue
            options = peer_options(peer)
            if options is None:
                continue
            session = Session(options)
            session.start()
            self.sessions[name] = (peer, session)
            session.set(self._advertisements(name))
            log.info("speaker: BGP peer %s: session to %s started", name, options.name)

    def advertise(self, announced: Collection[bgp_decision.Announce]) -> None:
        self._tables = bgp_decision.peer_tables(announced)
        for name, (_peer, session) in self.sessions.items():
            session.set(self._advertisements(name))

    def _advertisements(self, name: str) -> dict[bgp_decision.IPNetwork, Advertisement]:
        table = self._tables.get(name, {})
        return {prefix: advertisement(route) for prefix, route in table.items()}

    async def close(self) -> None:
        """Close every session (Cease), bounded by :data:`CLOSE_GRACE`."""
        sessions = [s for _, s in self.sessions.values()]
        self.sessions.clear()
        await asyncio.gather(
            *(s.close("speaker stopping", grace=CLOSE_GRACE) for s in sessions),
            *self._closing,
            return_exceptions=True,
        )

    def peer_metrics(self) -> list[PeerMetrics]:
        out = []
        for _name, (_peer, session) in sorted(self.sessions.items()):
            c = session.counters
            values = {
                "metallb_bgp_session_up": float(c.session_up),
                "metallb_bgp_updates_total": float(c.updates_sent),
                "metallb_bgp_announced_prefixes_total": float(c.announced_prefixes),
                "metallb_bgp_pending_prefixes_total": float(c.pending_prefixes),
            }
            out.append(PeerMetrics(session.options.name, None, values))
        return out


def advertisement(route: bgp_decision.Route) -> Advertisement:
    """What the session says about ``route``: a classic community as its 32-bit value
    (``asn << 16 | value``, :class:`~metallb.config.community.Community`'s first sort key
    element), a large one as its three parts; local preference as decided (None for eBGP
    peers); the next hop is the session's own address."""
    return Advertisement(
        communities=tuple(c.sort_key[0] for c in route.communities),
        large_communities=tuple(LargeCommunity(*c.sort_key) for c in route.large_communities),
        local_pref=route.local_pref,
    )


def peer_options(peer: Peer) -> PeerOptions | None:
    """The native session's options for ``peer``; None (logged) where we cannot talk to it:
    unnumbered (``interface``) peers and ``dynamicASN: external``."""
    if not peer.address:
        log.warning("speaker: BGP peer %s: interface peers need FRR; skipped", peer.name)
        return None
    asn = peer.asn or (peer.my_asn if peer.dynamic_asn == "internal" else 0)
    if not asn:
        log.warning("speaker: BGP peer %s: dynamicASN external needs FRR; skipped", peer.name)
        return None
    try:
        return PeerOptions(
            peer_address=ip_address(peer.address),
            local_asn=peer.my_asn,
            peer_asn=asn,
            peer_port=peer.port or 179,
            router_id=IPv4Address(peer.router_id) if peer.router_id else None,
            hold_time=(
                int(peer.hold_time.total_seconds())
                if peer.hold_time is not None
                else DEFAULT_HOLD_TIME
            ),
            source_address=ip_address(peer.source_address) if peer.source_address else None,
            ebgp_multihop=peer.ebgp_multi_hop,
            password=(peer.password or peer.secret_password) or None,
        )
    except ValueError as err:
        log.error("speaker: BGP peer %s: %s; skipped", peer.name, err)
        return None


# -- FRR ----------------------------------------------------------------------------------


class FRRBGP:
    """The node's FRR, configured as a whole through :class:`FRRBackend`.

    Nothing is pushed before the first configuration is known: an empty rendering would
    remove whatever FRR holds from the previous speaker run and reset its sessions.
    """

    def __init__(self, backend: FRRBackend, *, poll: float = FRR_POLL) -> None:
        self.backend = backend
        self.poll = poll
        self.neighbors: list[NeighborStatus] = []
        self.bfd: list[BFDStatus] = []
        self._config: Config | None = None
        self._node: election.Node | None = None
        self._announced: tuple[bgp_decision.Announce, ...] = ()
        # Per (VRF, neighbour key), from the last state pushed: the configured port (FRR
        # omits it while down) and the routes it should hold (pending prefixes).
        self._ports: dict[tuple[str, str], int] = {}
        self._pending: dict[tuple[str, str], int] = {}
        self._poller: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.backend.start()
        if self._poller is None and self.poll > 0:
            self._poller = asyncio.create_task(self._poll_loop(), name="frr-status")

    def sync(self, config: Config | None, node: election.Node | None) -> None:
        self._config, self._node = config, node
        self._push()

    def advertise(self, announced: Collection[bgp_decision.Announce]) -> None:
        self._announced = tuple(announced)
        self._push()

    def _push(self) -> None:
        if self._config is None or self._node is None:
            return
        state = frr_render.desired(self._config, self._node, self._announced)
        neighbors = [((r.vrf or "default", n.key), n) for r in state.routers for n in r.neighbors]
        self._ports = {key: n.port for key, n in neighbors}
        self._pending = {key: len(n.routes) for key, n in neighbors}
        self.backend.set(state)

    async def close(self) -> None:
        """Stop applying; FRR keeps its configuration (and its sessions) on purpose: a
        speaker restart must not withdraw the node's routes."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self.backend.close()

    async def _poll_loop(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.poll)

    async def refresh(self) -> None:
        """Read the sessions' state from FRR now (errors are counted and logged)."""
        doc = await self._show_json("show bgp vrf all neighbors json")
        if doc is not None:
            self.neighbors = parse_neighbors(doc, self._ports) if isinstance(doc, dict) else []
        if self._config is not None and self._config.bfd_profiles:
            peers = await self._show_json("show bfd peers json")
            counters = await self._show_json("show bfd peers counters json")
            if peers is not None:
                self.bfd = parse_bfd(peers, counters)
        else:
            self.bfd = []

    async def _show_json(self, command: str) -> object | None:
        try:
            doc: object = json.loads(await self.backend.show(command) or "null")
        except (ApplyError, OSError, ValueError) as err:
            log.debug("speaker: %r on FRR failed: %s", command, err)
            return None
        return doc

    def peer_metrics(self) -> list[PeerMetrics]:
        out = []
        for n in self.neighbors:
            values = dict(n.metrics)
            pending = self._pending.get((n.vrf, n.address), 0)
            values["metallb_bgp_pending_prefixes_total"] = float(pending)
            out.append(PeerMetrics(n.peer, n.vrf, values))
        out += [PeerMetrics(b.peer, b.vrf, b.metrics) for b in self.bfd]
        return out


class BGP:
    """The BGP protocol (:class:`metallb.k8s.speaker_protocol.AnnounceProtocol`): what
    this node advertises, Service by Service, and the driver it goes to.

    Decisions (:func:`metallb.speaker.bgp_decision.decide`, for this node) arrive one reconcile
    at a time; the driver gets the whole set once per batch (one ``call_soon`` after the
    first change), so a thousand Services changed together cost the driver one table,
    not a thousand. Without a driver (a ``METALLB_BGP_TYPE`` we do not implement)
    nothing is advertised, and this node's ServiceBGPStatus objects are cleared.
    """

    name = "bgp"

    def __init__(
        self,
        driver: BGPDriver | None,
        target: StatusTarget,
        *,
        my_node: Callable[[], views.Node | None],
        lb_class: str = "",
        ignore_exclude_lb: bool = False,
    ) -> None:
        self.driver = driver
        self.my_node = my_node
        self.lb_class = lb_class
        self.ignore_exclude_lb = ignore_exclude_lb
        self.announced: dict[str, bgp_decision.Announce] = {}
        self._flush_pending = False
        self.status = StatusObjects(
            target,
            name="speaker-bgp-status",
            kind=ServiceBGPStatus,
            plural="servicebgpstatuses",
            desired=self.desired,
            generate_name="bgp-",
            render=desired_bgp_status,
            protocol="bgp",
            exclusive=False,
            clear=(),
        )

    def start(self) -> None:
        if self.driver is not None:
            self.driver.start()

    async def close(self) -> None:
        if self.driver is not None:
            await self.driver.close()

    def reconcile(
        self,
        key: str,
        service: views.Service | None,
        endpoints: Sequence[views.Endpoint],
        config: Config | None,
    ) -> bool:
        """Upstream's ShouldAnnounce, then SetBalancer or DeleteBalancer, for BGP."""
        if self.driver is None:
            return False
        me = self.my_node()
        decision: bgp_decision.Decision | None = None
        if service is not None and config is not None and me is not None:
            decision = bgp_decision.decide(
                config,
                service,
                node=me,
                endpoints=endpoints,
                lb_class=self.lb_class,
                ignore_exclude_lb=self.ignore_exclude_lb,
            )
        return self.update(key, decision)

    def update(self, key: str, decision: bgp_decision.Decision | None) -> bool:
        """Record ``key``'s decision (None: the Service is gone); True when what this
        node advertises for it changed."""
        new = decision if isinstance(decision, bgp_decision.Announce) else None
        if new == self.announced.get(key):
            return False
        if new is None:
            del self.announced[key]
            reason = (
                decision.reason.value if isinstance(decision, bgp_decision.Withdraw) else "deleted"
            )
            log.info("speaker: %s: not advertising over BGP (%s)", key, reason)
        else:
            self.announced[key] = new
            log.info(
                "speaker: %s: advertising %s over BGP to %s",
                key,
                ",".join(new.ips),
                ",".join(new.peers) or "no peer",
            )
        self._changed()
        return True

    def desired(self, key: str) -> bgp_decision.Announce | None:
        """``key``'s advertisement when it has routes (what its ServiceBGPStatus shows)."""
        ann = self.announced.get(key)
        return ann if ann is not None and ann.routes else None

    def set_config(self, config: Config | None, node: views.Node | None) -> None:
        """The configuration or this node changed: the driver's peers follow."""
        if self.driver is None:
            return
        self.driver.sync(config, node)
        self._changed()

    def peer_metrics(self) -> list[PeerMetrics]:
        """The driver's per-session metrics (none without a driver)."""
        return self.driver.peer_metrics() if self.driver is not None else []

    def _changed(self) -> None:
        """Give the driver its table once the current batch of reconciles is done."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self.driver is not None:
            self.driver.advertise(tuple(self.announced.values()))
