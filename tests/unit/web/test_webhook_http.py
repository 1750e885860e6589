"""The webhook's HTTP contract, with a fake lister (the decision itself is config's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from metallb.web.webhook import add_webhook_routes, convert_objects

NS = "metallb-system"
EXISTING = [
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "a", "namespace": NS},
        "spec": {"addresses": ["192.0.2.0/28"]},
    },
]


async def _client(asked: list[tuple[str, ...]], fail: bool = False) -> TestClient[Any, Any]:
    async def lister(kinds: Sequence[str]) -> list[dict[str, Any]]:
        asked.append(tuple(kinds))
        if fail:
            raise ConnectionError("apiserver down")
        return [o for o in EXISTING if o["kind"] in kinds]

    app = web.Application()
    add_webhook_routes(app, lister, namespace=NS, bgp_type="native")
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def _review(op: str, obj: dict[str, Any]) -> dict[str, Any]:
    key = "oldObject" if op == "DELETE" else "object"
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u-1", "operation": op, key: obj},
    }


@pytest.mark.asyncio
async def test_overlap_is_denied_with_status_and_uid() -> None:
    """The answer echoes the uid, says allowed false, and carries a 403 with the reason."""
    asked: list[tuple[str, ...]] = []
    client = await _client(asked)
    try:
        pool = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "b", "namespace": NS},
            "spec": {"addresses": ["192.0.2.4/30"]},
        }
        resp = await client.post(
            "/validate-metallb-io-v1beta1-ipaddresspool", json=_review("CREATE", pool)
        )
        body = (await resp.json())["response"]
        assert body["uid"] == "u-1"
        assert body["allowed"] is False
        assert body["status"]["code"] == 403
        assert "overlaps" in body["status"]["message"]
        assert asked == [("IPAddressPool",)]
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_unreachable_api_refuses_rather_than_allows() -> None:
    """failurePolicy is Fail upstream: when we cannot check, we do not let it through."""
    client = await _client([], fail=True)
    try:
        resp = await client.post(
            "/validate-metallb-io-v1beta1-ipaddresspool", json=_review("CREATE", dict(EXISTING[0]))
        )
        body = (await resp.json())["response"]
        assert body["allowed"] is False
        assert "apiserver down" in body["status"]["message"]
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_malformed_review_is_a_bad_request() -> None:
    """Garbage gets HTTP 400, not a crash and not an allow."""
    client = await _client([])
    try:
        resp = await client.post("/validate-metallb-io-v1beta1-ipaddresspool", data=b"{nope")
        assert resp.status == 400
        resp = await client.post("/convert", json={"request": {}})
        assert resp.status == 400
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_conversion_echoes_the_review_version() -> None:
    """The apiserver rejects a ConversionReview answered in another version."""
    client = await _client([])
    try:
        peer = {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "p"},
            "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1"},
        }
        resp = await client.post(
            "/convert",
            json={
                "apiVersion": "apiextensions.k8s.io/v1beta1",
                "kind": "ConversionReview",
                "request": {
                    "uid": "c",
                    "desiredAPIVersion": "metallb.io/v1beta1",
                    "objects": [peer],
                },
            },
        )
        body = await resp.json()
        assert body["apiVersion"] == "apiextensions.k8s.io/v1beta1"
        assert body["response"]["result"]["status"] == "Success"
        assert body["response"]["convertedObjects"][0]["apiVersion"] == "metallb.io/v1beta1"
    finally:
        await client.close()


def test_convert_refuses_other_kinds() -> None:
    """Only BGPPeer has two versions; anything else is a conversion failure."""
    with pytest.raises(ValueError, match="only BGPPeer"):
        convert_objects([{"kind": "IPAddressPool"}], "metallb.io/v1beta1")
