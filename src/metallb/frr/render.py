"""The FRR backend's desired state for one node and its rendering as FRR configuration.

``METALLB_BGP_TYPE=frr`` (upstream's internal/bgp/frr): instead of opening sessions itself, the
speaker describes the node's BGP in an ``frr.conf`` and has FRR (bgpd, zebra, bfdd)
apply it. :func:`desired` turns the validated Config, this node and the Services it
advertises (:mod:`metallb.speaker.bgp_decision` decisions) into a :class:`NodeConfig`;
:func:`render` writes it out. Both are pure and deterministic: the same input gives
byte-identical text (everything sorted), so an unchanged state never triggers a reload,
and a reload's diff touches only what changed, which keeps unchanged sessions up.

The layout (ours, in the spirit of upstream's templates):

- one ``router bgp <myASN> [vrf <vrf>]`` per (VRF, ASN), with ``no bgp
  ebgp-requires-policy`` (we filter with our own route maps), ``no bgp default
  ipv4-unicast`` (families are activated per neighbour) and ``no bgp network
  import-check`` (service IPs are not in the node's routing table; ``network``
  statements must originate them anyway);
- per neighbour: remote AS (or ``internal``/``external``), port, ``local-as``, password,
  ``ebgp-multihop``, timers, ``update-source``, BFD with a profile, graceful restart;
  the neighbour's own family is activated, both with ``dualStackAddressFamily``;
- every advertised prefix is a ``network P route-map mlb-tag-T`` statement whose route
  map sets route tag T; T names the prefix's class: which neighbours it goes to, with
  which attributes. Tags stay inside FRR (BGP does not carry them);
- per neighbour, an outbound route map with one entry per class it is in (``match tag
  T``) setting that class's communities, large communities and LOCAL_PREF (iBGP only,
  and only when configured); everything else is denied outbound, and every inbound
  route is denied: the speaker announces and never learns.

  Why tags and not a prefix list per attribute set (upstream's layout): FRR 8.4 adds a
  prefix-list entry in time linear in the list's length, so a list of 10,000 prefixes
  takes about half an hour to load, while 10,000 ``network`` lines take under a second
  (bench/bgp_advertise.py). The number of classes stays small (attribute sets times
  neighbour combinations), so the route maps stay short;
- a ``bfd`` block with one ``profile`` per BFDProfile.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from metallb.config.types import BFDProfile, Config, Peer
from metallb.election.ranking import Node
from metallb.speaker import bgp_decision
from metallb.speaker.bgp_decision import Announce, IPNetwork, Route

DEFAULT_PORT = 179
MAX_ROUTE_MAP_SEQ = 65535  # FRR: route-map sequence numbers are 1..65535
MAX_TAG = 4294967295  # route tags are 1..2^32-1


@dataclass(frozen=True)
class Neighbor:
    """One session as FRR sees it; ``routes`` are what it is told (sorted by prefix)."""

    name: str  # the BGPPeer name; names the prefix lists and route maps
    address: str  # empty for an unnumbered (interface) peer
    interface: str
    remote_as: str  # a number, or "internal"/"external" (dynamic ASN)
    port: int = DEFAULT_PORT
    local_asn: int = 0
    password: str = ""
    ebgp_multihop: bool = False
    hold_time: int | None = None
    keepalive_time: int | None = None
    connect_time: int | None = None
    source_address: str = ""
    bfd_profile: str = ""
    graceful_restart: bool = False
    dual_stack: bool = False
    routes: tuple[Route, ...] = ()

    @property
    def key(self) -> str:
        """How FRR names the neighbour in ``neighbor <key> ...`` lines."""
        return self.address or self.interface

    @property
    def family(self) -> int:
        """The session's transport family (unnumbered sessions run over IPv6)."""
        return ip_address(self.address).version if self.address else 6

    @property
    def families(self) -> tuple[int, ...]:
        # Unnumbered sessions carry both families, as upstream (internal/bgp/frr).
        return (4, 6) if self.dual_stack or not self.address else (self.family,)


