"""The frr-k8s backend's desired object for one node: an ``FRRConfiguration``.

``METALLB_BGP_TYPE=frr-k8s`` (upstream's internal/bgp/frrk8s/frrk8s.go): the speaker runs no FRR of
its own; it writes one ``frrk8s.metallb.io/v1beta1`` ``FRRConfiguration`` per node, named
``metallb-<node>``, in the frr-k8s namespace, selecting its node by ``kubernetes.io/hostname``, and
the frr-k8s DaemonSet merges it with every other FRRConfiguration selecting that node (the user's
own ones too) into the node's FRR. :func:`desired` turns the validated Config, this node and the
Services it advertises (:mod:`metallb.speaker.bgp_decision` decisions) into that object, as a
JSON-shaped dict. It is pure and deterministic, following upstream's
``internal/bgp/frrk8s/frrk8s.go``:

- one router per (myASN, routerID, VRF), sorted by upstream's key
  ``<asn>@<routerID>@<vrf>``; neighbours sorted by upstream's session key
  ``<peerASN or dynamicASN>@<address or interface>-<myASN>@<sourceAddress>[/<vrf>]``;
- a neighbour is told the prefixes of its own family (both with an interface peer or
  ``dualStackAddressFamily``): ``toAdvertise.allowed.prefixes`` (sorted as strings, as
  upstream), ``withCommunity`` per community (``large:a:b:c`` for large ones, sorted by
  that text) and ``withLocalPref`` per value (sorted numerically); the router's
  ``prefixes`` are the union of its neighbours' prefixes;
- every BFDProfile of the configuration goes to ``bfdProfiles``, sorted by name;
- passwords: the plain one, or the resolved Secret's; with ``--frrk8s-secret-passthrough``
  the BGPPeer's ``passwordSecret`` reference instead (frr-k8s reads the Secret in its own
  namespace).

Where we differ (on purpose; the routes on the wire are the same):

- the object is written in the form the apiserver stores it (the CRD's defaults filled
  in: ``disableMP``/``dualStackAddressFamily`` false, ``allowed.mode: filtered``; empty
  fields left out rather than sent as ``{}``), so that "unchanged" is a plain comparison
  with what is stored and an unchanged state is never rewritten;
- ``withLocalPref`` only for iBGP neighbours: the decision keeps no LOCAL_PREF for eBGP
  peers (:class:`metallb.speaker.bgp_decision.Route`), and BGP never sends it to them anyway;
- ``sourceaddress`` and ``localASN`` are passed on (frr-k8s v0.0.25, the release
  upstream builds against, has both; upstream's rendering drops them);
- no peer on this node: :func:`desired` returns None and the driver deletes the object
  (upstream keeps an empty one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from metallb.config.goduration import format_duration
from metallb.config.types import BFDProfile, Config, Peer
from metallb.election.ranking import Node
from metallb.frr import render as frr_render
from metallb.speaker import bgp_decision
from metallb.speaker.bgp_decision import Announce, Route

GROUP = "frrk8s.metallb.io"
VERSION = "v1beta1"
KIND = "FRRConfiguration"
HOSTNAME_LABEL = "kubernetes.io/hostname"
# The CRD's default for toAdvertise.allowed.mode and toReceive.allowed.mode.
FILTERED = "filtered"


def config_name(node: str) -> str:
    """The name of the node's FRRConfiguration, as upstream's ``ConfigName``."""
    return f"metallb-{node}"


def _go_ip(text: str) -> str:
    # Upstream formats a nil net.IP into its keys as "<nil>".
    return text or "<nil>"


def router_key(peer: Peer) -> str:
    """Upstream's ``frr.RouterName``: how routers are told apart and sorted."""
    return f"{peer.my_asn}@{_go_ip(peer.router_id)}@{peer.vrf}"


def session_key(peer: Peer) -> str:
    """Upstream's ``sessionName``: how neighbours are told apart and sorted."""
    asn = peer.dynamic_asn or str(peer.asn)
    base = f"{asn}@{peer.address or peer.interface}-{peer.my_asn}@{_go_ip(peer.source_address)}"
    return f"{base}/{peer.vrf}" if peer.vrf else base


def _duration(value: Any) -> str:
    return format_duration(round(value.total_seconds() * 1_000_000) * 1000)


def _password(peer: Peer, passthrough: bool) -> dict[str, Any]:
    """Upstream's ``passwordForSession`` in frr-k8s mode."""
    if passthrough:
        out: dict[str, Any] = {"password": peer.password} if peer.password else {}
        if peer.password_secret:
            ref = {"name": peer.password_secret}
            if peer.password_secret_namespace:
                ref["namespace"] = peer.password_secret_namespace
            out["passwordSecret"] = ref
        return out
    plain = peer.password or peer.secret_password
    return {"password": plain} if plain else {}


