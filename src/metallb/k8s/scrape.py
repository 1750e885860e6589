"""Scrape the speakers' Prometheus endpoints for ``metallb status``.

The speakers run on the host network, so each is reached at its Pod's ``hostIP`` (the
``podIP`` when the Pod has none, as in the lab where no kubelet fills it in). Metrics are
served over HTTPS to bearer tokens Kubernetes authorizes for ``get`` on ``/metrics``
(:mod:`metallb.web.metrics_auth`), so a scrape sends one; each speaker's certificate
is its own, often self-signed, so it is not verified (as upstream's docs have
Prometheus do: ``insecureSkipVerify``). Scrapes run in parallel with a short timeout; a
failure is recorded per speaker, never raised, so one unreachable node does not hide
the others. Parsing is pure (:func:`metallb.plan.status.parse_session_up`).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from metallb.plan.status import SpeakerScrape, parse_session_up

MAX_WORKERS = 16
_UNVERIFIED = ssl.create_default_context()
_UNVERIFIED.check_hostname = False
_UNVERIFIED.verify_mode = ssl.CERT_NONE
# Straight to the node: an http_proxy from the environment must not be used.
_OPENER = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_UNVERIFIED)
)
REFUSED_HINT = "a token allowed to get /metrics is needed: --metrics-token"


def fetch_metrics(url: str, token: str | None, timeout: float) -> str:
    """The text of one metrics endpoint, read with ``token`` as the bearer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with _OPENER.open(request, timeout=timeout) as resp:
        return str(resp.read().decode("utf-8", "replace"))


def _url(pod: Mapping[str, Any], port: int) -> str | None:
    st = pod.get("status") or {}
    host = st.get("hostIP") or st.get("podIP")
    if not host:
        return None
    host = f"[{host}]" if ":" in str(host) else str(host)
    return f"https://{host}:{port}/metrics"


def _one(pod: Mapping[str, Any], port: int, timeout: float, token: str | None) -> SpeakerScrape:
    meta = pod.get("metadata") or {}
    name, node = str(meta.get("name")), str((pod.get("spec") or {}).get("nodeName") or "?")
    url = _url(pod, port)
    if url is None:
        return SpeakerScrape(name, node, "-", error="the Pod has no hostIP or podIP")
    try:
        text = fetch_metrics(url, token, timeout)
    except urllib.error.HTTPError as err:
        hint = f" ({REFUSED_HINT})" if err.code in (401, 403) else ""
        error = f"HTTP {err.code} {err.reason}{hint}"
        return SpeakerScrape(name, node, url, error=error, refused=True)
    except (OSError, ValueError) as err:
        return SpeakerScrape(name, node, url, error=str(err) or type(err).__name__)
    return SpeakerScrape(name, node, url, sessions=parse_session_up(text))


def scrape_speakers(
    pods: Sequence[Mapping[str, Any]], port: int, timeout: float, token: str | None = None
) -> list[SpeakerScrape]:
    """One result per speaker Pod, in the Pods' order."""
    if not pods:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(pods))) as pool:
        return list(pool.map(lambda p: _one(p, port, timeout, token), pods))
