"""Kubernetes Events about a Service, built the same way by the controller and speakers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event


def service_event(
    svc: Mapping[str, Any], *, reason: str, message: str, type_: str, component: str
) -> Event:
    """A core/v1 Event on ``svc`` (a Service as a dict), named like kubectl's recorder."""
    meta = svc.get("metadata") or {}
    now = dt.datetime.now(dt.UTC)
    return Event(
        metadata=ObjectMeta(
            name=f"{meta.get('name')}.{uuid.uuid4().hex[:16]}", namespace=meta.get("namespace")
        ),
        involvedObject=ObjectReference(
            apiVersion="v1",
            kind="Service",
            name=meta.get("name"),
            namespace=meta.get("namespace"),
            uid=meta.get("uid"),
            resourceVersion=meta.get("resourceVersion"),
        ),
        reason=reason,
        message=message,
        type=type_,
        source=EventSource(component=component),
        firstTimestamp=now,
        lastTimestamp=now,
        count=1,
    )
