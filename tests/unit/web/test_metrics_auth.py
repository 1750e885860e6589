"""The metrics gate: verdict caching by kind, and the middleware's answers for each
case, with a scripted reviewer (the real TokenReview/SubjectAccessReview path is tested
against the apiserver in tests/integration/controller/test_controller_metrics.py)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from metallb.web.metrics_auth import (
    ALLOW_TTL,
    AUTHN_TTL,
    DENY_TTL,
    MAX_ENTRIES,
    Verdict,
    VerdictCache,
    auth_middleware,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("verdict", "ttl"),
    [(Verdict(200), ALLOW_TTL), (Verdict(401, "no"), AUTHN_TTL), (Verdict(403, "no"), DENY_TTL)],
)
def test_each_verdict_is_kept_for_its_ttl(verdict: Verdict, ttl: float) -> None:
    clock = Clock()
    cache = VerdictCache(clock)
    cache.put("t", "/metrics", verdict)
    clock.now += ttl - 0.001
    assert cache.get("t", "/metrics") == verdict
    clock.now += 0.002
    assert cache.get("t", "/metrics") is None


def test_unreachable_apiserver_is_not_cached_and_paths_and_tokens_are_apart() -> None:
    cache = VerdictCache(Clock())
    cache.put("t", "/metrics", Verdict(503, "down"))
    assert cache.get("t", "/metrics") is None
    cache.put("t", "/metrics", Verdict(200))
    assert cache.get("t", "/other") is None
    assert cache.get("u", "/metrics") is None


def test_the_cache_is_bounded_and_never_holds_the_token() -> None:
    cache = VerdictCache(Clock())
    for i in range(MAX_ENTRIES + 10):
        cache.put(f"secret-token-{i}", "/metrics", Verdict(200))
    assert len(cache._entries) == MAX_ENTRIES
    assert cache.get("secret-token-0", "/metrics") is None  # the oldest went first
    assert not any("secret-token" in key[0] for key in cache._entries)


async def _client(answers: dict[str, Verdict], calls: list[str]) -> TestClient:  # type: ignore[type-arg]
    async def review(token: str, path: str) -> Verdict:
        calls.append(token)
        return answers[token]

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text="metallb_up 1\n")

    app = web.Application(middlewares=[auth_middleware(review)])
    app.router.add_get("/metrics", metrics)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.mark.asyncio
async def test_middleware_answers_and_reviews_each_token_once() -> None:
    calls: list[str] = []
    answers = {
        "good": Verdict(200, user="reader"),
        "unknown": Verdict(401, "token not authenticated"),
        "nobody": Verdict(403, 'user "nobody" may not get path "/metrics": no rule'),
        "down": Verdict(503, "the apiserver could not review the caller"),
    }
    client = await _client(answers, calls)
    try:
        missing = await client.get("/metrics")
        assert missing.status == 401
        basic = await client.get("/metrics", headers={"Authorization": "Basic abc"})
        assert basic.status == 401
        for token, status in (("good", 200), ("unknown", 401), ("nobody", 403), ("down", 503)):
            resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert resp.status == status, token
            body = await resp.text()
            assert ("metallb_up 1" in body) is (status == 200)
            if status != 200:
                assert answers[token].reason in body
        for _ in range(3):
            again = await client.get("/metrics", headers={"Authorization": "Bearer good"})
            assert again.status == 200
        down = await client.get("/metrics", headers={"Authorization": "Bearer down"})
        assert down.status == 503
    finally:
        await client.close()
    # One review per token, except the failed one, asked again.
    assert calls == ["good", "unknown", "nobody", "down", "down"]
