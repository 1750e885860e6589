"""The core's inputs from the dicts the API serves, built as the speaker's adapter builds
them: a Service's view, and the endpoints of its own EndpointSlices among ``slices``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from metallb import views


def core(
    svc: Mapping[str, Any], slices: Iterable[Mapping[str, Any]]
) -> tuple[views.Service, tuple[views.Endpoint, ...]]:
    view = views.Service.from_dict(svc)
    by_service = views.endpoints_by_service(views.EndpointSlice.from_dict(s) for s in slices)
    return view, by_service.get(view.key, ())
