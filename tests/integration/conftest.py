"""Fixtures shared by the integration tests that need more than the control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from metallb.lab.controlplane import ControlPlane
from tests.integration.webhook_harness import Webhook, serve_webhook


@pytest_asyncio.fixture
async def webhook(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> AsyncIterator[Webhook]:
    """Our admission webhook, enforced by the real apiserver for ``namespace``."""
    async with serve_webhook(control_plane, namespace, tmp_path) as hook:
        yield hook