@dataclass(frozen=True)
class Router:
    """One ``router bgp`` instance: an ASN in a VRF (``""`` is the default VRF)."""

    asn: int
    vrf: str
    router_id: str
    neighbors: tuple[Neighbor, ...]


@dataclass(frozen=True)
class NodeConfig:
    hostname: str
    routers: tuple[Router, ...]
    bfd_profiles: tuple[BFDProfile, ...] = ()
    log_file: str = ""


def _seconds(value: object) -> int | None:
    seconds = getattr(value, "total_seconds", None)
    return None if seconds is None else int(seconds())


def neighbor(peer: Peer, routes: Iterable[Route]) -> Neighbor:
    """A BGPPeer as a neighbour carrying ``routes``."""
    return Neighbor(
        name=peer.name,
        address=peer.address,
        interface=peer.interface,
        remote_as=peer.dynamic_asn or str(peer.asn),
        port=peer.port or DEFAULT_PORT,
        local_asn=peer.local_asn,
        password=peer.secret_password or peer.password,
        ebgp_multihop=peer.ebgp_multi_hop,
        hold_time=_seconds(peer.hold_time),
        keepalive_time=_seconds(peer.keepalive_time),
        connect_time=_seconds(peer.connect_time),
        source_address=peer.source_address,
        bfd_profile=peer.bfd_profile,
        graceful_restart=peer.enable_graceful_restart,
        dual_stack=peer.dual_stack_address_family,
        routes=tuple(sorted(routes, key=_route_key)),
    )


def desired(
    config: Config, node: Node, decisions: Iterable[Announce], *, log_file: str = ""
) -> NodeConfig:
    """The node's FRR state: its sessions (peer nodeSelectors) and what each is told.

    Validation (DiscardNativeOnly, upstream's internal/config/validation.go) guarantees that the
    peers a node may have share a router ID and, within a VRF, an ASN.
    """
    tables = bgp_decision.peer_tables(decisions)
    groups: dict[tuple[str, int], list[Peer]] = {}
    for peer in bgp_decision.sessions(config, node):
        groups.setdefault((peer.vrf, peer.my_asn), []).append(peer)
    routers = []
    for (vrf, asn), peers in sorted(groups.items()):
        router_id = next((p.router_id for p in peers if p.router_id), "")
        nbrs = [neighbor(p, tables.get(p.name, {}).values()) for p in peers]
        routers.append(Router(asn, vrf, router_id, tuple(sorted(nbrs, key=lambda n: n.key))))
    wanted = {p.bfd_profile for ps in groups.values() for p in ps if p.bfd_profile}
    profiles = tuple(
        sorted((p for p in config.bfd_profiles if p.name in wanted), key=lambda p: p.name)
    )
    return NodeConfig(node.name, tuple(routers), profiles, log_file)


# -- rendering --------------------------------------------------------------------------


def _route_key(r: Route) -> tuple[int, int, int]:
    return (r.prefix.version, int(r.prefix.network_address), r.prefix.prefixlen)


def _attributes(r: Route) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    # 0 and None both mean "set no LOCAL_PREF" (eBGP, or not configured).
    larges = tuple(":".join(map(str, c.sort_key)) for c in r.large_communities)
    return (r.local_pref or 0, tuple(map(str, r.communities)), larges)


def _afi(family: int) -> str:
    return "ipv4" if family == 4 else "ipv6"


def _stable_numbers(keys: Sequence[str], limit: int) -> list[int]:
    """A sequence number per key, from a hash of the key, unique within ``keys``.

    Numbers that depend on a key alone (not on its position) keep every unchanged entry's
    line identical when others come and go, so a reload's diff touches only the changed
    entries: renumbering would briefly drop, then re-add, unchanged prefixes. A rare
    collision moves the later key (in sorted order) to the next free number.
    """
    taken: set[int] = set()
    out = []
    for key in keys:
        n = 1 + zlib.crc32(key.encode()) % (limit - 1)
        while n in taken:
            n = n % (limit - 1) + 1
        taken.add(n)
        out.append(n)
    return out


