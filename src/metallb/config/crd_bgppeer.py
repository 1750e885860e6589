"""BGPPeer in its two served versions, and the conversion between them.

v1beta2 is the storage version; v1beta1 is still served (deprecated) with required
``peerASN``/``peerAddress``, plain (non-pointer) timers and a legacy node-selector
struct. Conversion works on plain dicts, like the apiserver's conversion webhook: fields
that only v1beta2 has are dropped when an object is read as v1beta1.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from metallb.config.crd_common import Envelope, LabelSelector, SecretReference, Strict, UInt32
from metallb.config.goduration import SECOND, DurationError, parse_duration

DynamicASN = Literal["internal", "external"]


def _check_duration(text: str) -> str:
    try:
        parse_duration(text)
    except DurationError as exc:
        raise ValueError(str(exc)) from None
    return text


def _check_connect_time(text: str) -> str:
    # Upstream expresses these two rules in CEL on the CRD.
    ns = parse_duration(_check_duration(text))
    if not SECOND <= ns <= 65535 * SECOND:
        raise ValueError("connect time should be between 1 seconds to 65535")
    if ns % SECOND:
        raise ValueError("connect time should contain a whole number of seconds")
    return text


Duration = Annotated[str, AfterValidator(_check_duration)]
ConnectTime = Annotated[str, AfterValidator(_check_connect_time)]


class BGPPeerSpecV1beta2(Strict):
    my_asn: UInt32 = Field(alias="myASN")
    peer_asn: UInt32 = Field(default=0, alias="peerASN")
    local_asn: Annotated[int, Field(ge=1, le=2**32 - 1)] | None = Field(
        default=None, alias="localASN"
    )
    dynamic_asn: DynamicASN | None = Field(default=None, alias="dynamicASN")
    peer_address: str = Field(default="", alias="peerAddress")
    interface: str = ""
    source_address: str = Field(default="", alias="sourceAddress")
    peer_port: Annotated[int, Field(ge=1, le=16384)] = Field(default=179, alias="peerPort")
    hold_time: Duration | None = Field(default=None, alias="holdTime")
    keepalive_time: Duration | None = Field(default=None, alias="keepaliveTime")
    connect_time: ConnectTime | None = Field(default=None, alias="connectTime")
    router_id: str = Field(default="", alias="routerID")
    node_selectors: list[LabelSelector] | None = Field(default=None, alias="nodeSelectors")
    password: str = ""
    password_secret: SecretReference | None = Field(default=None, alias="passwordSecret")
    bfd_profile: str = Field(default="", alias="bfdProfile")
    enable_graceful_restart: bool = Field(default=False, alias="enableGracefulRestart")
    ebgp_multi_hop: bool = Field(default=False, alias="ebgpMultiHop")
    vrf: str = ""
    disable_mp: bool = Field(default=False, alias="disableMP")
    dual_stack_address_family: bool = Field(default=False, alias="dualStackAddressFamily")


class BGPPeerV1beta2(Envelope):
    spec: BGPPeerSpecV1beta2


class MatchExpression(Strict):
    key: str
    operator: str
    values: Annotated[list[str], Field(min_length=1)]


class LegacyNodeSelector(Strict):
    match_labels: dict[str, str] | None = Field(default=None, alias="matchLabels")
    match_expressions: list[MatchExpression] | None = Field(default=None, alias="matchExpressions")


class BGPPeerSpecV1beta1(Strict):
    my_asn: UInt32 = Field(alias="myASN")
    peer_asn: UInt32 = Field(alias="peerASN")
    peer_address: str = Field(alias="peerAddress")
    source_address: str = Field(default="", alias="sourceAddress")
    peer_port: Annotated[int, Field(ge=0, le=16384)] = Field(default=0, alias="peerPort")
    hold_time: Duration | None = Field(default=None, alias="holdTime")
    keepalive_time: Duration | None = Field(default=None, alias="keepaliveTime")
    router_id: str = Field(default="", alias="routerID")
    node_selectors: list[LegacyNodeSelector] | None = Field(default=None, alias="nodeSelectors")
    password: str = ""
    bfd_profile: str = Field(default="", alias="bfdProfile")
    ebgp_multi_hop: bool = Field(default=False, alias="ebgpMultiHop")


class BGPPeerV1beta1(Envelope):
    spec: BGPPeerSpecV1beta1


_COMMON = (
    "myASN",
    "peerASN",
    "peerAddress",
    "sourceAddress",
    "peerPort",
    "routerID",
    "password",
    "bfdProfile",
    "ebgpMultiHop",
)


def _legacy_to_label_selector(sel: Any) -> Any:
    if not isinstance(sel, dict):
        return sel
    labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not labels and not exprs:
        return {}
    out: dict[str, Any] = {"matchLabels": dict(labels) if isinstance(labels, dict) else labels}
    if exprs:
        out["matchExpressions"] = copy.deepcopy(exprs)
    return out


def v1beta1_to_v1beta2(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1beta1 BGPPeer dict as v1beta2 (upstream ``ConvertTo``).

    The timers are non-pointers in v1beta1, so they always arrive in v1beta2, as ``0s``
    when unset; selectors move from the legacy struct to LabelSelectors.
    """
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "spec"}
    out["apiVersion"] = "metallb.io/v1beta2"
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        out["spec"] = copy.deepcopy(spec)
        return out
    new: dict[str, Any] = {k: copy.deepcopy(spec[k]) for k in _COMMON if k in spec}
    new["holdTime"] = spec.get("holdTime", "0s")
    new["keepaliveTime"] = spec.get("keepaliveTime", "0s")
    if "nodeSelectors" in spec:
        sels = spec["nodeSelectors"]
        new["nodeSelectors"] = (
            [_legacy_to_label_selector(s) for s in sels] if isinstance(sels, list) else sels
        )
    out["spec"] = new
    return out


def v1beta2_to_v1beta1(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1beta2 BGPPeer dict as v1beta1 (upstream ``ConvertFrom``); v1beta2-only fields drop."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "spec"}
    out["apiVersion"] = "metallb.io/v1beta1"
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        out["spec"] = copy.deepcopy(spec)
        return out
    new: dict[str, Any] = {k: copy.deepcopy(spec[k]) for k in _COMMON if k in spec}
    new["holdTime"] = spec.get("holdTime") or "0s"
    new["keepaliveTime"] = spec.get("keepaliveTime") or "0s"
    sels = spec.get("nodeSelectors") or []
    new["nodeSelectors"] = [
        {
            "matchLabels": dict(s.get("matchLabels") or {}),
            "matchExpressions": copy.deepcopy(s.get("matchExpressions") or []),
        }
        for s in sels
        if isinstance(s, dict)
    ]
    out["spec"] = new
    return out
