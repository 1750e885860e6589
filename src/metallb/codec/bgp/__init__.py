"""BGP-4 message codecs: pure functions between bytes and frozen values.

One module per message or RFC concern, each with the RFC layout above its code:
:mod:`.header` (framing, RFC 4271 4.1), :mod:`.open` and :mod:`.capabilities` (4.2,
RFC 5492), :mod:`.update`, :mod:`.attributes`, :mod:`.aspath`, :mod:`.mp` and
:mod:`.nlri` (4.3, RFC 4760, RFC 7606), :mod:`.keepalive` (4.4), :mod:`.notification`
(4.5), :mod:`.route_refresh` (RFC 2918), :mod:`.packing` (many prefixes per UPDATE) and
:mod:`.message` (decode anything). What the two OPENs agreed is an explicit
:class:`Negotiated` argument, never hidden state.

Encoders return complete messages (header included) and raise ValueError only for
caller bugs. Decoders take complete messages and raise nothing but :class:`BGPError`,
whose ``notification`` is the NOTIFICATION to send (RFC 4271 section 6).
"""

from metallb.codec.bgp.aspath import AS_TRANS, AsPathSegment, SegmentType
from metallb.codec.bgp.attributes import (
    Aggregator,
    AttrType,
    LargeCommunity,
    Origin,
    PathAttributes,
    RawAttribute,
    community,
)
from metallb.codec.bgp.capabilities import (
    Capability,
    FourOctetAS,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    RouteRefresh,
    UnknownCapability,
)
from metallb.codec.bgp.errors import (
    BGPError,
    CeaseSubcode,
    ErrorCode,
    FsmSubcode,
    HeaderSubcode,
    Notification,
    OpenSubcode,
    UpdateSubcode,
)
from metallb.codec.bgp.header import (
    HEADER_LEN,
    MAX_MESSAGE_LEN,
    Header,
    MessageType,
    decode_header,
)
from metallb.codec.bgp.keepalive import KEEPALIVE, Keepalive, decode_keepalive, encode_keepalive
from metallb.codec.bgp.message import Message, decode_message
from metallb.codec.bgp.mp import MpReach, MpUnreach
from metallb.codec.bgp.negotiated import (
    FULL,
    PLAIN,
    Negotiated,
    keepalive_interval,
    negotiate,
    negotiate_hold_time,
)
from metallb.codec.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, Prefix
from metallb.codec.bgp.notification import (
    decode_notification,
    encode_notification,
    shutdown_communication,
    shutdown_notification,
)
from metallb.codec.bgp.open import Open, check_peer_open, decode_open, encode_open
from metallb.codec.bgp.packing import end_of_rib, pack_announcements, pack_withdrawals
from metallb.codec.bgp.route_refresh import (
    RouteRefreshRequest,
    decode_route_refresh,
    encode_route_refresh,
)
from metallb.codec.bgp.update import Update, decode_update, encode_update

__all__ = [
    "AS_TRANS",
    "FULL",
    "HEADER_LEN",
    "IPV4_UNICAST",
    "IPV6_UNICAST",
    "KEEPALIVE",
    "MAX_MESSAGE_LEN",
    "PLAIN",
    "Aggregator",
    "AsPathSegment",
    "AttrType",
    "BGPError",
    "Capability",
    "CeaseSubcode",
    "ErrorCode",
    "Family",
    "FourOctetAS",
    "FsmSubcode",
    "GracefulRestart",
    "GracefulRestartFamily",
    "Header",
    "HeaderSubcode",
    "Keepalive",
    "LargeCommunity",
    "Message",
    "MessageType",
    "MpReach",
    "MpUnreach",
    "Multiprotocol",
    "Negotiated",
    "Notification",
    "Open",
    "OpenSubcode",
    "Origin",
    "PathAttributes",
    "Prefix",
    "RawAttribute",
    "RouteRefresh",
    "RouteRefreshRequest",
    "SegmentType",
    "UnknownCapability",
    "Update",
    "UpdateSubcode",
    "check_peer_open",
    "community",
    "decode_header",
    "decode_keepalive",
    "decode_message",
    "decode_notification",
    "decode_open",
    "decode_route_refresh",
    "decode_update",
    "encode_keepalive",
    "encode_notification",
    "encode_open",
    "encode_route_refresh",
    "encode_update",
    "end_of_rib",
    "keepalive_interval",
    "negotiate",
    "negotiate_hold_time",
    "pack_announcements",
    "pack_withdrawals",
    "shutdown_communication",
    "shutdown_notification",
]
