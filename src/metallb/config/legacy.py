"""The legacy ``config`` ConfigMap (MetalLB before v0.13), converted as upstream's
``configmaptocrs`` tool does, and read into the same Config through that conversion.

Conversion facts kept from upstream: peers become v1beta2 BGPPeers ``peer1``, ``peer2``,
... in input order, always with a ``holdTime`` (90s when absent, truncated to whole
seconds, refused when under 3s and not 0); each pool becomes an IPAddressPool of the
same name; each ``bgp-advertisements`` entry a BGPAdvertisement ``bgpadvertisementN``
(one global counter), or one empty advertisement for a ``bgp`` pool without any; each
pool with ``protocol: layer2`` (that exact string) an L2Advertisement
``l2advertisementN``; ``bgp-communities`` one Community ``communities`` with aliases
sorted by name. Pool and BFD-profile names that are not valid object names are
rewritten (truncated to 63, lowercased, ``_`` to ``-``, leading non-letters dropped).
Output order: peers, pools, BGP advertisements, L2 advertisements, BFD profiles,
communities. Unknown keys are ignored, as Go's decoder ignores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from metallb.config.build import build_config
from metallb.config.errors import ConfigError, ObjectRef, Problem, Problems
from metallb.config.goduration import SECOND, DurationError, format_duration, parse_duration
from metallb.config.gotext import go_quote
from metallb.config.inventory import flatten_lists, used_kind
from metallb.config.types import BGPType, Config
from metallb.config.yamlio import load_one

DEFAULT_NAMESPACE = "metallb-system"
_VALID_NAME = re.compile(r"^[a-z][-a-z0-9]{0,61}[a-z0-9]$")
_V1 = "metallb.io/v1beta1"


class _Reader:
    """Typed access to the loosely typed legacy YAML, reporting mismatches."""

    def __init__(self, ref: ObjectRef) -> None:
        self.ref = ref
        self.problems = Problems()

    def get(self, obj: Mapping[str, Any], key: str, kind: type, path: str, default: Any) -> Any:
        value = obj.get(key, default)
        if value is None:
            return default
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.problems.add(self.ref, f"{path}.{key}", f"must be a {kind.__name__}")
            return default
        return value

    def uint(self, obj: Mapping[str, Any], key: str, path: str, bits: int) -> int | None:
        value = self.get(obj, key, int, path, None)
        if value is not None and not 0 <= value < 1 << bits:
            self.problems.add(self.ref, f"{path}.{key}", f"must fit in {bits} unsigned bits")
            return None
        return value  # type: ignore[no-any-return]

    def items(self, obj: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        seq = self.get(obj, key, list, path, [])
        out = []
        for i, item in enumerate(seq):
            if isinstance(item, Mapping):
                out.append((f"{path}.{key}[{i}]" if path else f"{key}[{i}]", item))
            else:
                self.problems.add(self.ref, f"{path}.{key}[{i}]", "must be an object")
        return out


def k8s_name(name: str) -> str | None:
    """Upstream's rewrite of a legacy name into an object name; None if impossible."""
    if _VALID_NAME.match(name):
        return name
    text = name[:63].lower().replace("_", "-")
    m = re.search("[a-z]", text)
    return text[m.start() :] if m else None


def _config_data(configmap: object) -> tuple[Any, str, ObjectRef]:
    """The parsed ``config`` document, the namespace to use, and a ref for errors."""
    if isinstance(configmap, Mapping) and configmap.get("kind") == "ConfigMap":
        meta = configmap.get("metadata") if isinstance(configmap.get("metadata"), Mapping) else {}
        assert isinstance(meta, Mapping)
        ns = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
        ref = ObjectRef("ConfigMap", ns or "", str(meta.get("name") or ""))
        data = configmap.get("data")
        text = data.get("config") if isinstance(data, Mapping) else None
        if not isinstance(text, str) or not text:
            raise ConfigError((Problem(ref, "data.config", "bad ConfigMap: no data"),))
        try:
            return load_one(text), ns or DEFAULT_NAMESPACE, ref
        except yaml.YAMLError as exc:
            raise ConfigError((Problem(ref, "data.config", f"not YAML: {exc}"),)) from None
    # The bare contents of data.config, as upstream's --only-data.
    return configmap, DEFAULT_NAMESPACE, ObjectRef("ConfigMap", "", "config")


