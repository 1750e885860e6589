"""Configuration and small values of one native BGP session.

:class:`PeerOptions` is what a BGPPeer object means to one session (upstream:
internal/bgp/native/native.go); :class:`Advertisement` is what the speaker wants said about one
prefix. Both are frozen: the session never changes them, the caller replaces them.
:class:`ReconnectBackoff` is the session's time policy between connections; with the
:class:`metallb.timing.Clock` it is given, unit tests drive it without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from metallb.codec.bgp import LargeCommunity
from metallb.codec.bgp.negotiated import DEFAULT_HOLD_TIME
from metallb.config.addresses import IPAddress
from metallb.speaker.bgp_decision import peer_label
from metallb.timing import Backoff

BGP_PORT = 179
# Upstream (internal/bgp/native): dial plus OPEN exchange share a 10 s deadline; we bound
# the TCP connect by the same figure (RFC 4271 8.2.2 calls it the ConnectRetryTimer).
CONNECT_TIMEOUT = 10.0
# internal/bgp/native/backoff.go: upstream backs off 0, 1 s, 2 s, 4 s ... capped at 2 minutes.
BACKOFF_INITIAL = 1.0
BACKOFF_CAP = 120.0


@dataclass(frozen=True)
class PeerOptions:
    """One peer as the session sees it.

    ``password`` enables TCP-MD5 (RFC 2385); ``ebgp_multihop`` lifts the TTL of an eBGP
    session from 1 to 255; ``source_address`` is bound before connecting. ``next_hop_v4``
    and ``next_hop_v6`` override the next hops otherwise taken from the connection.
    """

    peer_address: IPAddress
    local_asn: int
    peer_asn: int
    peer_port: int = BGP_PORT
    router_id: IPv4Address | None = None
    hold_time: int = DEFAULT_HOLD_TIME
    source_address: IPAddress | None = None
    ebgp_multihop: bool = False
    password: str | None = None
    next_hop_v4: IPv4Address | None = None
    next_hop_v6: IPv6Address | None = None
    connect_timeout: float = CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        # RFC 4271 section 4.2: Hold Time is 0 or at least 3 seconds.
        if self.hold_time in (1, 2) or not 0 <= self.hold_time <= 0xFFFF:
            raise ValueError(f"hold time {self.hold_time} must be 0 or 3..65535")
        for asn in (self.local_asn, self.peer_asn):
            if not 0 < asn < 2**32:
                raise ValueError(f"AS number {asn} out of range")
        if self.password is not None and len(self.password.encode()) > 80:
            raise ValueError("TCP-MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN)")

    @property
    def ibgp(self) -> bool:
        return self.local_asn == self.peer_asn

    @property
    def name(self) -> str:
        """``addr:port``, the ``peer`` label of upstream's BGP metrics."""
        return peer_label(self.peer_address, self.peer_port)


@dataclass(frozen=True)
class Advertisement:
    """The attributes of one advertised prefix.

    ``local_pref`` is sent to iBGP peers only (RFC 4271 section 5.1.5); ``next_hop``
    overrides the session's own address.
    """

    communities: tuple[int, ...] = ()
    large_communities: tuple[LargeCommunity, ...] = ()
    local_pref: int | None = None
    next_hop: IPAddress | None = None


class ReconnectBackoff(Backoff):
    """Delays before successive connection attempts: 0, then doubling up to ``cap``
    (upstream's internal/bgp/native/backoff.go, no jitter).

    The session calls :meth:`reset` once a session has stayed Established for a while
    (``session.STABLE_SESSION``), so a peer that restarts is redialled at once, while a
    peer that never answers, or drops every session it accepts, is tried ever more
    rarely.
    """

    def __init__(self, initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_CAP) -> None:
        super().__init__(initial, cap, immediate_first=True)
