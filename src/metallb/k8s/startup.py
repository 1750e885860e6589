"""Start-up calls to the apiserver that must not kill the process on a passing outage.

A controller Pod often starts before its route to the apiserver works (a fresh node's
Pod network, an apiserver restarting after an upgrade). Its first calls (the
memberlist Secret, the webhook certificate) used to raise on the first connection error
and the process died with a traceback; now each is retried with the informers' backoff
(client-go's reflector timing), with one warning line per attempt naming the step, and
only errors that retrying cannot mend (a 403 from missing RBAC, a 422) end the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx2 as httpx
from lightkube import ApiError

from metallb.k8s.backoff import JitteredBackoff

log = logging.getLogger(__name__)

T = TypeVar("T")

# Answers that say "later" rather than "no": throttling and server-side failures.
RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def retriable(err: BaseException) -> bool:
    """True for a connection failure or a transient apiserver answer."""
    if isinstance(err, httpx.TransportError):
        return True
    return isinstance(err, ApiError) and err.status.code in RETRIABLE_STATUS


async def until_done(
    step: str,
    call: Callable[[], Awaitable[T]],
    backoff: JitteredBackoff | None = None,
    attempts: int | None = None,
) -> T:
    """``await call()`` until it succeeds; retriable failures wait ``backoff`` between
    attempts (at most ``attempts`` of them when given), any other failure propagates."""
    backoff = backoff or JitteredBackoff()
    while True:
        try:
            return await call()
        except Exception as err:
            if not retriable(err) or (attempts is not None and backoff.attempts + 1 >= attempts):
                raise
            delay = backoff.next()
            name = type(err).__name__
            log.warning("%s failed (%s: %s); retrying in %.2fs", step, name, err, delay)
            await asyncio.sleep(delay)
