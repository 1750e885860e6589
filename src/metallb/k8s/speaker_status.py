"""The speaker's writes that follow an announcement: ServiceL2Status objects and Events.

They run on a queue of their own, after the announce table has been updated, so a
failover never waits for the apiserver: the gratuitous ARP goes out first, the status
follows. The writer is level-triggered like every reconcile: for one Service key it
compares what this node announces (the ``desired`` callable) with the ServiceL2Status
objects it knows and makes them agree (upstream's
internal/k8s/controllers/layer2_status_controller.go and bgp_status_controller.go):

- the announcing node keeps exactly one object (``generateName: l2-``, labels
  ``metallb.io/node``, ``metallb.io/service-name``, ``metallb.io/service-namespace``,
  owned by the speaker pod when known) whose status names the node, the Service and
  the interfaces (only when restricted), and deletes other nodes' objects for the
  Service (a dead node cannot delete its own);
- a node that does not announce deletes its own objects.

On each start of an announcement (or a change of its IPs) it records the Normal Event
``nodeAssigned`` "announcing from node "<node>" with protocol "layer2"" on the Service,
as upstream does on every confirmation; we send it on changes only, so re-elections
that change nothing do not flood the Service's events. Events go through the speaker's
:class:`~metallb.k8s.events.EventRecorder`, as upstream's go through client-go's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.types import PatchType

from metallb.k8s.events import EventRecorder
from metallb.k8s.informer import Informer
from metallb.k8s.owner import own_pod
from metallb.k8s.runner import Result, Runner
from metallb.k8s.source import EventType, LightkubeListWatch
from metallb.k8s.workqueue import WorkQueue
from metallb.speaker import bgp_decision
from metallb.speaker.layer2_decision import Announce

log = logging.getLogger(__name__)

ServiceL2Status = create_namespaced_resource(
    "metallb.io", "v1beta1", "ServiceL2Status", "servicel2statuses"
)
ServiceBGPStatus = create_namespaced_resource(
    "metallb.io", "v1beta1", "ServiceBGPStatus", "servicebgpstatuses"
)
NODE_LABEL = "metallb.io/node"
SERVICE_NAME_LABEL = "metallb.io/service-name"
SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace"
FIELD_MANAGER = "metallb-speaker"
COMPONENT = "metallb-speaker"  # upstream's ProcessName: the Events' source and reporter
STALE_AGE = 5.0  # seconds another node's object must exist before the winner deletes it


def status_service_key(obj: Any) -> str | None:
    """The ``namespace/name`` of the Service a ServiceL2Status is about (from its labels)."""
    labels = (obj.metadata.labels or {}) if obj.metadata else {}
    ns, name = labels.get(SERVICE_NAMESPACE_LABEL), labels.get(SERVICE_NAME_LABEL)
    return f"{ns}/{name}" if ns and name else None


def desired_status(node: str, key: str, ann: Announce) -> dict[str, Any]:
    ns, name = key.split("/", 1)
    status: dict[str, Any] = {"node": node, "serviceName": name, "serviceNamespace": ns}
    if ann.interfaces:
        status["interfaces"] = [{"name": i} for i in ann.interfaces]
    return status


def desired_bgp_status(node: str, key: str, ann: bgp_decision.Announce) -> dict[str, Any]:
    """The status of this node's ServiceBGPStatus for one BGP advertisement."""
    ns, name = key.split("/", 1)
    return {"node": node, "serviceName": name, "serviceNamespace": ns, "peers": list(ann.peers)}


