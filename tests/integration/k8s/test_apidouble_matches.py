"""The API double's behaviours (tests/unit/k8s/apidouble/behaviours.py) on the real
kube-apiserver: the same checks the double passes in tests/unit/k8s/test_apidouble.py,
so where the double and the apiserver part ways, this fails."""

from __future__ import annotations

import pytest
from lightkube import AsyncClient

from tests.unit.k8s.apidouble.behaviours import CHECKS, Check

pytestmark = pytest.mark.controlplane


@pytest.mark.asyncio
@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_the_apiserver_does_what_the_double_does(
    akube: AsyncClient, namespace: str, metallb_crds: list[str], check: Check
) -> None:
    await check(akube, namespace)
