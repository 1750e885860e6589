"""The speaker process's Kubernetes side: informers, and the announcement protocols wired to them.

Informers follow upstream's reconcilers (internal/k8s/controllers/service_controller.go,
node_controller.go, config_controller.go): Services, EndpointSlices (indexed by
``kubernetes.io/service-name``), Nodes and Namespaces cluster-wide; the configuration kinds and
Secrets in the MetalLB namespace; each protocol's status objects in this namespace. Keys are
Service keys plus :data:`CONFIG_KEY`.

One worker runs :meth:`Speaker.reconcile`, which never awaits: it builds the typed views
of the Service and its endpoints once and hands them to each protocol of the
announcement interface (:mod:`metallb.k8s.speaker_protocol`, upstream's ``Protocol``):
Layer 2 (:mod:`metallb.k8s.speaker_layer2`) and BGP (:mod:`metallb.k8s.speaker_bgp`),
each of which decides and applies at once. Each protocol's status objects
(ServiceL2Status, ServiceBGPStatus) and Events follow on a queue of their own
(:mod:`metallb.k8s.speaker_status`). The path of an IP through these modules is told in
docs/architecture.md.

What makes everyone re-elect every Service (upstream's "reprocess all"): a new
configuration and an event on this node's Node. A membership event or another Node's
event re-decides only the Services whose owner it moved (the incremental election of
:mod:`metallb.k8s.speaker_world`; ``incremental_election=False`` re-decides them all, the
same outcome, slower at scale: bench/scale.py). Membership (``membership``
given) supplies the live members; without it every Node counts (upstream's fallback,
section 7: Ready is not consulted). Join targets are the pod IPs of the speaker pods
matching ``--ml-labels`` (:mod:`metallb.k8s.speaker_seeds`).

BGP's driver (our native sessions, FRR for ``METALLB_BGP_TYPE=frr``, an
FRRConfiguration for ``frr-k8s``: :mod:`metallb.k8s.speaker_frrk8s`) is told the
configuration and this node whenever either changes (:meth:`AnnounceProtocol.set_config`).
The ConfigurationState ``speaker-<node>`` says whether this speaker accepted the
configuration (:mod:`metallb.k8s.config_state`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Namespace, Node, Secret, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from metallb import views
from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.inventory import CONFIG_KINDS
from metallb.config.kinds import KINDS
from metallb.config.types import BGPType, Config
from metallb.k8s.config_state import StateOwner, StateReporter
from metallb.k8s.events import EventRecorder
from metallb.k8s.informer import Informer
from metallb.k8s.runner import Result, Runner
from metallb.k8s.source import EventType, LightkubeListWatch
from metallb.k8s.speaker_bgp import BGP, BGPDriver, NativeBGP
from metallb.k8s.speaker_layer2 import Layer2
from metallb.k8s.speaker_protocol import AnnounceProtocol
from metallb.k8s.speaker_seeds import seed_loop, wait_first_join
from metallb.k8s.speaker_status import COMPONENT, StatusTarget
from metallb.k8s.speaker_support import (
    AnnounceTable,
    Members,
    as_dict,
    endpoints_of,
    slice_service,
)
from metallb.k8s.speaker_world import ElectionWorld
from metallb.record import Source
from metallb.speaker import bgp_decision, layer2_decision

log = logging.getLogger(__name__)

CONFIG_KEY = "\x00config"
SLICE_INDEX = "service"


class Speaker:
    """Announces, from this node, the IPs it wins or advertises (see the module docstring)."""

    def __init__(
        self,
        client: AsyncClient,
        announcer: AnnounceTable,
        *,
        node_name: str,
        namespace: str,
        pod_name: str = "",
        membership: Members | None = None,
        ml_labels: str = "",
        membership_port: int = 7946,
        lb_class: str = "",
        ignore_exclude_lb: bool = False,
        bgp_type: BGPType | str = BGPType.NATIVE,
        bgp_driver: BGPDriver | None = None,
        secret_passthrough: bool = False,
        incremental_election: bool = True,
    ) -> None:
        self.client = client
        self.announcer = announcer
        self.node_name = node_name
        self.namespace = namespace
        self.membership = membership
        self.ml_labels = ml_labels
        self.membership_port = membership_port
        self.bgp_type = bgp_type
        self.secret_passthrough = secret_passthrough  # --frrk8s-secret-passthrough
        self.config: Config | None = None
        self.config_stale = False
        self.ready = asyncio.Event()
        self.updates = 0
        self.update_errors = 0
        self.reelections = 0  # full passes caused by membership or Node changes
        self.recorder = EventRecorder(client, Source(COMPONENT))

        def inf(res: Any, name: str, ns: str | None = None, **kw: Any) -> Informer[Any]:
            return Informer(LightkubeListWatch(client, res, namespace=ns), name=name, **kw)

        self.services = inf(Service, "services")
        self.slices = inf(EndpointSlice, "endpointslices", indexers={SLICE_INDEX: slice_service})
        self.nodes = inf(Node, "nodes")
        self.world = ElectionWorld(
            self.nodes.cache,
            membership,
            incremental=incremental_election,
            ignore_exclude_lb=ignore_exclude_lb,
        )
        self.namespaces = inf(Namespace, "namespaces")
        self.secrets = inf(Secret, "secrets", namespace)
        self.config_informers: dict[tuple[str, str], Informer[Any]] = {
            # Each configuration kind at its newest (storage) version, as the API serves it.
            (f"metallb.io/{v}", kind): inf(
                create_namespaced_resource("metallb.io", v, kind, KINDS[kind].plural),
                KINDS[kind].plural,
                namespace,
            )
            for kind in CONFIG_KINDS
            for v in (KINDS[kind].versions[-1].name,)
        }

        # The protocols, in the order each reconcile runs them (upstream's Protocol).
        target = StatusTarget(
            client, namespace, node_name, pod_name, self._service_dict, self.recorder
        )
        self.layer2 = Layer2(
            announcer, self.world, target, lb_class=lb_class, ignore_exclude_lb=ignore_exclude_lb
        )
        if bgp_driver is None and str(bgp_type) == BGPType.NATIVE.value:
            bgp_driver = NativeBGP()
        if bgp_driver is None:
            log.warning("speaker: METALLB_BGP_TYPE=%s is not implemented: no BGP", bgp_type)
        self.bgp = BGP(
            bgp_driver,
            target,
            my_node=self._my_node,
            lb_class=lb_class,
            ignore_exclude_lb=ignore_exclude_lb,
        )
        self.protocols: tuple[AnnounceProtocol, ...] = (self.layer2, self.bgp)

        self.runner = Runner(self.reconcile, name="speaker", all_keys=self.services.cache.keys)
        self.runner.watch(self.services)
        self._slice_owner: dict[str, str] = {}  # slice key -> Service key (for deletions)
        self.runner.watch(self.slices, self._on_slice)
        self.runner.watch(self.nodes, self._on_node)
        for informer in (self.namespaces, self.secrets, *self.config_informers.values()):
            self.runner.watch(informer, lambda _e, _k: (CONFIG_KEY,))
        self.config_state = StateReporter(
            client,
            StateOwner.speaker(node_name),
            namespace,
            field_manager="metallb-speaker",
            pod_name=pod_name,
        )
        if membership is not None:
            membership.add_listener(lambda _event: self.reelect_all())

    @property
    def announced(self) -> Mapping[str, layer2_decision.Announce]:
        """What this node announces in Layer 2, by Service key."""
        return self.layer2.announced

    @property
    def bgp_announced(self) -> Mapping[str, bgp_decision.Announce]:
        """What this node advertises over BGP, by Service key."""
        return self.bgp.announced

    # -- event mapping ------------------------------------------------------------------
    def _on_node(self, etype: EventType, key: str) -> list[str]:
        self.world.node_changed(etype, key)
        self.reelections += 1
        mine = key.rsplit("/", 1)[-1] == self.node_name
        if mine and self.ready.is_set():
            self._sync_protocols()  # this node's labels select the BGP peers
        # This node's labels also decide its advertisements and BGP: everything again.
        return self._to_reelect(everything=mine)

    def _on_slice(self, etype: EventType, key: str) -> list[str]:
        obj = self.slices.cache.get(key)
        # A deleted slice's labels are gone with it: remember whose it was.
        old = self._slice_owner.pop(key, None)
        new = slice_service(obj) if obj is not None and etype is not EventType.DELETED else []
        if new:
            self._slice_owner[key] = new[0]
        return sorted({*new, *([old] if old else [])})

    def reelect_all(self) -> None:
        """Membership changed: queue the Services to elect again."""
        self.world.members_changed()
        self.reelections += 1
        for key in self._to_reelect():
            self.runner.queue.add(key)

    def _to_reelect(self, *, everything: bool = False) -> list[str]:
        """The Services whose Layer 2 owner may have moved (:meth:`Layer2.reelect`)."""
        # Before the first full pass (run) there is nothing to keep: queue everything,
        # as the plain election would, and spare the elector the initial listing.
        moved = self.layer2.reelect(everything=everything or not self.ready.is_set())
        return self.services.cache.keys() if moved is None else sorted(moved)

    def interfaces_changed(self) -> None:
        """The announcer's scan found other interfaces: retry what could not announce."""
        for key in self.layer2.interfaces_changed():
            self.runner.queue.add(key)

    # -- running ------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled."""
        informers = [
            self.services,
            self.slices,
            self.nodes,
            self.namespaces,
            self.secrets,
            *self.config_informers.values(),
            *(p.status.informer for p in self.protocols),
        ]
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in informers]
        tasks.append(asyncio.create_task(self.recorder.run(), name="events"))
        for protocol in self.protocols:
            protocol.start()
        if self.membership is not None and self.ml_labels:
            seeds = seed_loop(
                self.client, self.namespace, self.ml_labels, self.membership, self.membership_port
            )
            tasks.append(asyncio.create_task(seeds, name="membership-seeds"))
        try:
            await self.runner.wait_synced()
            for protocol in self.protocols:
                await protocol.status.runner.wait_synced()
            for protocol in self.protocols:
                await protocol.status.writer.start()
            self._load_config()
            self._sync_protocols()
            if self.membership is not None and self.ml_labels:
                await wait_first_join(self.membership)
            for key in list(self.services.cache):
                await self.reconcile(key)
            for protocol in self.protocols:
                for key in protocol.status.writer.service_keys():
                    protocol.status.changed(key)
            self.ready.set()
            log.info(
                "speaker %s: caches synced, %d IPs announced",
                self.node_name,
                len(self.layer2.table),
            )
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.runner.run())
                for protocol in self.protocols:
                    tg.create_task(protocol.status.runner.run())
                tg.create_task(self.config_state.run())
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for protocol in self.protocols:
                await protocol.close()

    # -- reconcile (no await: each protocol applies its decision in one step) ------------
    async def reconcile(self, key: str) -> Result:
        self.updates += 1
        if key == CONFIG_KEY:
            result = self._load_config()
            if result is Result.REPROCESS_ALL:
                self._sync_protocols()
            return result
        svc = self._service_dict(key)
        # The views the core reads, built once here for every protocol.
        view = views.Service.from_dict(svc) if svc is not None else None
        endpoints = endpoints_of(self.slices.cache.by_index(SLICE_INDEX, key)) if view else ()
        for protocol in self.protocols:
            if protocol.reconcile(key, view, endpoints, self.config):
                protocol.status.changed(key)
        return Result.OK

    def _sync_protocols(self) -> None:
        """Tell each protocol the configuration and this node (BGP: peers, labels)."""
        for protocol in self.protocols:
            protocol.set_config(self.config, self._my_node())

    def _my_node(self) -> views.Node | None:
        return next((n for n in self.world.nodes() if n.name == self.node_name), None)

    def _load_config(self) -> Result:
        objects: list[dict[str, Any]] = []
        for (api, kind), informer in self.config_informers.items():
            objects += [as_dict(o, api, kind) for o in informer.cache.objects()]
        objects += [as_dict(o, "v1", "Secret") for o in self.secrets.cache.objects()]
        objects += [as_dict(o, "v1", "Namespace") for o in self.namespaces.cache.objects()]
        try:
            config = build_config(
                objects,
                bgp_type=self.bgp_type,
                namespace=self.namespace,
                secret_passthrough=self.secret_passthrough,
            )
        except ConfigError as err:
            # Stale even before any configuration was loaded, as upstream (an alert on
            # metallb_k8s_client_config_stale_bool then fires for a speaker started on a
            # bad configuration); not an update error: upstream does not count those.
            self.config_stale = True
            log.error("speaker: configuration rejected, keeping the previous one:\n%s", err)
            self.config_state.report(str(err))
            return Result.GIVE_UP
        announced = [(k, a.ips) for p in self.protocols for k, a in p.announced.items()]
        orphan = layer2_decision.orphaned(config, announced)
        if orphan is not None:
            # Upstream's SetConfig: a configuration without a pool for an IP this node
            # announces is refused and retried, so the node keeps announcing until the
            # controller has moved the Service to an IP the new pools hold.
            self.config_stale = True
            self.update_errors += 1
            log.error("speaker: new configuration refused, retrying: %s", orphan)
            self.config_state.report(orphan)
            return Result.RETRY
        changed, self.config, self.config_stale = config != self.config, config, False
        self.config_state.report(None)
        if changed:
            log.info("speaker: configuration loaded: %d pools", len(config.pools))
        return Result.REPROCESS_ALL if changed and self.ready.is_set() else Result.OK

    # -- reading the caches ---------------------------------------------------------------
    def _service_dict(self, key: str) -> Mapping[str, Any] | None:
        obj = self.services.cache.get(key)
        return as_dict(obj, "v1", "Service") if obj is not None else None