Attributes = tuple[int, tuple[str, ...], tuple[str, ...]]
Class = tuple[tuple[str, Attributes], ...]  # (neighbour name, attributes), sorted


def _classes(r: Router) -> dict[IPNetwork, Class]:
    """Each prefix of the router: which neighbours it goes to, with which attributes."""
    members: dict[IPNetwork, list[tuple[str, Attributes]]] = {}
    for n in r.neighbors:
        for route in n.routes:
            if route.prefix.version in n.families:
                members.setdefault(route.prefix, []).append((n.name, _attributes(route)))
    return {prefix: tuple(sorted(m)) for prefix, m in members.items()}


def _tags(classes: Iterable[Class]) -> dict[Class, int]:
    """A route tag per class, from a hash of the class (see :func:`_stable_numbers`)."""
    keys = sorted(set(classes), key=repr)
    return dict(zip(keys, _stable_numbers([repr(k) for k in keys], MAX_TAG), strict=True))


def _base(vrf: str) -> str:
    return f"mlb-{vrf + '-' if vrf else ''}"


def _tag_maps(vrf: str, tags: Iterable[int]) -> list[str]:
    """One route map per tag, for ``network P route-map ...``: it marks the prefix."""
    lines: list[str] = []
    for tag in sorted(tags):
        lines += [f"route-map {_base(vrf)}tag-{tag} permit 1", f" set tag {tag}", "exit", "!"]
    return lines


def _policy(n: Neighbor, vrf: str, tags: Mapping[Class, int]) -> list[str]:
    """The neighbour's route maps: outbound, one entry per tag of a class it is in,
    setting that class's attributes for it; everything else denied, both ways."""
    base = f"{_base(vrf)}{n.name}"
    mine = sorted(
        (tag, attrs) for cls, tag in tags.items() for name, attrs in cls if name == n.name
    )
    seqs = _stable_numbers([str(tag) for tag, _ in mine], MAX_ROUTE_MAP_SEQ)
    entries: list[tuple[int, list[str]]] = []
    for (tag, (pref, comms, larges)), seq in zip(mine, seqs, strict=True):
        entry = [f"route-map {base}-out permit {seq}", f" match tag {tag}"]
        if comms:
            entry += [f" set community {' '.join(comms)}"]
        if larges:
            entry += [f" set large-community {' '.join(larges)}"]
        if pref:
            entry += [f" set local-preference {pref}"]
        entries.append((seq, [*entry, "exit", "!"]))
    # Deny what no entry permits (the implicit deny, written out so the map always
    # exists), and every route the peer sends us.
    tail = [f"route-map {base}-out deny {MAX_ROUTE_MAP_SEQ}", "exit", "!"]
    tail += [f"route-map {base}-in deny 20", "exit", "!"]
    return [*(line for _, e in sorted(entries) for line in e), *tail]


def _disable_connected_check(n: Neighbor, router_asn: int) -> bool:
    """Upstream's rule: only a single-family IPv6, non-multihop eBGP session, which is
    often reachable on-link only and which FRR's connected check would refuse."""
    if n.families != (6,) or n.ebgp_multihop:
        return False
    return n.remote_as == "external" or (
        n.remote_as != "internal" and n.remote_as != str(router_asn)
    )


def _neighbor_lines(n: Neighbor, router_asn: int) -> list[str]:
    k = n.key
    head = f" neighbor {k} interface remote-as {n.remote_as}" if not n.address else None
    out = [head or f" neighbor {k} remote-as {n.remote_as}"]
    if n.port != DEFAULT_PORT:
        out.append(f" neighbor {k} port {n.port}")
    if n.local_asn:
        out.append(f" neighbor {k} local-as {n.local_asn} no-prepend replace-as")
    if n.password:
        out.append(f" neighbor {k} password {n.password}")
    if n.ebgp_multihop:
        out.append(f" neighbor {k} ebgp-multihop")
    elif _disable_connected_check(n, router_asn):
        out.append(f" neighbor {k} disable-connected-check")
    if n.hold_time is not None:
        keepalive = n.keepalive_time if n.keepalive_time is not None else n.hold_time // 3
        out.append(f" neighbor {k} timers {keepalive} {n.hold_time}")
    if n.connect_time is not None:
        out.append(f" neighbor {k} timers connect {n.connect_time}")
    if n.source_address:
        out.append(f" neighbor {k} update-source {n.source_address}")
    if n.bfd_profile:
        out += [f" neighbor {k} bfd", f" neighbor {k} bfd profile {n.bfd_profile}"]
    if n.graceful_restart:
        out.append(f" neighbor {k} graceful-restart")
    return out


