"""The admission and conversion webhooks over HTTPS (aiohttp).

The apiserver POSTs an ``AdmissionReview`` to one path per kind (upstream's paths, so
upstream's ValidatingWebhookConfiguration works unchanged); the handler asks the API
for the objects the decision needs (uncached, as upstream: a cache could miss an object
created a moment ago and let an overlapping pool through) and answers with the verdict
of :func:`metallb.config.admission.admit`. ``/convert`` answers BGPPeer
``ConversionReview`` requests between v1beta1 and v1beta2.

This module only speaks HTTP; how existing objects are listed is injected, so the same
server runs against the real API and in tests.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from metallb.config.admission import admit, needed_kinds
from metallb.config.crd_bgppeer import v1beta1_to_v1beta2, v1beta2_to_v1beta1
from metallb.config.inventory import CONFIG_KINDS
from metallb.config.kinds import KINDS
from metallb.config.types import BGPType

log = logging.getLogger(__name__)

# Lists the objects of the given kinds that the API holds now (metallb.io kinds in the
# MetalLB namespace, Nodes cluster-wide), as plain dicts.
ListExisting = Callable[[Sequence[str]], Awaitable[list[dict[str, Any]]]]

# Upstream's paths (kubebuilder's ``/validate-<group>-<version>-<kind>``): one for each
# configuration kind at its storage version, as the ValidatingWebhookConfiguration names them.
VALIDATE_PATHS: Mapping[str, str] = {
    f"/validate-metallb-io-{KINDS[kind].versions[-1].name}-{kind.lower()}": kind
    for kind in CONFIG_KINDS
}
CONVERT_PATH = "/convert"


def _review_response(uid: str, allowed: bool, message: str, warnings: Sequence[str]) -> Any:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        # As controller-runtime's Denied: kubectl prints
        # 'admission webhook "<name>" denied the request: <message>'.
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    if warnings:
        response["warnings"] = list(warnings)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def _bad_request(text: str) -> web.Response:
    return web.json_response({"error": text}, status=400)


def admission_handler(
    kind: str, lister: ListExisting, *, namespace: str, bgp_type: BGPType | str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of one kind's validation path."""

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            req = body["request"]
            uid = str(req["uid"])
            operation = str(req["operation"])
        except (ValueError, KeyError, TypeError):
            return _bad_request("expected an admission.k8s.io/v1 AdmissionReview")
        obj = req.get("oldObject") if operation == "DELETE" else req.get("object")
        if obj is not None and not isinstance(obj, dict):
            return _bad_request("object must be a JSON object")
        try:
            existing = await lister(needed_kinds(kind, operation))
        except Exception as err:  # the API is unreachable: refuse, and say why
            log.warning("webhook: listing existing objects for %s failed: %s", kind, err)
            return web.json_response(
                _review_response(uid, False, f"cannot read the current configuration: {err}", ())
            )
        verdict = admit(kind, operation, obj, existing, namespace=namespace, bgp_type=bgp_type)
        log.info(
            "webhook: %s %s %s: allowed=%s %s",
            operation,
            kind,
            (obj or {}).get("metadata", {}).get("name"),
            verdict.allowed,
            verdict.message,
        )
        return web.json_response(
            _review_response(uid, verdict.allowed, verdict.message, verdict.warnings)
        )

    return handle


def convert_objects(objects: Sequence[Any], desired: str) -> list[dict[str, Any]]:
    """Convert BGPPeer dicts to ``desired`` (metallb.io/v1beta1 or v1beta2)."""
    out = []
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("kind") != "BGPPeer":
            raise ValueError(f"cannot convert {obj!r:.60}: only BGPPeer has two versions")
        current = obj.get("apiVersion")
        if current == desired:
            out.append(obj)
        elif desired == "metallb.io/v1beta2" and current == "metallb.io/v1beta1":
            out.append(v1beta1_to_v1beta2(obj))
        elif desired == "metallb.io/v1beta1" and current == "metallb.io/v1beta2":
            out.append(v1beta2_to_v1beta1(obj))
        else:
            raise ValueError(f"cannot convert BGPPeer from {current} to {desired}")
    return out


async def convert_handler(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        req = body["request"]
        uid = str(req["uid"])
        desired = str(req["desiredAPIVersion"])
        objects = req.get("objects") or []
    except (ValueError, KeyError, TypeError):
        return _bad_request("expected an apiextensions.k8s.io/v1 ConversionReview")
    try:
        result: dict[str, Any] = {
            "uid": uid,
            "convertedObjects": convert_objects(objects, desired),
            "result": {"status": "Success"},
        }
    except ValueError as err:
        result = {"uid": uid, "result": {"status": "Failure", "message": str(err)}}
    # Answer in the version asked: the CRD lists v1beta1 first, as upstream's does, and
    # the apiserver then sends (and expects back) apiextensions.k8s.io/v1beta1.
    api_version = str(body.get("apiVersion") or "apiextensions.k8s.io/v1")
    return web.json_response(
        {"apiVersion": api_version, "kind": "ConversionReview", "response": result}
    )


def add_webhook_routes(
    app: web.Application, lister: ListExisting, *, namespace: str, bgp_type: BGPType | str
) -> None:
    """Register every validation path and the conversion path on ``app``."""
    for path, kind in VALIDATE_PATHS.items():
        app.router.add_post(
            path, admission_handler(kind, lister, namespace=namespace, bgp_type=bgp_type)
        )
    app.router.add_post(CONVERT_PATH, convert_handler)
