"""The speaker's frr-k8s back-end (``METALLB_BGP_TYPE=frr-k8s``): one FRRConfiguration.

The speaker runs no BGP itself: it keeps the object ``metallb-<node>`` in the frr-k8s
namespace equal to :func:`metallb.frr.frrk8s.desired`, and frr-k8s (a
DaemonSet of its own) merges it with the other FRRConfigurations selecting the node
into that node's FRR. As upstream's ``FRRK8sReconciler``
(``internal/k8s/controllers/frrk8s_config_controller.go``):

- changes are coalesced (``debounce`` seconds after the first one, upstream's 3 s);
- the stored object is read first and written (create, or update with its
  resourceVersion) only when its ``spec`` differs from the desired one: an unchanged
  state costs one read and no write;
- the object is watched, so an edit or deletion by someone else is undone;
- verbs are upstream's RBAC: get, list, watch, create, update, delete.

Differences: the object is deleted when no BGPPeer selects the node (upstream keeps an
empty one); nothing is written before the first configuration is known (an empty state
would withdraw the routes a previous speaker run left); on stop the object is left in
place, so that a speaker restart does not withdraw the node's routes.

Session state is frr-k8s's: it publishes ``BGPSessionState`` objects; this driver reports
no ``metallb_bgp_*`` metrics (upstream's frr-k8s mode has frr-k8s export ``frrk8s_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource

from metallb.config.types import Config
from metallb.election import ranking as election
from metallb.frr import frrk8s as frrk8s_render
from metallb.k8s.backoff import JitteredBackoff
from metallb.k8s.informer import Informer
from metallb.k8s.source import LightkubeListWatch
from metallb.k8s.speaker_bgp import PeerMetrics
from metallb.speaker import bgp_decision

log = logging.getLogger(__name__)

FRRConfiguration = create_namespaced_resource(
    frrk8s_render.GROUP,
    frrk8s_render.VERSION,
    frrk8s_render.KIND,
    "frrconfigurations",
)
DEBOUNCE = 3.0  # upstream's FRRK8sReconciler coalesces for 3 s


class FRRK8sBGP:
    """Keeps this node's FRRConfiguration as the speaker's decisions want it."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        node_name: str,
        namespace: str,
        secret_passthrough: bool = False,
        debounce: float = DEBOUNCE,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.namespace = namespace
        self.passthrough = secret_passthrough
        self.debounce = debounce
        self.name = frrk8s_render.config_name(node_name)
        # Counters for logs and tests.
        self.reads = 0
        self.writes = 0  # creates, updates and deletes
        self.errors = 0
        self._config: Config | None = None
        self._node: election.Node | None = None
        self._announced: tuple[bgp_decision.Announce, ...] = ()
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is pending (tests wait on it)
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.informer: Informer[Any] = Informer(
            LightkubeListWatch(
                client,
                FRRConfiguration,
                namespace=namespace,
                field_selector=f"metadata.name={self.name}",
            ),
            name="frrconfigurations",
        )
        # Someone else changed or deleted our object: compare again.
        self.informer.add_handler(lambda _etype, _key: self._kick())

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self.informer.run(), name="frrk8s-informer"),
                asyncio.create_task(self._loop(), name="frrk8s-writer"),
            ]

    def sync(self, config: Config | None, node: election.Node | None) -> None:
        self._config, self._node = config, node
        self._kick()

    def advertise(self, announced: Collection[bgp_decision.Announce]) -> None:
        self._announced = tuple(announced)
        self._kick()

    def peer_metrics(self) -> list[PeerMetrics]:
        return []

    def _kick(self) -> None:
        if self._config is None or self._node is None:
            return
        self._idle.clear()
        self._dirty.set()

    async def settled(self) -> None:
        """Wait until every change so far is written (or found already stored)."""
        await self._idle.wait()

    def desired(self) -> dict[str, Any] | None:
        assert self._config is not None
        assert self._node is not None
        return frrk8s_render.desired(
            self._config,
            self._node,
            self._announced,
            namespace=self.namespace,
            passthrough=self.passthrough,
        )

    async def _loop(self) -> None:
        backoff = JitteredBackoff()
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)
            self._dirty.clear()
            try:
                await self.reconcile()
            except (ApiError, OSError) as err:
                # The apiserver or the network failed (or a conflict with another
                # writer): try again, later each time.
                self.errors += 1
                delay = backoff.next()
                log.warning(
                    "speaker: FRRConfiguration %s: %s; retry in %.1fs", self.name, err, delay
                )
                await asyncio.sleep(delay)
                self._dirty.set()
                continue
            backoff.reset()
            if not self._dirty.is_set():
                self._idle.set()

    async def reconcile(self) -> None:
        """Read the stored object; create, update or delete it as needed."""
        want = self.desired()
        self.reads += 1
        try:
            have: Any = await self.client.get(FRRConfiguration, self.name, namespace=self.namespace)
        except ApiError as err:
            if err.status.code != 404:
                raise
            have = None
        if want is None:
            if have is not None:
                await self.client.delete(FRRConfiguration, self.name, namespace=self.namespace)
                self.writes += 1
                log.info("speaker: FRRConfiguration %s deleted (no BGP peer)", self.name)
            return
        if have is None:
            await self.client.create(FRRConfiguration.from_dict(want))
            self.writes += 1
            log.info("speaker: FRRConfiguration %s/%s created", self.namespace, self.name)
            return
        if have.get("spec") == want["spec"]:
            return
        body = dict(want)
        body["metadata"] = {**want["metadata"], "resourceVersion": have.metadata.resourceVersion}
        await self.client.replace(FRRConfiguration.from_dict(body))
        self.writes += 1
        log.info("speaker: FRRConfiguration %s/%s updated", self.namespace, self.name)

    async def close(self) -> None:
        """Stop watching and writing; the object stays (module docstring)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