def _router(r: Router, classes: Mapping[IPNetwork, Class], tags: Mapping[Class, int]) -> list[str]:
    lines = [f"router bgp {r.asn}" + (f" vrf {r.vrf}" if r.vrf else "")]
    lines += [" no bgp ebgp-requires-policy", " no bgp network import-check"]
    # preserve-fw-state in every instance, as upstream's template.
    lines += [" no bgp default ipv4-unicast", " bgp graceful-restart preserve-fw-state"]
    if r.router_id:
        lines.append(f" bgp router-id {r.router_id}")
    for n in r.neighbors:
        lines += _neighbor_lines(n, r.asn)
    base = _base(r.vrf)
    for family in (4, 6):
        active = [n for n in r.neighbors if family in n.families]
        if not active:
            continue
        prefixes = sorted(
            (p for p in classes if p.version == family),
            key=lambda p: (int(p.network_address), p.prefixlen),
        )
        lines += [" !", f" address-family {_afi(family)} unicast"]
        lines += [f"  network {p} route-map {base}tag-{tags[classes[p]]}" for p in prefixes]
        for n in active:
            lines += [
                f"  neighbor {n.key} activate",
                f"  neighbor {n.key} route-map {base}{n.name}-in in",
                f"  neighbor {n.key} route-map {base}{n.name}-out out",
            ]
        lines.append(" exit-address-family")
    return [*lines, "exit", "!"]


def _bfd(profiles: Sequence[BFDProfile]) -> list[str]:
    if not profiles:
        return []
    lines = ["bfd"]
    for p in profiles:
        lines.append(f" profile {p.name}")
        if p.receive_interval is not None:
            lines.append(f"  receive-interval {p.receive_interval}")
        if p.transmit_interval is not None:
            lines.append(f"  transmit-interval {p.transmit_interval}")
        if p.detect_multiplier is not None:
            lines.append(f"  detect-multiplier {p.detect_multiplier}")
        if p.echo_mode:
            lines.append("  echo-mode")
        if p.echo_interval is not None:
            # Upstream's single echoInterval sets both directions (api/v1beta1/bfdprofile_types.go).
            lines.append(f"  echo receive-interval {p.echo_interval}")
            lines.append(f"  echo transmit-interval {p.echo_interval}")
        if p.passive_mode:
            lines.append("  passive-mode")
        if p.minimum_ttl is not None:
            lines.append(f"  minimum-ttl {p.minimum_ttl}")
        lines.append(" exit")
        lines.append(" !")
    return [*lines, "exit", "!"]


def render(state: NodeConfig) -> str:
    """The node's ``frr.conf``: stable text for a given state."""
    lines = [
        "! Written by the metallb-py speaker (FRR backend); changes here are overwritten.",
        "frr defaults traditional",
        f"hostname {state.hostname}",
        # Next hops reachable only through a default route (multi-hop peers) resolve.
        "ip nht resolve-via-default",
        "ipv6 nht resolve-via-default",
    ]
    if state.log_file:
        lines.append(f"log file {state.log_file}")
    lines += ["!"]
    plans = []
    for r in state.routers:
        classes = _classes(r)
        tags = _tags(classes.values())
        plans.append((r, classes, tags))
        lines += _tag_maps(r.vrf, tags.values())
        for n in r.neighbors:
            lines += _policy(n, r.vrf, tags)
    for r, classes, tags in plans:
        lines += _router(r, classes, tags)
    lines += _bfd(state.bfd_profiles)
    return "\n".join(lines) + "\n"
