"""ConfigurationState objects: each MetalLB process says whether it accepted the config.

As upstream (internal/k8s/controllers/configuration_state_controller.go): the controller writes
``controller`` (condition ``poolReconcilerValid``), each speaker ``speaker-<node>`` (condition
``configReconcilerValid``, label ``metallb.io/node-name``), both in the MetalLB namespace with label
``metallb.io/component-type``. ``status.result`` is ``Valid`` or ``Invalid``, with the configuration
errors in ``errorSummary``: ``kubectl get configurationstates`` then tells which process runs on a
stale configuration and why, without reading logs.

As upstream, the object is owned by the process's own Pod (:mod:`metallb.k8s.owner`),
so it goes with the Pod. Unlike upstream (pool_controller.go stamps the condition with
the time of every reconcile), a condition's ``lastTransitionTime`` changes only when its
``status`` does, as ``meta.SetStatusCondition`` has it, and nothing is written when the
object already says what it should: the object is read first, created when missing,
its labels and owner added when missing, and its status merge-patched (status is a
subresource) only when it differs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.types import PatchType

from metallb.k8s.owner import own_pod, upsert_owner

log = logging.getLogger(__name__)

ConfigurationState = create_namespaced_resource(
    "metallb.io", "v1beta1", "ConfigurationState", "configurationstates"
)


@dataclass(frozen=True)
class StateOwner:
    """Which process's ConfigurationState: its object name, labels and condition type."""

    name: str
    labels: dict[str, str]
    condition: str

    @classmethod
    def controller(cls) -> StateOwner:
        return cls("controller", {"metallb.io/component-type": "controller"}, "poolReconcilerValid")

    @classmethod
    def speaker(cls, node: str) -> StateOwner:
        labels = {"metallb.io/component-type": "speaker", "metallb.io/node-name": node}
        return cls(f"speaker-{node}", labels, "configReconcilerValid")


def status_body(
    owner: StateOwner,
    error: str | None,
    previous: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``status`` for a valid (``error`` None) or rejected configuration; the
    condition keeps ``previous``'s lastTransitionTime when its status is unchanged."""
    condition = {
        "type": owner.condition,
        "status": "False" if error else "True",
        "reason": "ConfigurationError" if error else "Reconciled",
        # Upstream wraps the error in ErrConfiguration: "configuration error: ...".
        "message": f"configuration error: {error}" if error else "",
        "lastTransitionTime": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now)
        ),
    }
    for old in (previous or {}).get("conditions") or ():
        if old.get("type") == owner.condition and old.get("status") == condition["status"]:
            condition["lastTransitionTime"] = old.get("lastTransitionTime") or ""
    return {
        "result": "Invalid" if error else "Valid",
        "errorSummary": f"configuration error: {error}" if error else "",
        "conditions": [condition],
    }


async def _read_or_create(
    client: AsyncClient, owner: StateOwner, namespace: str, pod: OwnerReference | None
) -> tuple[Any, int]:
    """The object (created when missing) and the writes that took."""
    for _ in range(2):  # a 409 means someone created it meanwhile: read that one
        try:
            return await client.get(ConfigurationState, owner.name, namespace=namespace), 0
        except ApiError as err:
            if err.status.code != 404:
                raise
        meta = ObjectMeta(
            name=owner.name,
            namespace=namespace,
            labels=owner.labels,
            ownerReferences=[pod] if pod is not None else None,
        )
        try:
            return await client.create(ConfigurationState(metadata=meta)), 1
        except ApiError as err:
            if err.status.code != 409:
                raise
    raise RuntimeError(f"ConfigurationState {namespace}/{owner.name} keeps changing")


async def write_state(
    client: AsyncClient,
    owner: StateOwner,
    namespace: str,
    error: str | None,
    *,
    field_manager: str,
    pod: OwnerReference | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Make the object say ``error`` (None: valid), owned by ``pod`` when given; returns
    the API writes made (0: it already said so). Raises :class:`ApiError`."""
    obj, writes = await _read_or_create(client, owner, namespace, pod)
    meta = obj.metadata or ObjectMeta()
    meta_patch: dict[str, Any] = {}
    if any((meta.labels or {}).get(k) != v for k, v in owner.labels.items()):
        meta_patch["labels"] = owner.labels
    refs = upsert_owner(meta.ownerReferences, pod) if pod is not None else None
    if refs is not None:
        meta_patch["ownerReferences"] = refs
    have = dict(obj.status or {})
    want = status_body(owner, error, have, clock())
    patches: list[tuple[Any, dict[str, Any]]] = []
    if meta_patch:
        patches.append((ConfigurationState, {"metadata": meta_patch}))
    if any(have.get(k) != v for k, v in want.items()):
        patches.append((ConfigurationState.Status, {"status": want}))
    for res, body in patches:
        await client.patch(
            res,
            owner.name,
            body,
            namespace=namespace,
            patch_type=PatchType.MERGE,
            field_manager=field_manager,
        )
    return writes + len(patches)


class StateReporter:
    """Writes a process's ConfigurationState from synchronous code: :meth:`report` only
    records the newest verdict; :meth:`run` writes it, coalescing bursts, and retries
    after ``retry`` seconds when the apiserver refuses. ``writes`` counts API writes."""

    def __init__(
        self,
        client: AsyncClient,
        owner: StateOwner,
        namespace: str,
        *,
        field_manager: str,
        pod_name: str = "",
        retry: float = 5.0,
    ) -> None:
        self.client, self.owner, self.namespace = client, owner, namespace
        self.field_manager, self.retry = field_manager, retry
        self.pod_name = pod_name
        self._pod: OwnerReference | None = None
        self.writes = 0
        self._wanted: tuple[str | None] | None = None  # None: nothing reported yet
        self._written: tuple[str | None] | None = None
        self._wake = asyncio.Event()

    def report(self, error: str | None) -> None:
        """The configuration was accepted (``error`` None) or rejected with ``error``."""
        self._wanted = (error,)
        if self._wanted != self._written:
            self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            wanted = self._wanted
            if wanted is None or wanted == self._written:
                continue
            try:
                if self._pod is None:
                    self._pod = await own_pod(self.client, self.namespace, self.pod_name)
                writes = await write_state(
                    self.client,
                    self.owner,
                    self.namespace,
                    wanted[0],
                    field_manager=self.field_manager,
                    pod=self._pod,
                )
            except ApiError as err:
                log.warning("ConfigurationState %s not written: %s", self.owner.name, err)
                await asyncio.sleep(self.retry)
                self._wake.set()
                continue
            self._written = wanted
            self.writes += writes