def configmap_to_crs(configmap: object) -> list[dict[str, Any]]:
    """The metallb.io objects upstream's converter would emit for this ConfigMap."""
    data, ns, ref = _config_data(configmap)
    if not isinstance(data, Mapping):
        raise ConfigError((Problem(ref, "data.config", "must be a YAML mapping"),))
    r = _Reader(ref)
    meta = {"namespace": ns}
    pools = [(p, dict(item)) for p, item in r.items(data, "address-pools", "")]
    profiles = [(p, dict(item)) for p, item in r.items(data, "bfd-profiles", "")]
    for kind, items in (("IPAddressPool", pools), ("BFDProfile", profiles)):
        for path, item in items:
            name = r.get(item, "name", str, path, "")
            new = k8s_name(name)
            if new is None:
                r.problems.add(ref, f"{path}.name", f"failed to make {kind} name K8S compatible")
            item["name"] = new or name
    peers = [_peer(r, p, item, i, meta) for i, (p, item) in enumerate(r.items(data, "peers", ""))]
    out: list[dict[str, Any]] = [p for p in peers if p]
    out += [_pool(r, p, item, meta) for p, item in pools]
    out += _bgp_ads(r, pools, meta)
    l2 = [item["name"] for _, item in pools if item.get("protocol") == "layer2"]
    out += [
        _obj("L2Advertisement", f"l2advertisement{i}", meta, {"ipAddressPools": [name]})
        for i, name in enumerate(l2, 1)
    ]
    out += [_bfd(r, p, item, meta) for p, item in profiles]
    communities = r.get(data, "bgp-communities", dict, "", {})
    if communities:
        aliases = [{"name": str(k), "value": str(communities[k])} for k in sorted(communities)]
        out.append(_obj("Community", "communities", meta, {"communities": aliases}))
    r.problems.raise_if_any()
    # Go serialises the zero status of every object; keep it so output matches upstream.
    zero_pool = dict.fromkeys(("assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6"), 0)
    return [o | {"status": zero_pool if o["kind"] == "IPAddressPool" else {}} for o in out]


def _obj(kind: str, name: str, meta: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    api = "metallb.io/v1beta2" if kind == "BGPPeer" else _V1
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, **meta}, "spec": spec}


