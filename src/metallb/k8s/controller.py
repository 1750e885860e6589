"""The controller process: informers, a few workers on one loop, and the writes the core decides.

Keys are Service keys (``namespace/name``) plus one synthetic key, :data:`CONFIG_KEY`,
for "the pools, communities or namespaces changed". Everything runs on one event loop.
A reconcile runs the allocator (plain, synchronous) to the end before its first
``await``, so the allocator is never used by two reconciles at once, and allocations
happen in queue order; only the writes to the API are awaited. :data:`WORKERS`
reconciles may wait on their writes at the same time (the workqueue never hands one key
to two of them): one write in flight at a time would leave the apiserver idle during
each round trip, and the status writes are what every Service waits for.

Start-up follows upstream's rule that a restart must not move any IP: after every cache
has synced, the configuration is loaded and every Service is converged once in restart
order (Services holding two IPs, then one, then none) before the queue is worked, so a
new Service can never take an address an existing one still holds in its status.

Events are recorded off the worker, as client-go's recorder does: the worker queues them
and one task sends them (:class:`~metallb.k8s.events.EventRecorder`, which also counts
repeats into one object and rate limits them). An Event is best effort and does not gate
the Service's status, so its round trip must not stretch the time every other Service
waits for an IP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import OwnerReference
from lightkube.resources.core_v1 import Namespace, Service
from lightkube.types import PatchType

from metallb import views
from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.types import BGPType, Config
from metallb.controller.service import reconcile_service
from metallb.ipam.allocator import Allocator
from metallb.ipam.from_config import pools_from_config
from metallb.ipam.model import PoolCounters
from metallb.k8s.cache import object_key
from metallb.k8s.config_state import StateOwner, write_state
from metallb.k8s.events import EventRecorder
from metallb.k8s.informer import Informer
from metallb.k8s.owner import own_pod
from metallb.k8s.runner import Result, Runner
from metallb.k8s.source import LightkubeListWatch, strip_managed_fields
from metallb.record import Source

log = logging.getLogger(__name__)

CONFIG_KEY = "\x00config"  # cannot collide with a namespace/name key
FIELD_MANAGER = "metallb-controller"
# Pool status is written at most this often; a burst of allocations makes one write.
POOL_STATUS_PERIOD = 0.5
# Reconciles whose writes may be in flight together (see the module docstring).
WORKERS = 4

IPAddressPool = create_namespaced_resource(
    "metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools"
)
Community = create_namespaced_resource("metallb.io", "v1beta1", "Community", "communities")


def _as_dict(obj: Any, api_version: str, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = obj.to_dict()
    return {"apiVersion": api_version, "kind": kind, **body}


def _held_ips(svc: Any) -> int:
    """How many ingress IPs a cached Service's status holds."""
    lb = svc.status.loadBalancer if svc.status is not None else None
    return sum(1 for i in (lb.ingress or ()) if i.ip) if lb is not None else 0


@dataclass
class Stats:
    """What the metrics adapter publishes (upstream's metallb_k8s_client_* names)."""

    updates: int = 0
    update_errors: int = 0
    config_loaded: bool = False
    config_stale: bool = False
    status_writes: int = 0
    pool_counters: dict[str, PoolCounters] = field(default_factory=dict)


