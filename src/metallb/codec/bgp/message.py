"""Decode any BGP message: validate the header, then hand the body to its decoder.

This is the one entry point the session adapter needs for incoming bytes; everything it
raises is a :class:`~metallb.codec.bgp.errors.BGPError` whose ``notification`` is the
reply to send.
"""

from __future__ import annotations

from metallb.codec.bgp.errors import Notification
from metallb.codec.bgp.header import MessageType, split_message
from metallb.codec.bgp.keepalive import Keepalive, decode_keepalive
from metallb.codec.bgp.negotiated import PLAIN, Negotiated
from metallb.codec.bgp.notification import decode_notification
from metallb.codec.bgp.open import Open, decode_open
from metallb.codec.bgp.route_refresh import RouteRefreshRequest, decode_route_refresh
from metallb.codec.bgp.update import Update, decode_update

Message = Open | Update | Notification | Keepalive | RouteRefreshRequest


def decode_message(data: bytes, negotiated: Negotiated = PLAIN, *, revised: bool = True) -> Message:
    """Decode one complete message (header included).

    ``negotiated`` matters only for UPDATE; ``revised`` selects RFC 7606 (default) or
    strict RFC 4271 error handling for UPDATE.
    """
    header, _body = split_message(data)
    if header.type is MessageType.OPEN:
        return decode_open(data)
    if header.type is MessageType.UPDATE:
        return decode_update(data, negotiated, revised=revised)
    if header.type is MessageType.NOTIFICATION:
        return decode_notification(data)
    if header.type is MessageType.KEEPALIVE:
        return decode_keepalive(data)
    return decode_route_refresh(data)
