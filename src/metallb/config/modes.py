"""Rules that depend on the BGP implementation (``METALLB_BGP_TYPE``), and the one
cross-object rule upstream checks after parsing (BFD echo with IPv6 pools).

The native speaker implements a subset of BGP: no BFD, no VRFs, no unnumbered or
dynamic-ASN peers. Unlike upstream's native speaker (IPv4 and classic communities
only), ours advertises IPv6 prefixes (multiprotocol, over either transport) and large
communities, so IPv6 pools and ``large:`` communities are accepted in native mode too:
a deliberate difference. FRR supports all of that but runs one routing instance per
node, so peers that land on the same node must agree on router ID and local ASN (per
VRF) and must not repeat an address.
"""

from __future__ import annotations

from collections.abc import Sequence

from metallb.config.context import Context
from metallb.config.crd_bgppeer import BGPPeerV1beta2
from metallb.config.crd_v1beta1 import BFDProfile as BFDProfileCR
from metallb.config.errors import ObjectRef
from metallb.config.goduration import parse_duration
from metallb.config.gotext import go_quote
from metallb.config.types import BFDProfile, BGPAdvertisement, Peer, Pool

_NATIVE_UNSUPPORTED = (
    # (model attribute, YAML field, what)
    ("bfd_profile", "bfdProfile", "bfd-profile"),
    ("vrf", "vrf", "vrf"),
    ("connect_time", "connectTime", "connect time"),
    ("enable_graceful_restart", "enableGracefulRestart", "EnableGracefulRestart flag"),
    ("disable_mp", "disableMP", "disable MP flag"),
    ("dual_stack_address_family", "dualStackAddressFamily", "dualstackaddressfamily flag"),
    ("dynamic_asn", "dynamicASN", "dynamicASN"),
    ("interface", "interface", "interface"),
    ("local_asn", "localASN", "localASN"),
)


def check_native(
    ctx: Context,
    *,
    peers: Sequence[tuple[ObjectRef, BGPPeerV1beta2]],
    bfd: Sequence[tuple[ObjectRef, BFDProfileCR]],
) -> None:
    # DiscardFRROnly's texts (it names the peer by its address, even when empty).
    for ref, p in peers:
        addr = p.spec.peer_address
        for attr, field, what in _NATIVE_UNSUPPORTED:
            if getattr(p.spec, attr):
                ctx.add(ref, f"spec.{field}", f"peer {addr} has {what} set on native bgp mode")
        ka = p.spec.keepalive_time
        if ka is not None and parse_duration(ka) != 0:
            ctx.add(
                ref, "spec.keepaliveTime", f"peer {addr} has keepalive-time set on native bgp mode"
            )
    for ref, _ in bfd:
        ctx.add(ref, "", "bfd profiles section set")


def check_frr(ctx: Context, peers: Sequence[tuple[ObjectRef, Peer]]) -> None:
    """Peers sharing a node (or all peers, when no nodes are known) must be compatible."""
    nodes = {ref.name: ctx.matching_nodes(p.node_selectors) for ref, p in peers}
    for i, (ref, p) in enumerate(peers):
        for ref_q, q in peers[:i]:
            if ctx.nodes and not nodes[ref.name] & nodes[ref_q.name]:
                continue
            if p.router_id != q.router_id:
                ctx.add(
                    ref,
                    "spec.routerID",
                    # peersCanRunOnSameNode's texts, then the other BGPPeer.
                    f"peer {p.router_id} has RouterID different from {q.router_id}, in FRR mode "
                    "peers selecting the same node must all have the same RouterID (BGPPeer "
                    f"{go_quote(ref_q.name)})",
                )
            elif _identifier(p) == _identifier(q):
                ctx.add(
                    ref,
                    "spec.peerAddress" if p.address else "spec.interface",
                    f"peer {_identifier(p)} already exists, FRR mode doesn't support duplicate "
                    f"BGPPeers selecting the same node (BGPPeer {go_quote(ref_q.name)})",
                )
            elif p.my_asn != q.my_asn and p.vrf == q.vrf:
                ctx.add(
                    ref,
                    "spec.myASN",
                    f"peer {_identifier(p)} has myAsn different from {_identifier(q)}, in FRR "
                    "mode peers selecting the same node must have the same myAsn within the same "
                    f"VRF (BGPPeer {go_quote(ref_q.name)})",
                )


def _identifier(p: Peer) -> str:
    ident = p.address or p.interface
    return f"{ident}-{p.vrf}" if p.vrf else ident


def check_bfd_echo_ipv6(
    ctx: Context,
    pools: Sequence[Pool],
    ads: Sequence[tuple[ObjectRef, BGPAdvertisement]],
    peers: Sequence[Peer],
    profiles: Sequence[BFDProfile],
) -> None:
    """BFD echo mode cannot be used for sessions that carry IPv6 pools."""
    echo = {p.name for p in profiles if p.echo_mode}
    v6 = {p.name for p in pools if 6 in p.families}
    for ref, ad in ads:
        targets = [p for p in peers if not ad.peers or p.name in ad.peers]
        for pool in (n for n in ad.pools if n in v6):
            for peer in targets:
                if peer.bfd_profile in echo:
                    ctx.add(
                        ref,
                        "spec.peers",
                        # validateConfig's text, then the profile.
                        f"pool {pool} has bgpadvertisement {ad.name} which references peer "
                        f"{peer.name} which has bfd echo enabled, which is not possible (BFD "
                        f"profile {go_quote(peer.bfd_profile)}, IPv6 pool)",
                    )
