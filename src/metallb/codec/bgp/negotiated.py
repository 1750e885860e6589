"""What the two OPENs agreed: the features every UPDATE encoder and decoder depends on.

Encoders and decoders never look at session state; they take a :class:`Negotiated`
value, so "encode the AS_PATH with 2- or 4-octet ASNs" is an argument, not a hidden
mode. :func:`negotiate` computes it from the OPEN we sent and the OPEN we received.
"""

from __future__ import annotations

from dataclasses import dataclass

from metallb.codec.bgp.errors import BGPError, ErrorCode, OpenSubcode
from metallb.codec.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from metallb.codec.bgp.open import Open

DEFAULT_HOLD_TIME = 90  # MetalLB's default when holdTime is unset


@dataclass(frozen=True)
class Negotiated:
    """Features in effect on a session.

    ``four_octet_as``: both sides sent the 4-octet AS capability (RFC 6793 section 4),
    so AS numbers in AS_PATH are 4 octets wide. ``families``: AFI/SAFI pairs both sides
    advertised (RFC 4760 section 8). The default is a plain RFC 4271 session.
    """

    four_octet_as: bool = False
    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    route_refresh: bool = False
    hold_time: int = DEFAULT_HOLD_TIME

    @property
    def keepalive_interval(self) -> float:
        return keepalive_interval(self.hold_time)


# A plain RFC 4271 session: 2-octet ASNs, IPv4 unicast only.
PLAIN = Negotiated()

# A session that speaks everything this codec knows; convenient for tests and tools.
FULL = Negotiated(
    four_octet_as=True, families=frozenset({IPV4_UNICAST, IPV6_UNICAST}), route_refresh=True
)


def negotiate_hold_time(local: int, peer: int) -> int:
    """The smaller of the two hold times (RFC 4271 section 4.2).

    Each must be 0 or at least 3; a bad peer value is Unacceptable Hold Time (RFC 4271
    section 6.2), a bad local value is a configuration bug (ValueError).
    """
    if local in (1, 2) or not 0 <= local <= 0xFFFF:
        raise ValueError(f"hold time {local} must be 0 or 3..65535 (RFC 4271 section 4.2)")
    if peer in (1, 2):
        raise BGPError(
            ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, reason=f"hold {peer}"
        )
    return min(local, peer)


def keepalive_interval(hold_time: int) -> float:
    """Seconds between KEEPALIVEs: a third of the hold time, none (0) when it is 0
    (RFC 4271 section 4.4)."""
    return hold_time / 3


def negotiate(local: Open, peer: Open) -> Negotiated:
    """The features both OPENs agree on."""
    return Negotiated(
        four_octet_as=local.four_octet_as and peer.four_octet_as,
        families=local.families & peer.families,
        route_refresh=local.route_refresh and peer.route_refresh,
        hold_time=negotiate_hold_time(local.hold_time, peer.hold_time),
    )
