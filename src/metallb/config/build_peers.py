"""BFDProfiles and BGPPeers: ASNs, addresses, timers, passwords and references.

Timer rules follow upstream: with only a hold time the keepalive is a third of it, with
only a keepalive the hold time is three times it; the hold time, truncated to whole
seconds, must be 0 or at least 3 s; the keepalive must not exceed the hold time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import timedelta

from metallb.config.addresses import parse_ip
from metallb.config.context import Context
from metallb.config.crd_bgppeer import BGPPeerV1beta2
from metallb.config.crd_v1beta1 import BFDProfile as BFDProfileCR
from metallb.config.errors import ObjectRef
from metallb.config.goduration import SECOND, format_duration, parse_duration
from metallb.config.gotext import go_quote
from metallb.config.snapshot import name_of
from metallb.config.types import BFDProfile, Peer

BASIC_AUTH = "kubernetes.io/basic-auth"
# Upstream's webhook warning (webhookv1beta2 validatePeerCreate).
DISABLE_MP_DEPRECATED = (
    "disable mp is deprecated and has no effect since it's the default behavior now"
)


def build_bfd_profiles(
    ctx: Context, parsed: list[tuple[ObjectRef, BFDProfileCR]]
) -> list[BFDProfile]:
    # Value ranges are model bounds already; nothing else can be wrong with a profile.
    return [
        BFDProfile(
            name=ref.name,
            receive_interval=o.spec.receive_interval,
            transmit_interval=o.spec.transmit_interval,
            detect_multiplier=o.spec.detect_multiplier,
            echo_interval=o.spec.echo_interval,
            echo_mode=bool(o.spec.echo_mode),
            passive_mode=bool(o.spec.passive_mode),
            minimum_ttl=o.spec.minimum_ttl,
        )
        for ref, o in parsed
    ]


def _td(ns: int) -> timedelta:
    return timedelta(microseconds=ns // 1000)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def _timers(
    ctx: Context, ref: ObjectRef, hold: str | None, keepalive: str | None
) -> tuple[timedelta | None, timedelta | None] | None:
    if hold is None and keepalive is None:
        return None, None
    # The model already checked the syntax of both.
    ht = parse_duration(hold) if hold is not None else None
    ka = parse_duration(keepalive) if keepalive is not None else None
    if ht is None:
        assert ka is not None
        ht = 3 * ka
    if ka is None:
        ka = _trunc_div(ht, 3)  # Go's integer division truncates toward zero
    rounded = _trunc_div(ht, SECOND) * SECOND
    ok = True
    # parseTimers prints the fields (*metav1.Duration) with %q: Go's duration text,
    # quoted, or <nil> for an unset one.
    shown_ht, shown_ka = (
        "<nil>" if text is None else go_quote(format_duration(parse_duration(text)))
        for text in (hold, keepalive)
    )
    if rounded != 0 and rounded < 3 * SECOND:
        ctx.add(ref, "spec.holdTime", f"invalid hold time {shown_ht}: must be 0 or >=3s")
        ok = False
    if ka > ht:
        ctx.add(
            ref,
            "spec.keepaliveTime",
            f"invalid keepaliveTime {shown_ka}, must be lower than holdTime {shown_ht}",
        )
        ok = False
    return (_td(ht), _td(ka)) if ok else None


def _secret_password(
    ctx: Context, ref: ObjectRef, secret_name: str, secret_namespace: str
) -> str | None:
    secret = next((s for s in ctx.snapshot.secrets if name_of(s) == secret_name), None)
    path = "spec.passwordSecret"
    if secret is None or not isinstance(secret, Mapping):
        # passwordFromSecretForPeer's texts, from here on; upstream names only the peer,
        # we add which Secret is missing.
        peer = f"{go_quote(ref.namespace)}/{go_quote(ref.name)}"
        reason = (
            f"secret ref not found for peer config {peer}: Secret "
            f"{go_quote(secret_namespace or ref.namespace)}/{go_quote(secret_name)} "
            "does not exist (yet)"
        )
        # With missing references as warnings the peer keeps no password until it exists.
        return "" if ctx.missing_ref(ref, path, reason) else None
    meta = secret.get("metadata")
    secret_ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    where = f"{go_quote(secret_ns or ref.namespace)}/{go_quote(secret_name)}"
    if secret.get("type") != BASIC_AUTH:
        ctx.add(
            ref, path, f"secret type mismatch on {where}, type {go_quote(BASIC_AUTH)} is expected"
        )
        return None
    data, string_data = secret.get("data"), secret.get("stringData")
    if isinstance(string_data, Mapping) and isinstance(string_data.get("password"), str):
        return str(string_data["password"])
    encoded = data.get("password") if isinstance(data, Mapping) else None
    if not isinstance(encoded, str):
        ctx.add(ref, path, f"password not specified in the secret {where}")
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        ctx.add(ref, path, f"secret {where}: data.password is not valid base64")
        return None


def build_peers(
    ctx: Context, parsed: list[tuple[ObjectRef, BGPPeerV1beta2]], bfd_names: set[str]
) -> list[Peer]:
    out: list[Peer] = []
    for ref, obj in parsed:
        s = obj.spec
        n_before = len(ctx.problems.items)
        if s.my_asn == 0:
            ctx.add(ref, "spec.myASN", "missing local ASN")
        if s.peer_asn == 0 and not s.dynamic_asn:
            ctx.add(ref, "spec.peerASN", "missing peer ASN and dynamicASN")
        if s.peer_asn != 0 and s.dynamic_asn:
            ctx.add(ref, "spec.dynamicASN", "both peer ASN and dynamicASN specified")
        if s.peer_asn == s.my_asn and s.ebgp_multi_hop:
            ctx.add(
                ref, "spec.ebgpMultiHop", "invalid ebgp-multihop parameter set for an ibgp peer"
            )
        if not s.peer_address and not s.interface:
            ctx.add(ref, "spec.peerAddress", "peer has no Address or Interface specified")
        if s.peer_address and s.interface:
            ctx.add(ref, "spec.interface", "peer has both Address and Interface specified")
        timers = _timers(ctx, ref, s.hold_time, s.keepalive_time)
        if s.peer_address and parse_ip(s.peer_address) is None:
            ctx.add(ref, "spec.peerAddress", f"invalid BGPPeer address {go_quote(s.peer_address)}")
        if s.router_id and parse_ip(s.router_id) is None:
            ctx.add(ref, "spec.routerID", f"invalid router ID {go_quote(s.router_id)}")
        if s.source_address and parse_ip(s.source_address) is None:
            ctx.add(ref, "spec.sourceAddress", f"invalid source IP {go_quote(s.source_address)}")
        nodes = ctx.selectors(ref, "spec.nodeSelectors", s.node_selectors, "nodeSelectors")
        secret_name = (s.password_secret.name or "") if s.password_secret else ""
        if s.password and secret_name:
            ctx.add(
                ref,
                "spec.passwordSecret",
                "can not have both password and secret ref set in peer config "
                f"{go_quote(ref.namespace)}/{go_quote(ref.name)}",
            )
        secret_password: str | None = ""
        # With --frrk8s-secret-passthrough frr-k8s reads the Secret itself (upstream's
        # peerFromCR): it need not be in MetalLB's namespace, nor resolvable here.
        if secret_name and not s.password and not ctx.secret_passthrough:
            secret_ns = (s.password_secret.namespace or "") if s.password_secret else ""
            secret_password = _secret_password(ctx, ref, secret_name, secret_ns)
        if s.bfd_profile and s.bfd_profile not in bfd_names:
            ctx.missing_ref(
                ref,
                "spec.bfdProfile",
                f"peer {ref.name} referencing non existing bfd profile {s.bfd_profile}",
            )
        if s.disable_mp:
            ctx.warnings.append(f"{ref}: spec.disableMP: {DISABLE_MP_DEPRECATED}")
        if len(ctx.problems.items) != n_before or timers is None or nodes is None:
            continue
        assert secret_password is not None
        connect = _td(parse_duration(s.connect_time)) if s.connect_time is not None else None
        out.append(
            Peer(
                name=ref.name,
                my_asn=s.my_asn,
                asn=s.peer_asn,
                dynamic_asn=s.dynamic_asn or "",
                address=s.peer_address,
                interface=s.interface,
                source_address=s.source_address,
                port=s.peer_port,
                hold_time=timers[0],
                keepalive_time=timers[1],
                connect_time=connect,
                router_id=s.router_id,
                node_selectors=nodes or (),
                password=s.password,
                secret_password=secret_password,
                password_secret=secret_name,
                password_secret_namespace=(
                    (s.password_secret.namespace or "") if s.password_secret else ""
                ),
                bfd_profile=s.bfd_profile,
                enable_graceful_restart=s.enable_graceful_restart,
                ebgp_multi_hop=s.ebgp_multi_hop,
                vrf=s.vrf,
                dual_stack_address_family=s.dual_stack_address_family,
                disable_mp=s.disable_mp,
                local_asn=s.local_asn or 0,
            )
        )
    return out