class Controller:
    """Assigns IPs to LoadBalancer Services from the configured pools."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        lb_class: str = "",
        bgp_type: BGPType | str = BGPType.NATIVE,
        pod_name: str = "",
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.pod_name = pod_name
        self._pod: OwnerReference | None = None  # owner of the ConfigurationState
        self.lb_class = lb_class
        self.bgp_type = bgp_type
        self.allocator = Allocator()
        self.config: Config | None = None
        self.stats = Stats()
        self.ready = asyncio.Event()  # set once the start-up pass is done
        self.services: Informer[Any] = Informer(
            LightkubeListWatch(client, Service, transform=strip_managed_fields), name="services"
        )
        self.namespaces: Informer[Any] = Informer(
            LightkubeListWatch(client, Namespace, transform=strip_managed_fields), name="namespaces"
        )
        self.pools: Informer[Any] = Informer(
            LightkubeListWatch(client, IPAddressPool, namespace=namespace), name="pools"
        )
        self.communities: Informer[Any] = Informer(
            LightkubeListWatch(client, Community, namespace=namespace), name="communities"
        )
        self.runner = Runner(
            self.reconcile, name="controller", workers=WORKERS, all_keys=self._restart_order
        )
        self.runner.watch(self.services)
        for inf in (self.namespaces, self.pools, self.communities):
            self.runner.watch(inf, lambda _e, _k: (CONFIG_KEY,))
        self._written_pools: dict[str, PoolCounters] = {}
        self._pools_dirty = asyncio.Event()
        # Continues the counts of Events from before a restart (see metallb.k8s.events).
        self.recorder = EventRecorder(client, Source(FIELD_MANAGER), adopt=True)
        # What the last successful load used, to tell a real change from a no-op event
        # (our own pool status writes come back as MODIFIED pools).
        self._loaded_namespaces: dict[str, dict[str, str]] | None = None
        self._state_written: str | None = None  # the error text last written ("" = valid)

    # -- running ----------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled."""
        informers = (self.services, self.namespaces, self.pools, self.communities)
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in informers]
        tasks.append(asyncio.create_task(self._pool_status_loop(), name="pool-status"))
        tasks.append(asyncio.create_task(self.recorder.run(), name="events"))
        try:
            await self.runner.wait_synced()
            await self._startup()
            await self.runner.run()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _startup(self) -> None:
        started = time.monotonic()
        self._pod = await own_pod(self.client, self.namespace, self.pod_name)
        await self._load_config()
        order = self._restart_order()
        for key in order:
            await self.reconcile(key)
        log.info(
            "controller: start-up pass over %d Services took %.2f s",
            len(order),
            time.monotonic() - started,
        )
        self.ready.set()

    def _restart_order(self) -> list[str]:
        """Every Service key: those holding two IPs, then one, then none (cache order).

        The same order as ``processing_order`` over full requests, read straight from the
        cached objects: this runs on every reprocess-all, and building a request (via a
        dict) for each of 10k Services only to count their status IPs is wasted work.
        """
        objs = sorted(self.services.cache.objects(), key=lambda s: -_held_ips(s))  # stable
        return [object_key(s) for s in objs]

    # -- reconcile --------------------------------------------------------------------
    async def reconcile(self, key: str) -> Result:
        self.stats.updates += 1
        try:
            if key == CONFIG_KEY:
                return await self._load_config()
            return await self._reconcile_service(key)
        except ApiError as err:
            self.stats.update_errors += 1
            log.warning(
                "controller: %s: API error %s: %s", key, err.status.code, err.status.message
            )
            return Result.RETRY

    async def _reconcile_service(self, key: str) -> Result:
        if self.config is None:
            return Result.OK  # nothing to allocate from; the config load reprocesses all
        obj = self.services.cache.get(key)
        svc = _as_dict(obj, "v1", "Service") if obj is not None else None
        ns_labels = self._namespace_labels(key.split("/", 1)[0])
        view = views.Service.from_dict(svc) if svc is not None else None
        decision = reconcile_service(
            self.allocator, key, view, namespace_labels=ns_labels, lb_class=self.lb_class
        )
        if decision.status_patch is not None and svc is not None:
            ns, name = key.split("/", 1)
            try:
                await self.client.patch(
                    Service.Status,
                    name,
                    decision.status_patch,
                    namespace=ns,
                    patch_type=PatchType.MERGE,
                    field_manager=FIELD_MANAGER,
                )
                self.stats.status_writes += 1
            except ApiError as err:
                if err.status.code == 404:  # deleted meanwhile; its delete event follows
                    return Result.OK
                raise
        if svc is not None:
            for ev in decision.events:
                self.recorder.record(svc, ev.type, ev.reason, ev.message)
        self._pools_dirty.set()
        return Result.REPROCESS_ALL if decision.reprocess_all else Result.OK

    def _namespace_labels(self, ns: str) -> dict[str, str]:
        obj = self.namespaces.cache.get(ns)
        if obj is None or obj.metadata is None:
            return {"kubernetes.io/metadata.name": ns}
        return dict(obj.metadata.labels or {})

    async def _load_config(self) -> Result:
        objects: list[dict[str, Any]] = [
            _as_dict(o, "metallb.io/v1beta1", "IPAddressPool") for o in self.pools.cache.objects()
        ]
        objects += [
            _as_dict(o, "metallb.io/v1beta1", "Community") for o in self.communities.cache.objects()
        ]
        objects += [_as_dict(o, "v1", "Namespace") for o in self.namespaces.cache.objects()]
        try:
            config = build_config(objects, bgp_type=self.bgp_type, namespace=self.namespace)
        except ConfigError as err:
            # Keep allocating with the last good configuration, as upstream; say so.
            self.stats.config_stale = True  # also before any good one, as upstream
            log.error("controller: configuration rejected, keeping the previous one:\n%s", err)
            await self._configuration_state(str(err))
            return Result.GIVE_UP
        namespaces = {
            o.metadata.name: dict(o.metadata.labels or {})
            for o in self.namespaces.cache.objects()
            if o.metadata
        }
        changed = config != self.config
        if not changed and namespaces == self._loaded_namespaces and self._state_written == "":
            # Nothing the allocator uses changed: typically our own pool status write
            # came back as a MODIFIED pool. Reloading would rescan every allocation and
            # write the ConfigurationState again, twice a second during a burst.
            return Result.OK
        self.allocator.set_pools(pools_from_config(config), namespaces)
        self._loaded_namespaces = namespaces
        self._written_pools.clear()  # a re-created pool has no status yet
        self.config = config
        self.stats.config_loaded, self.stats.config_stale = True, False
        await self._configuration_state(None)
        self._pools_dirty.set()
        log.info("controller: configuration loaded: %d pools", len(config.pools))
        return Result.REPROCESS_ALL if changed and self.ready.is_set() else Result.OK

    # -- writes -----------------------------------------------------------------------
    async def _pool_status_loop(self) -> None:
        while True:
            await self._pools_dirty.wait()
            self._pools_dirty.clear()
            await self.write_pool_status()
            await asyncio.sleep(POOL_STATUS_PERIOD)

    async def write_pool_status(self) -> None:
        """Write each pool's counters when they differ from what was last written."""
        counters = self.allocator.all_counters()
        self.stats.pool_counters = dict(counters)
        for name, c in counters.items():
            if self._written_pools.get(name) == c:
                continue
            status = {
                "assignedIPv4": c.assigned_ipv4,
                "assignedIPv6": c.assigned_ipv6,
                "availableIPv4": c.available_ipv4,
                "availableIPv6": c.available_ipv6,
            }
            cached = self.pools.cache.get(f"{self.namespace}/{name}")
            have = dict(cached.status or {}) if cached is not None else {}
            if all(have.get(k) == v for k, v in status.items()):
                self._written_pools[name] = c  # it already says so (after a restart)
                continue
            try:
                await self.client.patch(
                    IPAddressPool.Status,
                    name,
                    {"status": status},
                    namespace=self.namespace,
                    patch_type=PatchType.MERGE,
                    field_manager=FIELD_MANAGER,
                )
                self._written_pools[name] = c
            except ApiError as err:
                log.warning("controller: pool %s status not written: %s", name, err.status.message)

    async def _configuration_state(self, error: str | None) -> None:
        """ConfigurationState ``controller``: Valid, or Invalid with the error summary."""
        try:
            await write_state(
                self.client,
                StateOwner.controller(),
                self.namespace,
                error,
                field_manager=FIELD_MANAGER,
                pod=self._pod,
            )
        except ApiError as err:
            self._state_written = None
            log.warning("controller: ConfigurationState not written: %s", err.status.message)
            return
        self._state_written = error or ""
