"""Read the cluster objects MetalLB's decisions depend on, as plain dicts.

Used by the operator tools (``metallb explain``, ``status``, ``doctor``), which feed the
same pure core as ``metallb plan``: Services, Namespaces, Nodes, EndpointSlices, the
metallb.io objects of the MetalLB namespace (configuration and statuses), Events, and
the speaker Pods and DaemonSet (who runs where).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import ApiError, Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apps_v1 import DaemonSet
from lightkube.resources.core_v1 import Event, Namespace, Node, Pod, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from metallb.config.inventory import CONFIG_KINDS
from metallb.config.kinds import KINDS

RETRY_429_FOR = 30.0
STATUS_KINDS = ("ServiceL2Status", "ServiceBGPStatus", "ConfigurationState")
SPEAKER_LABELS = {"app": "metallb", "component": "speaker"}


FRRK8S_API = "frrk8s.metallb.io/v1beta1"
# frr-k8s's view of each BGP session of a node's FRR (cmd/status in frr-k8s).
BGPSessionState = create_namespaced_resource(
    "frrk8s.metallb.io", "v1beta1", "BGPSessionState", "bgpsessionstates"
)

FRRNodeState = create_global_resource(
    "frrk8s.metallb.io", "v1beta1", "FRRNodeState", "frrnodestates"
)


def _resource(kind: str) -> Any:
    info = KINDS[kind]
    return create_namespaced_resource("metallb.io", info.versions[-1].name, kind, info.plural)


def _dict(obj: Any, api_version: str, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = obj.to_dict()
    return {**body, "apiVersion": api_version, "kind": kind}


@dataclass
class ClusterSnapshot:
    """What the tools read; ``missing`` names kinds the API does not serve (no CRDs)."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # The speaker Pods and DaemonSets (labels app=metallb,component=speaker) of the
    # MetalLB namespace; None when the reader may not list them.
    speaker_pods: list[dict[str, Any]] | None = None
    speaker_daemonsets: list[dict[str, Any]] = field(default_factory=list)
    # frr-k8s's BGPSessionState objects (every namespace); None when frr-k8s's CRDs are
    # not installed or the reader may not list them.
    bgp_session_states: list[dict[str, Any]] | None = None
    # frr-k8s's FRRNodeState objects (one per node where frr-k8s runs); None likewise.
    frr_node_states: list[dict[str, Any]] | None = None


def _list(client: Client, res: Any, **kwargs: Any) -> list[Any]:
    """List, waiting out 429s: a freshly installed CRD answers "storage is (re)initializing"
    until its watch cache is ready, and the apiserver may throttle a busy client."""
    deadline = time.monotonic() + RETRY_429_FOR
    while True:
        try:
            return list(client.list(res, **kwargs))
        except ApiError as err:
            if err.status.code != 429 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def read_cluster(client: Client, namespace: str) -> ClusterSnapshot:
    """One consistent-enough read of everything the explanation needs."""
    snap = ClusterSnapshot()
    snap.objects += [_dict(o, "v1", "Service") for o in _list(client, Service, namespace="*")]
    snap.objects += [_dict(o, "v1", "Namespace") for o in _list(client, Namespace)]
    snap.objects += [_dict(o, "v1", "Node") for o in _list(client, Node)]
    snap.objects += [
        _dict(o, "discovery.k8s.io/v1", "EndpointSlice")
        for o in _list(client, EndpointSlice, namespace="*")
    ]
    for kind in CONFIG_KINDS + STATUS_KINDS:
        api = f"metallb.io/{KINDS[kind].versions[-1].name}"
        try:
            items = [
                _dict(o, api, kind) for o in _list(client, _resource(kind), namespace=namespace)
            ]
        except ApiError as err:
            if err.status.code == 404:
                snap.missing.append(kind)
                continue
            raise
        (snap.statuses if kind in STATUS_KINDS else snap.objects).extend(items)
    snap.events = [_dict(e, "v1", "Event") for e in _list(client, Event, namespace="*")]
    try:
        pods = _list(client, Pod, namespace=namespace, labels=SPEAKER_LABELS)
        snap.speaker_pods = [_dict(p, "v1", "Pod") for p in pods]
        sets = _list(client, DaemonSet, namespace=namespace, labels=SPEAKER_LABELS)
        snap.speaker_daemonsets = [_dict(d, "apps/v1", "DaemonSet") for d in sets]
    except ApiError as err:
        # A reader without access to Pods still gets everything else.
        if err.status.code != 403:
            raise
    try:
        states = _list(client, BGPSessionState, namespace="*")
        snap.bgp_session_states = [_dict(o, FRRK8S_API, "BGPSessionState") for o in states]
        nodes = _list(client, FRRNodeState)
        snap.frr_node_states = [_dict(o, FRRK8S_API, "FRRNodeState") for o in nodes]
    except ApiError as err:
        # A reader without access to them (403).
        if err.status.code not in (403, 404):
            raise
    except httpx2.HTTPStatusError as err:
        # No frr-k8s CRDs: the group is unknown and the 404 is not a Status object.
        if err.response.status_code != 404:
            raise
    return snap
