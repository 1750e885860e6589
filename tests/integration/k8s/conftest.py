"""Fixtures for the Kubernetes adapter against the real kube-apiserver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from lightkube import AsyncClient, KubeConfig

from metallb.lab.controlplane import ControlPlane


@pytest_asyncio.fixture
async def akube(control_plane: ControlPlane) -> AsyncIterator[AsyncClient]:
    """An admin AsyncClient on this test's event loop."""
    client = AsyncClient(
        config=KubeConfig.from_file(str(control_plane.kubeconfig)),
        field_manager="metallb-py-tests",
    )
    yield client
    await client.close()
