"""Membership join targets for the speaker: the pod IPs of the speaker pods.

As upstream (internal/speakerlist/speakerlist.go): the speaker lists the pods in the MetalLB
namespace matching ``--ml-labels`` and joins their IPs, at start and every :data:`SEED_REFRESH`
seconds, so a speaker that started before the others, or after a partition, finds them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Pod

from metallb.membership import Address

log = logging.getLogger(__name__)

SEED_REFRESH = 60.0  # seconds; upstream re-joins every minute (and relists pods every 5)
JOIN_WAIT = 10.0  # seconds the first election waits for the first join round


class Joiner(Protocol):
    """What joining needs of :class:`metallb.net.membership.MembershipNode`: contact
    these ``(host, port)`` seeds, and wait until they have heard of us."""

    def join(self, seeds: Iterable[Address]) -> None: ...
    async def wait_joined(self, limit: float) -> bool: ...


async def wait_first_join(membership: Joiner) -> None:
    """Before the first election, let the other speakers hear of us: a new speaker that
    wins an IP must not answer for it while the owner, not yet told, still does
    (:meth:`metallb.net.membership.MembershipNode.wait_joined`). Upstream elects at once."""
    if not await membership.wait_joined(JOIN_WAIT):
        log.warning("speaker: no member answered within %.0f s; electing anyway", JOIN_WAIT)


def label_terms(selector: str) -> dict[str, Any]:
    """``a=b,c=d`` as lightkube's ``labels=`` argument (equality terms only)."""
    out: dict[str, Any] = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        name, _, value = term.partition("=")
        out[name.strip()] = value.strip().lstrip("=") or None
    return out


async def speaker_pod_ips(client: AsyncClient, namespace: str, selector: str) -> list[str]:
    ips = []
    async for pod in client.list(Pod, namespace=namespace, labels=label_terms(selector)):
        status = pod.status
        if status is not None and status.podIP:
            ips.append(status.podIP)
    return sorted(set(ips))


async def seed_loop(
    client: AsyncClient, namespace: str, selector: str, membership: Joiner, port: int
) -> None:
    """Join the speaker pods' IPs now and every :data:`SEED_REFRESH` seconds, forever."""
    while True:
        try:
            pods = await speaker_pod_ips(client, namespace, selector)
            if pods:
                membership.join([(ip, port) for ip in pods])
        except ApiError as err:
            log.warning("speaker: cannot list speaker pods: %s", err.status.message)
        await asyncio.sleep(SEED_REFRESH)
