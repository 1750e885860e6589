"""Messages as the session sees them: our OPEN, and what a received message means.

:func:`local_open` builds the OPEN this speaker sends (upstream's internal/bgp/native/native.go,
plus IPv6). :func:`classify` decodes one framed message and names its :class:`Event`. Decoding
errors become the error events of RFC 4271 section 8.1.4 carrying the
:class:`~metallb.codec.bgp.BGPError` whose NOTIFICATION the session sends; the peer's OPEN is
checked against our configuration here, and the negotiated features come back with the BGPOpen
event. Counting happens here so every received message is counted once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from ipaddress import IPv4Address

from metallb.bgp.fsm import Event, State
from metallb.codec.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    PLAIN,
    BGPError,
    ErrorCode,
    FourOctetAS,
    Keepalive,
    MessageType,
    Multiprotocol,
    Negotiated,
    Notification,
    Open,
    OpenSubcode,
    RouteRefreshRequest,
    Update,
    check_peer_open,
    decode_message,
    negotiate,
    shutdown_communication,
)
from metallb.codec.bgp.header import HEADER_LEN
from metallb.config.addresses import IPAddress
from metallb.net.bgp.counters import SessionCounters
from metallb.net.bgp.options import PeerOptions

_DECODE_ERROR_EVENT: dict[int, Event] = {
    MessageType.OPEN: Event.BGP_OPEN_MSG_ERR,  # RFC 4271 8.1.4 event 22
    MessageType.UPDATE: Event.UPDATE_MSG_ERR,  # event 28
}


@dataclass(frozen=True)
class Inbound:
    """``event`` None means no FSM event: a ROUTE-REFRESH request (RFC 2918)."""

    event: Event | None
    reason: str
    error: BGPError | None = None
    negotiated: Negotiated | None = None


def classify(
    raw: bytes,
    state: State,
    *,
    options: PeerOptions,
    local_open: Open,
    negotiated: Negotiated | None,
    counters: SessionCounters,
) -> Inbound:
    """The event for one complete message ``raw`` received in ``state``."""
    try:
        msg = decode_message(raw, negotiated or PLAIN)
    except BGPError as err:
        # Header errors were caught while framing; what remains belongs to the body.
        event = _DECODE_ERROR_EVENT.get(raw[HEADER_LEN - 1], Event.BGP_HEADER_ERR)
        return Inbound(event, str(err), err)
    if isinstance(msg, Open):
        counters.opens_received += 1
        reason = f"OPEN from AS {msg.asn}, id {msg.router_id}, hold {msg.hold_time}"
        if state is not State.OPEN_SENT:
            return Inbound(Event.BGP_OPEN, reason)  # the table makes it an FSM error
        try:
            check_peer_open(
                msg,
                expected_asn=options.peer_asn,
                local_asn=options.local_asn,
                local_router_id=local_open.router_id,
            )
            agreed = negotiate(local_open, msg)
        except BGPError as err:
            return Inbound(Event.BGP_OPEN_MSG_ERR, f"{reason}: {err}", err)
        return Inbound(Event.BGP_OPEN, reason, negotiated=agreed)
    if isinstance(msg, Notification):
        counters.notifications_received += 1
        text = shutdown_communication(msg)
        reason = f"NOTIFICATION {msg.code}/{msg.subcode}" + (f' "{text}"' if text else "")
        # RFC 4271 8.1.4 event 24: the peer does not speak our version.
        if (msg.code, msg.subcode) == (ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_VERSION):
            return Inbound(Event.NOTIF_MSG_VER_ERR, reason)
        return Inbound(Event.NOTIF_MSG, reason)
    if isinstance(msg, Keepalive):
        counters.keepalives_received += 1
        return Inbound(Event.KEEPALIVE_MSG, "KEEPALIVE")
    if isinstance(msg, Update):
        counters.updates_received += 1
        return Inbound(Event.UPDATE_MSG, "UPDATE")
    assert isinstance(msg, RouteRefreshRequest)
    return Inbound(None, "ROUTE-REFRESH")


def local_open(options: PeerOptions, local: IPAddress) -> Open:
    """Our OPEN: multiprotocol IPv4 and IPv6 unicast and 4-octet AS (RFC 4760, RFC 6793);
    no route refresh, no graceful restart (as upstream's internal/bgp/native)."""
    router_id = options.router_id
    if router_id is None:
        # As upstream's native speaker: the local IPv4 address of the connection; an IPv6-only
        # speaker falls back to a CRC32 (upstream hashes the node name; the address is as stable).
        if isinstance(local, IPv4Address):
            router_id = local
        else:
            router_id = IPv4Address(zlib.crc32(local.packed) or 1)
    caps = (
        Multiprotocol(IPV4_UNICAST),
        Multiprotocol(IPV6_UNICAST),
        FourOctetAS(options.local_asn),
    )
    return Open(options.local_asn, options.hold_time, router_id, caps)
