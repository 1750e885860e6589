"""ConfigurationState objects: each MetalLB process says whether it accepted the config.

metallb.md 2.9: the controller writes ``controller`` (condition ``poolReconcilerValid``),
each speaker ``speaker-<node>`` (condition ``configReconcilerValid``, label
``metallb.io/node-name``), both in the MetalLB namespace with label
``metallb.io/component-type``. ``status.result`` is ``Valid`` or ``Invalid``, with the
configuration errors in ``errorSummary``: ``kubectl get configurationstates`` then tells
which process runs on a stale configuration and why, without reading logs.

The object is created empty and its status merge-patched (status is a subresource).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.types import PatchType

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


def status_body(owner: StateOwner, error: str | None) -> dict[str, object]:
    """The ``status`` for a valid (``error`` None) or rejected configuration."""
    condition = {
        "type": owner.condition,
        "status": "False" if error else "True",
        "reason": "ConfigurationError" if error else "Reconciled",
        # Upstream wraps the error in ErrConfiguration: "configuration error: ...".
        "message": f"configuration error: {error}" if error else "",
        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return {
        "result": "Invalid" if error else "Valid",
        "errorSummary": f"configuration error: {error}" if error else "",
        "conditions": [condition],
    }


async def write_state(
    client: AsyncClient,
    owner: StateOwner,
    namespace: str,
    error: str | None,
    *,
    field_manager: str,
) -> None:
    """Create the object if needed and set its status; raises :class:`ApiError`."""
    try:
        await client.create(
            ConfigurationState(
                metadata=ObjectMeta(name=owner.name, namespace=namespace, labels=owner.labels)
            )
        )
    except ApiError as err:
        if err.status.code != 409:
            raise
    await client.patch(
        ConfigurationState.Status,
        owner.name,
        {"status": status_body(owner, error)},
        namespace=namespace,
        patch_type=PatchType.MERGE,
        field_manager=field_manager,
    )


class StateReporter:
    """Writes a process's ConfigurationState from synchronous code: :meth:`report` only
    records the newest verdict; :meth:`run` writes it, coalescing bursts, and retries
    after ``retry`` seconds when the apiserver refuses."""

    def __init__(
        self,
        client: AsyncClient,
        owner: StateOwner,
        namespace: str,
        *,
        field_manager: str,
        retry: float = 5.0,
    ) -> None:
        self.client, self.owner, self.namespace = client, owner, namespace
        self.field_manager, self.retry = field_manager, retry
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
                await write_state(
                    self.client,
                    self.owner,
                    self.namespace,
                    wanted[0],
                    field_manager=self.field_manager,
                )
            except ApiError as err:
                log.warning("ConfigurationState %s not written: %s", self.owner.name, err)
                await asyncio.sleep(self.retry)
                self._wake.set()
                continue
            self._written = wanted
            self.writes += 1
