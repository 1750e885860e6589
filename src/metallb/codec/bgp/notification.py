"""The NOTIFICATION message (RFC 4271 section 4.5): why the sender closes the session.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Error code    | Error subcode |   Data (variable)             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

A received NOTIFICATION is never answered with another one (RFC 4271 section 6.4), so
beyond the header checks its decoder accepts any code, subcode and data. The value type
:class:`Notification` lives in :mod:`metallb.codec.bgp.errors` next to the exception that
carries it.
"""

from __future__ import annotations

from metallb.codec.bgp.errors import CeaseSubcode, ErrorCode, Notification
from metallb.codec.bgp.header import MessageType, encode_message, expect_body

_SHUTDOWN_SUBCODES = (CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET)


def encode_notification(notification: Notification) -> bytes:
    body = bytes([notification.code, notification.subcode]) + notification.data
    return encode_message(MessageType.NOTIFICATION, body)


def decode_notification(data: bytes) -> Notification:
    """Decode a complete NOTIFICATION message (header included)."""
    body = expect_body(data, MessageType.NOTIFICATION)
    return Notification(body[0], body[1], body[2:])


def shutdown_notification(message: str = "") -> Notification:
    """Cease / Administrative Shutdown with an RFC 9003 shutdown communication."""
    text = message.encode()[:255]
    data = bytes([len(text)]) + text if text else b""
    return Notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, data)


def shutdown_communication(notification: Notification) -> str | None:
    """The operator's text in a Cease 2 or 4 NOTIFICATION (RFC 9003 section 2), if any.

    Malformed text is returned as None rather than raised: it is informational only.
    """
    if notification.code != ErrorCode.CEASE or notification.subcode not in _SHUTDOWN_SUBCODES:
        return None
    data = notification.data
    if not data or data[0] == 0 or 1 + data[0] > len(data):
        return None
    try:
        return data[1 : 1 + data[0]].decode("utf-8")
    except UnicodeDecodeError:
        return None