def _seconds(r: _Reader, text: str, path: str) -> int | None:
    try:
        ns = parse_duration(text)
    except DurationError as exc:
        r.problems.add(r.ref, path, str(exc))
        return None
    return (abs(ns) // SECOND) * SECOND * (1 if ns >= 0 else -1)


def _peer(
    r: _Reader, path: str, p: Mapping[str, Any], i: int, meta: dict[str, str]
) -> dict[str, Any] | None:
    spec: dict[str, Any] = {"myASN": r.uint(p, "my-asn", path, 32) or 0}
    for key, field, bits in (("peer-asn", "peerASN", 32), ("peer-port", "peerPort", 16)):
        if value := r.uint(p, key, path, bits):
            spec[field] = value
    hold_text = r.get(p, "hold-time", str, path, "")
    hold = _seconds(r, hold_text, f"{path}.hold-time") if hold_text else 90 * SECOND
    if hold is not None and hold != 0 and hold < 3 * SECOND:
        r.problems.add(
            r.ref,
            f"{path}.hold-time",
            f"invalid hold time {go_quote(hold_text)}: must be 0 or >=3s",
        )
    spec["holdTime"] = format_duration(hold or 0)
    if ka_text := r.get(p, "keepalive-time", str, path, ""):
        spec["keepaliveTime"] = format_duration(_seconds(r, ka_text, f"{path}.keepalive-time") or 0)
    for key, field in (
        ("peer-address", "peerAddress"),
        ("source-address", "sourceAddress"),
        ("router-id", "routerID"),
        ("password", "password"),
    ):
        if value := r.get(p, key, str, path, ""):
            spec[field] = value
    if bfd := r.get(p, "bfd-profile", str, path, ""):
        spec["bfdProfile"] = k8s_name(bfd) or bfd
    if r.get(p, "ebgp-multihop", bool, path, False):
        spec["ebgpMultiHop"] = True
    selectors = []
    for sp, sel in r.items(p, "node-selectors", path):
        out: dict[str, Any] = {}
        if labels := r.get(sel, "match-labels", dict, sp, {}):
            out["matchLabels"] = dict(labels)
        exprs = [
            {
                "key": e.get("key"),
                "operator": e.get("operator"),
                "values": list(r.get(e, "values", list, ep, [])),
            }
            for ep, e in r.items(sel, "match-expressions", sp)
        ]
        if exprs:
            out["matchExpressions"] = exprs
        selectors.append(out)
    if selectors:
        spec["nodeSelectors"] = selectors
    spec["passwordSecret"] = {}
    return _obj("BGPPeer", f"peer{i + 1}", meta, spec)


def _pool(r: _Reader, path: str, p: Mapping[str, Any], meta: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"addresses": list(r.get(p, "addresses", list, path, []))}
    if (auto := r.get(p, "auto-assign", bool, path, None)) is not None:
        spec["autoAssign"] = auto
    if r.get(p, "avoid-buggy-ips", bool, path, False):
        spec["avoidBuggyIPs"] = True
    return _obj("IPAddressPool", p["name"], meta, spec)


def _bgp_ads(
    r: _Reader, pools: list[tuple[str, dict[str, Any]]], meta: dict[str, str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path, pool in pools:
        ads = r.items(pool, "bgp-advertisements", path)
        for ap, ad in ads:
            spec: dict[str, Any] = {}
            for key, field in (
                ("aggregation-length", "aggregationLength"),
                ("aggregation-length-v6", "aggregationLengthV6"),
            ):
                value = r.get(ad, key, int, ap, None)
                if value is not None:
                    spec[field] = value
            if lp := r.uint(ad, "localpref", ap, 32):
                spec["localPref"] = lp
            if comms := r.get(ad, "communities", list, ap, []):
                spec["communities"] = [str(c) for c in comms]
            spec["ipAddressPools"] = [pool["name"]]
            out.append(_obj("BGPAdvertisement", f"bgpadvertisement{len(out) + 1}", meta, spec))
        if not ads and pool.get("protocol") == "bgp":
            spec = {"ipAddressPools": [pool["name"]]}
            out.append(_obj("BGPAdvertisement", f"bgpadvertisement{len(out) + 1}", meta, spec))
    return out


def _bfd(r: _Reader, path: str, p: Mapping[str, Any], meta: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for key, field in (
        ("receive-interval", "receiveInterval"),
        ("transmit-interval", "transmitInterval"),
        ("detect-multiplier", "detectMultiplier"),
        ("echo-interval", "echoInterval"),
        ("minimum-ttl", "minimumTtl"),
    ):
        if (value := r.uint(p, key, path, 32)) is not None:
            spec[field] = value
    spec["echoMode"] = r.get(p, "echo-mode", bool, path, False)
    spec["passiveMode"] = r.get(p, "passive-mode", bool, path, False)
    return _obj("BFDProfile", p["name"], meta, spec)


def protocol_problems(configmap: object) -> tuple[Problem, ...]:
    """What MetalLB v0.12 (the last release reading the ConfigMap) refused in the pools'
    ``protocol``: missing, anything but ``layer2``/``bgp``, or BGP advertisements in a
    ``layer2`` pool. Upstream's converter does not check this, so ``configmap_to_crs``
    does not either; the tools that validate a ConfigMap (``expand_configmaps``) do."""
    try:
        data, _, ref = _config_data(configmap)
    except ConfigError as err:
        return err.problems
    r = _Reader(ref)
    if not isinstance(data, Mapping):
        return ()
    for path, pool in r.items(data, "address-pools", ""):
        protocol = r.get(pool, "protocol", str, path, "")
        # parseAddressPool's texts.
        if not protocol:
            r.problems.add(ref, f"{path}.protocol", "address pool is missing the protocol field")
        elif protocol not in ("layer2", "bgp"):
            hint = ' (did you mean "layer2"?)' if protocol.lower() in ("l2", "layer-2") else ""
            r.problems.add(ref, f"{path}.protocol", f"unknown protocol {go_quote(protocol)}{hint}")
        elif protocol == "layer2" and pool.get("bgp-advertisements"):
            r.problems.add(
                ref,
                f"{path}.bgp-advertisements",
                "cannot have bgp-advertisements configuration element in a layer2 address pool",
            )
    return tuple(r.problems.items)


def config_from_configmap(configmap: object, *, bgp_type: BGPType | str = BGPType.NATIVE) -> Config:
    """The Config a legacy ConfigMap means: converted as above (upstream's converter: the
    protocols are not checked), then built and checked."""
    return build_config(configmap_to_crs(configmap), bgp_type=bgp_type)


def expand_configmaps(objects: Iterable[Any]) -> list[Any]:
    """Input objects with each legacy ``config`` ConfigMap replaced by its metallb.io objects,
    so tools accept the old format wherever they accept the new one. A ConfigMap MetalLB
    v0.12 would have refused (:func:`protocol_problems`) raises ConfigError."""
    out: list[Any] = []
    for obj in flatten_lists(objects):
        if used_kind(obj) == "ConfigMap":
            if problems := protocol_problems(obj):
                raise ConfigError(problems)
            out.extend(configmap_to_crs(obj))
        else:
            out.append(obj)
    return out
