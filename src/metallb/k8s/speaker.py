"""The speaker process's Kubernetes side, Layer 2: informers, election, announce table.

Informers follow upstream's reconcilers (internal/k8s/controllers/service_controller.go,
node_controller.go, config_controller.go): Services, EndpointSlices (indexed by
``kubernetes.io/service-name``), Nodes and Namespaces cluster-wide; the configuration kinds and
Secrets in the MetalLB namespace; this namespace's ServiceL2Status objects. Keys are Service keys
plus :data:`CONFIG_KEY`.

One worker runs :meth:`Speaker.reconcile`, which never awaits: it runs the pure
decision (:func:`metallb.speaker.layer2.decide`) and applies it to the announcer's
table at once, so a membership change turns into gratuitous ARP without waiting for
the apiserver. ServiceL2Status objects and Events follow on a queue of their own
(:mod:`metallb.k8s.speaker_status`).

What makes everyone re-elect every Service (upstream's "reprocess all"): a new
configuration and an event on this node's Node. A membership event or another Node's
event re-decides only the Services whose owner it moved (the incremental election of
:mod:`metallb.k8s.speaker_world`; ``incremental_election=False`` re-decides them all, the
same outcome, slower at scale: bench/scale.py). Membership (``membership``
given) supplies the live members; without it every Node counts (upstream's fallback,
section 7: Ready is not consulted). Join targets are the pod IPs of the speaker pods
matching ``--ml-labels`` (:mod:`metallb.k8s.speaker_seeds`).

IPs shared by several Services (``allow-shared-ip``) are announced while any of them
needs it, on the union of their interfaces.

BGP: the same reconcile also runs :func:`metallb.speaker.bgp.decide` for the Service and
keeps the result per Service. A driver (:mod:`metallb.k8s.speaker_bgp`: our native
sessions, FRR for ``METALLB_BGP_TYPE=frr``, an FRRConfiguration for ``frr-k8s``:
:mod:`metallb.k8s.speaker_frrk8s`) is told the configuration and this node
whenever either changes, and, after each batch of reconciles (one ``call_soon`` after the
first change), everything this node advertises. ServiceBGPStatus objects (one per
Service this node advertises to some peer) follow on a queue of their own, like
ServiceL2Status. The ConfigurationState ``speaker-<node>`` says whether this speaker
accepted the configuration (:mod:`metallb.k8s.config_state`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from ipaddress import ip_address
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
from metallb.election import layer2 as election
from metallb.k8s.config_state import StateOwner, StateReporter
from metallb.k8s.events import EventRecorder
from metallb.k8s.informer import Informer
from metallb.k8s.runner import Result, Runner
from metallb.k8s.source import EventType, LightkubeListWatch
from metallb.k8s.speaker_bgp import BGPAdvertiser, BGPDriver, NativeBGP
from metallb.k8s.speaker_seeds import seed_loop, wait_first_join
from metallb.k8s.speaker_status import (
    COMPONENT,
    ServiceBGPStatus,
    ServiceL2Status,
    StatusWriter,
    desired_bgp_status,
    status_service_key,
)
from metallb.k8s.speaker_support import (
    AnnounceTable,
    Members,
    OwnedIPs,
    as_dict,
    endpoints_of,
    slice_service,
)
from metallb.k8s.speaker_world import ElectionWorld
from metallb.k8s.workqueue import WorkQueue
from metallb.record import Source
from metallb.speaker import bgp, layer2
from metallb.speaker.layer2 import Announce

log = logging.getLogger(__name__)

CONFIG_KEY = "\x00config"
SLICE_INDEX = "service"
RECREATE_DELAY = 5.0  # seconds before writing again a status object another node deleted


class Speaker:
    """Announces, from this node, the Layer 2 IPs it wins (see the module docstring)."""

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
        self.lb_class = lb_class
        self.ignore_exclude_lb = ignore_exclude_lb
        self.bgp_type = bgp_type
        self.secret_passthrough = secret_passthrough  # --frrk8s-secret-passthrough
        self.config: Config | None = None
        self.config_stale = False
        self.ready = asyncio.Event()
        self.updates = 0
        self.update_errors = 0
        self.reelections = 0  # full passes caused by membership or Node changes
        # What this node announces, by Service key; and the table given to the announcer.
        self.announced: dict[str, Announce] = {}
        self._table = OwnedIPs(announcer)
        # Services announced before a membership or Node change: confirmed with a burst
        # when their re-election keeps them here (see Announcer.reannounce).
        self._reannounce: set[str] = set()
        self._announce_failed: set[str] = set()  # their interfaces are not on this node
        self.recorder = EventRecorder(client, Source(COMPONENT))
        # BGP: decisions that advertise, by Service key; the driver that speaks BGP.
        if bgp_driver is None and str(bgp_type) == BGPType.NATIVE.value:
            bgp_driver = NativeBGP()
        if bgp_driver is None:
            log.warning("speaker: METALLB_BGP_TYPE=%s is not implemented: no BGP", bgp_type)
        self.bgp = BGPAdvertiser(bgp_driver) if bgp_driver is not None else None

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
        self.statuses = inf(ServiceL2Status, "servicel2statuses", namespace)
        self.bgp_statuses = inf(ServiceBGPStatus, "servicebgpstatuses", namespace)

        self.runner = Runner(self.reconcile, name="speaker", all_keys=self.services.cache.keys)
        self.runner.watch(self.services)
        self._slice_owner: dict[str, str] = {}  # slice key -> Service key (for deletions)
        self.runner.watch(self.slices, self._on_slice)
        self.runner.watch(self.nodes, self._on_node)
        for informer in (self.namespaces, self.secrets, *self.config_informers.values()):
            self.runner.watch(informer, lambda _e, _k: (CONFIG_KEY,))
        status_queue: WorkQueue[str] = WorkQueue(name="speaker-status")
        self.writer = StatusWriter(
            client,
            namespace=namespace,
            node=node_name,
            pod_name=pod_name,
            statuses=self.statuses,
            desired=self.announced.get,
            service=self._service_dict,
            requeue=status_queue.add_after,
            recorder=self.recorder,
        )
        self.status_runner = Runner(
            self.writer.reconcile, name="speaker-status", queue=status_queue
        )
        self.status_runner.watch(self.statuses, self._on_status)
        bgp_queue: WorkQueue[str] = WorkQueue(name="speaker-bgp-status")
        self.bgp_writer = StatusWriter(
            client,
            namespace=namespace,
            node=node_name,
            pod_name=pod_name,
            statuses=self.bgp_statuses,
            desired=self._bgp_desired,
            service=self._service_dict,
            requeue=bgp_queue.add_after,
            recorder=self.recorder,
            kind=ServiceBGPStatus,
            generate_name="bgp-",
            render=desired_bgp_status,
            protocol="bgp",
            exclusive=False,
            clear=(),
        )
        self.bgp_status_runner = Runner(
            self.bgp_writer.reconcile, name="speaker-bgp-status", queue=bgp_queue
        )
        self.bgp_status_runner.watch(self.bgp_statuses, self._on_bgp_status)
        self.config_state = StateReporter(
            client,
            StateOwner.speaker(node_name),
            namespace,
            field_manager="metallb-speaker",
            pod_name=pod_name,
        )
        if membership is not None:
            membership.add_listener(lambda _event: self.reelect_all())

    # -- event mapping ------------------------------------------------------------------
    def _on_node(self, etype: EventType, key: str) -> list[str]:
        self.world.node_changed(etype, key)
        self.reelections += 1
        mine = key.rsplit("/", 1)[-1] == self.node_name
        if mine and self.ready.is_set():
            self._sync_sessions()  # this node's labels select the peers
        # This node's labels also decide its advertisements and BGP: everything again.
        return self._to_reelect(everything=mine)

    def _on_bgp_status(self, etype: EventType, key: str) -> list[str]:
        if etype is EventType.DELETED:
            svc = self.bgp_writer.forget(key.split("/", 1)[-1])
            return [svc] if svc else []  # ours, deleted by someone: write it again
        obj = self.bgp_statuses.cache.get(key)
        svc = status_service_key(obj) if obj is not None else None
        return [svc] if svc else []

    def _on_slice(self, etype: EventType, key: str) -> list[str]:
        obj = self.slices.cache.get(key)
        # A deleted slice's labels are gone with it: remember whose it was.
        old = self._slice_owner.pop(key, None)
        new = slice_service(obj) if obj is not None and etype is not EventType.DELETED else []
        if new:
            self._slice_owner[key] = new[0]
        return sorted({*new, *([old] if old else [])})

    def _on_status(self, etype: EventType, key: str) -> list[str]:
        if etype is EventType.DELETED:
            svc = self.writer.forget(key.split("/", 1)[-1])
            if svc:
                # Ours, deleted by the other winner of a partition (each deletes the
                # other's): write it again later, not at once, or the two would fight
                # as fast as the apiserver answers until the partition heals.
                self.status_runner.queue.add_after(svc, RECREATE_DELAY)
                return []
            return self.writer.service_keys()  # other objects' labels are gone with them
        obj = self.statuses.cache.get(key)
        svc = status_service_key(obj) if obj is not None else None
        return [svc] if svc else []

    def reelect_all(self) -> None:
        """Membership changed: queue the Services to elect again."""
        self.world.members_changed()
        self.reelections += 1
        for key in self._to_reelect():
            self.runner.queue.add(key)

    def _to_reelect(self, *, everything: bool = False) -> list[str]:
        """The Services whose owner may have moved; the winners that stay winners say so
        again (a burst, see Announcer.reannounce), at once if they are not re-decided."""
        # Before the first full pass (run) there is nothing to keep: queue everything,
        # as the plain election would, and spare the elector the initial listing.
        moved = None if everything or not self.ready.is_set() else self.world.moved()
        if moved is None:
            self._reannounce.update(self.announced)
            return self.services.cache.keys()
        for key, ann in self.announced.items():
            if key in moved:
                self._reannounce.add(key)
            else:
                for ip in ann.ips:
                    self.announcer.reannounce(ip_address(ip))
        return sorted(moved)

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
            self.statuses,
            self.bgp_statuses,
        ]
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in informers]
        tasks.append(asyncio.create_task(self.recorder.run(), name="events"))
        if self.bgp is not None:
            self.bgp.driver.start()
        if self.membership is not None and self.ml_labels:
            seeds = seed_loop(
                self.client, self.namespace, self.ml_labels, self.membership, self.membership_port
            )
            tasks.append(asyncio.create_task(seeds, name="membership-seeds"))
        try:
            await self.runner.wait_synced()
            await self.status_runner.wait_synced()
            await self.bgp_status_runner.wait_synced()
            await self.writer.start()
            await self.bgp_writer.start()
            self._load_config()
            self._sync_sessions()
            if self.membership is not None and self.ml_labels:
                await wait_first_join(self.membership)
            for key in list(self.services.cache):
                await self.reconcile(key)
            for key in self.writer.service_keys():
                self.status_runner.queue.add(key)
            for key in self.bgp_writer.service_keys():
                self.bgp_status_runner.queue.add(key)
            self.ready.set()
            log.info(
                "speaker %s: caches synced, %d IPs announced", self.node_name, len(self._table)
            )
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.runner.run())
                tg.create_task(self.status_runner.run())
                tg.create_task(self.bgp_status_runner.run())
                tg.create_task(self.config_state.run())
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.bgp is not None:
                await self.bgp.driver.close()

    # -- reconcile (no await: the announce table changes in one step) --------------------
    async def reconcile(self, key: str) -> Result:
        self.updates += 1
        if key == CONFIG_KEY:
            result = self._load_config()
            if result is Result.REPROCESS_ALL:
                self._sync_sessions()
            return result
        svc = self._service_dict(key)
        # The views the core reads, built once here for Layer 2 and BGP both.
        view = views.Service.from_dict(svc) if svc is not None else None
        endpoints = endpoints_of(self.slices.cache.by_index(SLICE_INDEX, key)) if view else ()
        self._reconcile_bgp(key, view, endpoints)
        decision: layer2.Decision | None = None
        if view is not None and self.config is not None:
            decision = layer2.decide(
                self.config,
                view,
                my_node=self.node_name,
                nodes=self.world.nodes(),
                members=self.world.members(),
                endpoints=endpoints,
                lb_class=self.lb_class,
                ignore_exclude_lb=self.ignore_exclude_lb,
                elector=self.world.elector,
                key=key,
            )
        elif self.world.elector is not None:
            self.world.elector.forget(key)
        new = decision if isinstance(decision, Announce) else None
        if new is not None and svc is not None and not self._interfaces_exist(key, svc, new):
            new = None
        old = self.announced.get(key)
        reannounce = key in self._reannounce
        self._reannounce.discard(key)
        if new == old:
            for ip in new.ips if new is not None and reannounce else ():
                self.announcer.reannounce(ip_address(ip))
            return Result.OK
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
        self._table.apply(self.announced.values(), changed)
        self.status_runner.queue.add(key)
        return Result.OK

    def _interfaces_exist(self, key: str, svc: Mapping[str, Any], ann: Announce) -> bool:
        """Upstream's SetBalancer check: an advertisement naming interfaces this node
        does not have cannot announce here; a Warning Event says so, once."""
        if not ann.interfaces or set(ann.interfaces) & self.announcer.interfaces:
            self._announce_failed.discard(key)
            return True
        if key not in self._announce_failed:
            self._announce_failed.add(key)
            for ip in ann.ips:
                message = (
                    f'the interfaces specified by LB IP "{ip}" doesn\'t exist in assigned node '
                    f'"{self.node_name}" with protocol "layer2"'
                )
                self.recorder.record(svc, "Warning", "announceFailed", message)
        return False

    def interfaces_changed(self) -> None:
        """The announcer's scan found other interfaces: retry what could not announce."""
        for key in self._announce_failed:
            self.runner.queue.add(key)

    # -- BGP ------------------------------------------------------------------------------
    def _reconcile_bgp(
        self, key: str, svc: views.Service | None, endpoints: Sequence[views.Endpoint]
    ) -> None:
        if self.bgp is None:
            return
        me = self._my_node()
        decision: bgp.Decision | None = None
        if svc is not None and self.config is not None and me is not None:
            decision = bgp.decide(
                self.config,
                svc,
                node=me,
                endpoints=endpoints,
                lb_class=self.lb_class,
                ignore_exclude_lb=self.ignore_exclude_lb,
            )
        if self.bgp.update(key, decision):
            self.bgp_status_runner.queue.add(key)

    def _bgp_desired(self, key: str) -> bgp.Announce | None:
        return self.bgp.desired(key) if self.bgp is not None else None

    @property
    def bgp_announced(self) -> Mapping[str, bgp.Announce]:
        """What this node advertises over BGP, by Service key."""
        return self.bgp.announced if self.bgp is not None else {}

    def _sync_sessions(self) -> None:
        """Tell the BGP driver the configuration and this node (peers, labels)."""
        if self.bgp is not None:
            self.bgp.sync(self.config, self._my_node())

    def _my_node(self) -> election.Node | None:
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
        announced = [(k, a.ips) for k, a in self.announced.items()]
        orphan = layer2.orphaned(
            config, announced + [(k, a.ips) for k, a in self.bgp_announced.items()]
        )
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
