"""until_done: start-up calls retried through connection failures and transient answers,
given up at once on answers retrying cannot mend."""

from __future__ import annotations

import logging
import socket

import httpx2 as httpx
import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.meta_v1 import Status
from lightkube.resources.core_v1 import Secret

from metallb.k8s.backoff import JitteredBackoff
from metallb.k8s.startup import retriable, until_done


def api_error(code: int) -> ApiError:
    return ApiError(status=Status(code=code, message=f"status {code}"))


def fast() -> JitteredBackoff:
    return JitteredBackoff(initial=0.001, cap=0.002, jitter=0)


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("timeout"), True),
        (httpx.ReadError("reset"), True),
        (api_error(429), True),
        (api_error(503), True),
        (api_error(403), False),
        (api_error(404), False),
        (api_error(422), False),
        (ValueError("bug"), False),
    ],
)
def test_what_is_retried(err: Exception, expected: bool) -> None:
    assert retriable(err) is expected


@pytest.mark.asyncio
async def test_connection_failures_are_retried_until_the_call_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[Exception | str] = [httpx.ConnectError("refused"), api_error(503), "ok"]

    async def call() -> str:
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    with caplog.at_level(logging.WARNING):
        assert await until_done("memberlist Secret", call, fast()) == "ok"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert all(w.startswith("memberlist Secret failed (") for w in warnings)
    assert "ConnectError: refused" in warnings[0]


@pytest.mark.asyncio
async def test_a_refusal_retrying_cannot_mend_ends_at_once() -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise api_error(403)

    with pytest.raises(ApiError):
        await until_done("webhook certificate", call, fast())
    assert calls == 1


@pytest.mark.asyncio
async def test_a_real_unreachable_apiserver_is_retried_then_given_up() -> None:
    """A real client against a port nobody listens on: a real httpx.ConnectError each
    time, ``attempts`` bounds the tries."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    config = KubeConfig.from_dict(
        {
            "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    client = AsyncClient(config=config)
    tries = 0

    async def call() -> Secret:
        nonlocal tries
        tries += 1
        return await client.get(Secret, "memberlist", namespace="metallb-system")

    try:
        with pytest.raises(httpx.ConnectError):
            await until_done("memberlist Secret", call, fast(), attempts=3)
    finally:
        await client.close()
    assert tries == 3