def _advertise(routes: Iterable[Route]) -> tuple[dict[str, Any], list[str]]:
    """``toAdvertise`` for these routes, and their prefixes as upstream writes them."""
    prefixes: set[str] = set()
    by_community: dict[str, set[str]] = {}
    by_pref: dict[int, set[str]] = {}
    for r in routes:
        prefix = str(r.prefix)
        prefixes.add(prefix)
        for c in (*r.communities, *r.large_communities):
            by_community.setdefault(str(c), set()).add(prefix)
        if r.local_pref:
            by_pref.setdefault(r.local_pref, set()).add(prefix)
    allowed: dict[str, Any] = {"mode": FILTERED}
    if prefixes:
        allowed["prefixes"] = sorted(prefixes)
    out: dict[str, Any] = {"allowed": allowed}
    if by_pref:
        out["withLocalPref"] = [
            {"prefixes": sorted(ps), "localPref": pref} for pref, ps in sorted(by_pref.items())
        ]
    if by_community:
        out["withCommunity"] = [
            {"prefixes": sorted(ps), "community": c} for c, ps in sorted(by_community.items())
        ]
    return out, sorted(prefixes)


def neighbor(peer: Peer, routes: Iterable[Route], *, passthrough: bool = False) -> dict[str, Any]:
    """One BGPPeer as an frr-k8s neighbour, told the ``routes`` of its families."""
    families = frr_render.neighbor(peer, ()).families
    toadv, _ = _advertise(r for r in routes if r.prefix.version in families)
    out: dict[str, Any] = {}
    if peer.asn:
        out["asn"] = peer.asn
    if peer.dynamic_asn:
        out["dynamicASN"] = peer.dynamic_asn
    if peer.address:
        out["address"] = peer.address
    if peer.interface:
        out["interface"] = peer.interface
    if peer.source_address:
        out["sourceaddress"] = peer.source_address
    if peer.local_asn:
        out["localASN"] = peer.local_asn
    out["port"] = peer.port or frr_render.DEFAULT_PORT
    out.update(_password(peer, passthrough))
    for key, value in (
        ("holdTime", peer.hold_time),
        ("keepaliveTime", peer.keepalive_time),
        ("connectTime", peer.connect_time),
    ):
        if value is not None:
            out[key] = _duration(value)
    if peer.ebgp_multi_hop:
        out["ebgpMultiHop"] = True
    if peer.bfd_profile:
        out["bfdProfile"] = peer.bfd_profile
    if peer.enable_graceful_restart:
        out["enableGracefulRestart"] = True
    out["toAdvertise"] = toadv
    out["toReceive"] = {"allowed": {"mode": FILTERED}}
    out["disableMP"] = peer.disable_mp
    out["dualStackAddressFamily"] = peer.dual_stack_address_family
    return out


def bfd_profile(p: BFDProfile) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name}
    for key, value in (
        ("receiveInterval", p.receive_interval),
        ("transmitInterval", p.transmit_interval),
        ("detectMultiplier", p.detect_multiplier),
        ("echoInterval", p.echo_interval),
    ):
        if value is not None:
            out[key] = value
    # Upstream always sends both flags (pointers to the profile's values).
    out["echoMode"] = p.echo_mode
    out["passiveMode"] = p.passive_mode
    if p.minimum_ttl is not None:
        out["minimumTtl"] = p.minimum_ttl
    return out


def spec(
    config: Config, node: Node, decisions: Iterable[Announce], *, passthrough: bool = False
) -> dict[str, Any] | None:
    """The ``spec`` of the node's FRRConfiguration; None when no BGPPeer selects it."""
    tables = bgp_decision.peer_tables(decisions)
    routers: dict[str, tuple[Peer, dict[str, dict[str, Any]], set[str]]] = {}
    for peer in bgp_decision.sessions(config, node):
        first, neighbors, prefixes = routers.setdefault(router_key(peer), (peer, {}, set()))
        nbr = neighbor(peer, tables.get(peer.name, {}).values(), passthrough=passthrough)
        neighbors[session_key(peer)] = nbr
        prefixes.update(nbr["toAdvertise"]["allowed"].get("prefixes", ()))
    if not routers:
        return None
    out_routers = []
    for _key, (first, neighbors, prefixes) in sorted(routers.items()):
        router: dict[str, Any] = {"asn": first.my_asn}
        if first.router_id:
            router["id"] = first.router_id
        if first.vrf:
            router["vrf"] = first.vrf
        router["neighbors"] = [n for _, n in sorted(neighbors.items())]
        if prefixes:
            router["prefixes"] = sorted(prefixes)
        out_routers.append(router)
    bgp_spec: dict[str, Any] = {"routers": out_routers}
    if config.bfd_profiles:
        profiles = sorted(config.bfd_profiles, key=lambda p: p.name)
        bgp_spec["bfdProfiles"] = [bfd_profile(p) for p in profiles]
    return {"bgp": bgp_spec, "nodeSelector": {"matchLabels": {HOSTNAME_LABEL: node.name}}}


def desired(
    config: Config,
    node: Node,
    decisions: Iterable[Announce],
    *,
    namespace: str,
    passthrough: bool = False,
) -> dict[str, Any] | None:
    """The whole FRRConfiguration object for ``node`` in ``namespace``; None: none is
    needed (no BGPPeer selects the node), and an existing one is to be deleted."""
    body = spec(config, node, decisions, passthrough=passthrough)
    if body is None:
        return None
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": config_name(node.name), "namespace": namespace},
        "spec": body,
    }
