"""Who may read ``/metrics``: Kubernetes decides, as for upstream's secure metrics.

Upstream serves metrics through controller-runtime's secure server with the
``WithAuthenticationAndAuthorization`` filter: the caller's bearer token is checked with
a TokenReview, then the user it names is checked with a SubjectAccessReview for verb
``get`` on the non-resource path (``/metrics``). The same holds here:

- no ``Authorization: Bearer`` header, or a token the apiserver does not authenticate:
  **401 Unauthorized**;
- an authenticated user without ``get`` on the path (RBAC ``nonResourceURLs``):
  **403 Forbidden**, naming the user;
- the apiserver unreachable: **503**, so a scrape fails loudly rather than leaking.

Verdicts are cached by a hash of the token (never the token itself), as client-go's
delegating authenticator and authorizer do: an authentication for 1 minute, an allow
for 5 minutes, a deny for 30 seconds. A Prometheus scraping every 15 s then costs the
apiserver one review pair per few minutes, not one per scrape.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx2 as httpx
from aiohttp import web
from lightkube import ApiError, AsyncClient
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.models.authorization_v1 import NonResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

log = logging.getLogger(__name__)

AUTHN_TTL = 60.0
ALLOW_TTL = 300.0
DENY_TTL = 30.0
MAX_ENTRIES = 1024  # distinct tokens remembered; the oldest go first


@dataclass(frozen=True)
class Verdict:
    """The answer for one token and path: an HTTP status and, when refused, why."""

    status: int  # 200, 401, 403 or 503
    reason: str = ""
    user: str = ""


@dataclass
class VerdictCache:
    """Verdicts by (token digest, path), each kept for the TTL its kind deserves.

    Pure: the clock is passed in, so the expiry rules are tested without waiting.
    """

    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[Verdict, float]] = field(default_factory=dict)

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str, path: str) -> Verdict | None:
        key = (self.digest(token), path)
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[1] <= self.clock():
            del self._entries[key]
            return None
        return hit[0]

    def put(self, token: str, path: str, verdict: Verdict) -> None:
        """Remember ``verdict``; failures to reach the apiserver (503) are not kept."""
        ttl = {200: ALLOW_TTL, 401: AUTHN_TTL, 403: DENY_TTL}.get(verdict.status)
        if ttl is None:
            return
        if len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]
        self._entries[(self.digest(token), path)] = (verdict, self.clock() + ttl)


Reviewer = Callable[[str, str], Awaitable[Verdict]]


def kube_reviewer(client: AsyncClient) -> Reviewer:
    """A TokenReview, then a SubjectAccessReview, against the cluster's apiserver."""

    async def review(token: str, path: str) -> Verdict:
        try:
            tr = await client.create(TokenReview(spec=TokenReviewSpec(token=token)))
            st = tr.status
            if st is None or not st.authenticated or st.user is None:
                reason = (st.error if st else None) or "token not authenticated"
                return Verdict(401, reason)
            user = st.user
            sar = await client.create(
                SubjectAccessReview(
                    spec=SubjectAccessReviewSpec(
                        user=user.username,
                        uid=user.uid,
                        groups=user.groups,
                        extra=user.extra,
                        nonResourceAttributes=NonResourceAttributes(path=path, verb="get"),
                    )
                )
            )
        except (ApiError, httpx.TransportError) as err:
            log.warning("metrics: cannot review a caller (%s: %s)", type(err).__name__, err)
            return Verdict(503, "the apiserver could not review the caller")
        name = user.username or "?"
        if sar.status is not None and sar.status.allowed:
            return Verdict(200, user=name)
        why = (sar.status.reason if sar.status else None) or "no RBAC rule allows it"
        return Verdict(403, f'user "{name}" may not get path "{path}": {why}', user=name)

    return review


def auth_middleware(review: Reviewer, cache: VerdictCache | None = None) -> web.middleware:  # type: ignore[valid-type]
    """aiohttp middleware refusing every request without a token Kubernetes authorizes
    for its path (see the module docstring)."""
    verdicts = cache if cache is not None else VerdictCache()

    @web.middleware
    async def check(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]):  # type: ignore[no-untyped-def]
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return web.Response(status=401, text="Unauthorized: a bearer token is required\n")
        token = token.strip()
        verdict = verdicts.get(token, request.path)
        if verdict is None:
            verdict = await review(token, request.path)
            verdicts.put(token, request.path, verdict)
        if verdict.status != 200:
            text = {401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}
            body = f"{text.get(verdict.status, 'Refused')}: {verdict.reason}\n"
            return web.Response(status=verdict.status, text=body)
        return await handler(request)

    return check