class StatusWriter:
    """Keeps this node's ServiceL2Status objects and nodeAssigned Events in step.

    The defaults are Layer 2's; for BGP pass ``kind=ServiceBGPStatus``,
    ``generate_name="bgp-"``, ``render=desired_bgp_status``, ``protocol="bgp"``,
    ``exclusive=False`` (every advertising node keeps its own object; none deletes
    another's) and ``clear=()``.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        node: str,
        pod_name: str,
        statuses: Informer[Any],
        desired: Callable[[str], Any | None],
        service: Callable[[str], Mapping[str, Any] | None],
        requeue: Callable[[str, float], None],
        recorder: EventRecorder,
        clock: Callable[[], float] = time.monotonic,
        kind: Any = ServiceL2Status,
        generate_name: str = "l2-",
        render: Callable[[str, str, Any], dict[str, Any]] = desired_status,
        protocol: str = "layer2",
        exclusive: bool = True,
        clear: tuple[str, ...] = ("interfaces",),
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.node = node
        self.pod_name = pod_name
        self.statuses = statuses
        self.desired = desired
        self.service = service
        self.requeue = requeue
        self.recorder = recorder
        self.clock = clock
        self.kind = kind
        self.generate_name = generate_name
        self.render = render
        self.protocol = protocol
        self.exclusive = exclusive
        self.clear = clear
        self._seen: dict[str, float] = {}  # other nodes' objects: when first seen
        self._owner: list[OwnerReference] | None = None
        # Objects this node created, by Service key: the informer may not show a
        # generateName'd object yet when the key comes round again.
        self._mine: dict[str, tuple[str, dict[str, Any]]] = {}
        self._announced: dict[str, tuple[str, ...]] = {}  # what the last Event said
        self.writes = 0

    async def start(self) -> None:
        """Adopt this node's existing objects (after a restart) and find the owner pod."""
        for obj in self.statuses.cache.objects():
            key = status_service_key(obj)
            if key and (obj.metadata.labels or {}).get(NODE_LABEL) == self.node:
                self._mine.setdefault(key, (obj.metadata.name, dict(obj.status or {})))
        pod = await own_pod(self.client, self.namespace, self.pod_name)
        self._owner = [pod] if pod is not None else None

    def forget(self, name: str) -> str | None:
        """The object ``name`` is gone: forget it; return its Service key if it was ours."""
        self._seen.pop(name, None)
        for key, (mine, _) in list(self._mine.items()):
            if mine == name:
                del self._mine[key]
                return key
        return None

    def service_keys(self) -> list[str]:
        """Every Service key the writer may have to act on (for a full pass)."""
        keys = set(self._mine)
        for obj in self.statuses.cache.objects():
            key = status_service_key(obj)
            if key:
                keys.add(key)
        return sorted(keys)

    async def reconcile(self, key: str) -> Result:
        try:
            await self._statuses(key)
            self._event(key)
        except ApiError as err:
            log.warning("speaker: %s: status write failed: %s", key, err.status.message)
            return Result.RETRY
        return Result.OK

    async def _statuses(self, key: str) -> None:
        ann = self.desired(key)
        kept = self._mine[key][0] if key in self._mine else None
        stale = []  # other nodes' objects, and duplicates of ours
        now = self.clock()
        for obj in self.statuses.cache.objects():
            name = obj.metadata.name
            if status_service_key(obj) != key or name == kept:
                continue
            if (obj.metadata.labels or {}).get(NODE_LABEL) == self.node:
                stale.append(name)
            elif ann is not None and self.exclusive:
                # Another node's: it may be a dead node's (delete it), or the other
                # winner's during a partition, which deletes ours in turn. Only objects
                # older than STALE_AGE go, so such a fight runs at one round per
                # STALE_AGE instead of as fast as the apiserver answers.
                age = now - self._seen.setdefault(name, now)
                if age >= STALE_AGE:
                    stale.append(name)
                else:
                    self.requeue(key, STALE_AGE - age + 0.1)
        if ann is None and key in self._mine:
            stale.append(self._mine.pop(key)[0])
        for name in stale:
            await self._delete(name)
            self._seen.pop(name, None)
        if ann is None:
            return
        want = self.render(self.node, key, ann)
        if key in self._mine:
            name, have = self._mine[key]
            if have == want:
                return
            try:
                await self._patch(name, want)
                self._mine[key] = (name, want)
                return
            except ApiError as err:
                if err.status.code != 404:
                    raise
                del self._mine[key]
        await self._create(key, want)

    async def _create(self, key: str, status: dict[str, Any]) -> None:
        ns, name = key.split("/", 1)
        obj = await self.client.create(
            self.kind(
                metadata=ObjectMeta(
                    generateName=self.generate_name,
                    namespace=self.namespace,
                    labels={
                        NODE_LABEL: self.node,
                        SERVICE_NAME_LABEL: name,
                        SERVICE_NAMESPACE_LABEL: ns,
                    },
                    ownerReferences=self._owner,
                ),
                spec={},
            )
        )
        assert obj.metadata is not None
        assert obj.metadata.name
        self._mine[key] = (obj.metadata.name, {})
        await self._patch(obj.metadata.name, status)
        self._mine[key] = (obj.metadata.name, status)

    async def _patch(self, name: str, status: dict[str, Any]) -> None:
        # A merge patch would keep a stale interfaces list; send the whole status.
        body = {"status": {**dict.fromkeys(self.clear), **status}}
        await self.client.patch(
            self.kind.Status,
            name,
            body,
            namespace=self.namespace,
            patch_type=PatchType.MERGE,
            field_manager=FIELD_MANAGER,
        )
        self.writes += 1

    async def _delete(self, name: str) -> None:
        try:
            await self.client.delete(self.kind, name, namespace=self.namespace)
            self.writes += 1
        except ApiError as err:
            if err.status.code != 404:  # the other node deleted its own meanwhile
                raise

    def _event(self, key: str) -> None:
        ann = self.desired(key)
        ips = ann.ips if ann is not None else ()
        if self._announced.get(key, ()) == ips:
            return
        self._announced[key] = ips
        svc = self.service(key)
        if ann is None or svc is None:
            return
        self.recorder.record(
            svc,
            "Normal",
            "nodeAssigned",
            f'announcing from node "{self.node}" with protocol "{self.protocol}"',
        )


