"""Scrape the speakers' Prometheus endpoints for ``metallb status``.

The speakers run on the host network, so each is reached at its Pod's ``hostIP`` (the
``podIP`` when the Pod has none, as in the lab where no kubelet fills it in). Scrapes run
in parallel with a short timeout; a failure is recorded per speaker, never raised, so
one unreachable node does not hide the others. Parsing is pure
(:func:`metallb.plan.status.parse_session_up`).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from metallb.plan.status import SpeakerScrape, parse_session_up

MAX_WORKERS = 16
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _url(pod: Mapping[str, Any], port: int) -> str | None:
    st = pod.get("status") or {}
    host = st.get("hostIP") or st.get("podIP")
    if not host:
        return None
    host = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{host}:{port}/metrics"


def _one(pod: Mapping[str, Any], port: int, timeout: float) -> SpeakerScrape:
    meta = pod.get("metadata") or {}
    name, node = str(meta.get("name")), str((pod.get("spec") or {}).get("nodeName") or "?")
    url = _url(pod, port)
    if url is None:
        return SpeakerScrape(name, node, "-", error="the Pod has no hostIP or podIP")
    try:
        # Straight to the node: an http_proxy from the environment must not be used.
        with _OPENER.open(url, timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (OSError, ValueError) as err:
        return SpeakerScrape(name, node, url, error=str(err) or type(err).__name__)
    return SpeakerScrape(name, node, url, sessions=parse_session_up(text))


def scrape_speakers(
    pods: Sequence[Mapping[str, Any]], port: int, timeout: float
) -> list[SpeakerScrape]:
    """One result per speaker Pod, in the Pods' order."""
    if not pods:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(pods))) as pool:
        return list(pool.map(lambda p: _one(p, port, timeout), pods))