@dataclass(frozen=True)
class StatusTarget:
    """Where and for whom a protocol's status objects and Events are written: the
    speaker's client, namespace, node and pod, its recorder, and the Services (as the
    API serves them, from the speaker's cache)."""

    client: AsyncClient
    namespace: str
    node: str
    pod_name: str
    service: Callable[[str], Mapping[str, Any] | None]
    recorder: EventRecorder


class StatusObjects:
    """One protocol's status objects (ServiceL2Status or ServiceBGPStatus): their informer,
    the :class:`StatusWriter` that keeps them in step with ``desired``, and its queue.

    ``recreate_delay`` (seconds, Layer 2): an object of ours deleted by someone else is
    written again after that delay rather than at once, because during a partition the
    two winners each delete the other's, and would otherwise fight as fast as the
    apiserver answers until the partition heals. Without it the object is written again
    at once (BGP: every advertising node keeps its own, nobody deletes another's).
    """

    def __init__(
        self,
        target: StatusTarget,
        *,
        name: str,
        kind: Any,
        plural: str,
        desired: Callable[[str], Any | None],
        recreate_delay: float | None = None,
        **writer_options: Any,
    ) -> None:
        self.recreate_delay = recreate_delay
        self.informer: Informer[Any] = Informer(
            LightkubeListWatch(target.client, kind, namespace=target.namespace), name=plural
        )
        queue: WorkQueue[str] = WorkQueue(name=name)
        self.writer = StatusWriter(
            target.client,
            namespace=target.namespace,
            node=target.node,
            pod_name=target.pod_name,
            statuses=self.informer,
            desired=desired,
            service=target.service,
            requeue=queue.add_after,
            recorder=target.recorder,
            kind=kind,
            **writer_options,
        )
        self.runner = Runner(self.writer.reconcile, name=name, queue=queue)
        self.runner.watch(self.informer, self._on_event)

    def changed(self, key: str) -> None:
        """What this node announces for ``key`` changed: its objects follow."""
        self.runner.queue.add(key)

    def _on_event(self, etype: EventType, key: str) -> list[str]:
        if etype is EventType.DELETED:
            svc = self.writer.forget(key.split("/", 1)[-1])
            if svc and self.recreate_delay is not None:
                self.runner.queue.add_after(svc, self.recreate_delay)  # see the class doc
                return []
            if svc:
                return [svc]  # ours, deleted by someone: write it again
            # Another node's object: for an exclusive protocol (Layer 2) its labels are
            # gone with it, so every Service is looked at again.
            return self.writer.service_keys() if self.writer.exclusive else []
        obj = self.informer.cache.get(key)
        svc = status_service_key(obj) if obj is not None else None
        return [svc] if svc else []
