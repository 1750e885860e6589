"""BGP error codes and the one exception every BGP decoder raises.

A decoder that finds a protocol violation raises :class:`BGPError` carrying exactly the
NOTIFICATION (code, subcode, data) that RFC 4271 section 6 says to send, so the session
adapter catches it, sends ``err.notification`` as is and closes the connection. No other
exception type ever leaves a decoder: the adapter never has to guess what a ``ValueError``
from deep inside a parser means.

Errors that RFC 7606 downgrades to "treat-as-withdraw" or "attribute discard" are not
raised in the default (revised) mode; they are reported in the decoded UPDATE instead,
as the :class:`Notification` value the strict RFC 4271 behaviour would have sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ErrorCode(IntEnum):
    """NOTIFICATION error codes (RFC 4271 section 4.5; 7 from RFC 7313)."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7


class HeaderSubcode(IntEnum):
    """Message Header Error subcodes (RFC 4271 section 6.1)."""

    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSubcode(IntEnum):
    """OPEN Message Error subcodes (RFC 4271 section 6.2; 7 from RFC 5492)."""

    UNSPECIFIC = 0
    UNSUPPORTED_VERSION = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7


class UpdateSubcode(IntEnum):
    """UPDATE Message Error subcodes (RFC 4271 section 6.3; 7 is deprecated)."""

    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN = 6
    INVALID_NEXT_HOP = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(IntEnum):
    """Finite State Machine Error subcodes (RFC 6608 section 3)."""

    UNSPECIFIED = 0
    UNEXPECTED_IN_OPEN_SENT = 1
    UNEXPECTED_IN_OPEN_CONFIRM = 2
    UNEXPECTED_IN_ESTABLISHED = 3


class CeaseSubcode(IntEnum):
    """Cease subcodes (RFC 4486 section 4; 9 from RFC 8538)."""

    MAXIMUM_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9


class RouteRefreshSubcode(IntEnum):
    """ROUTE-REFRESH Message Error subcodes (RFC 7313 section 5)."""

    INVALID_MESSAGE_LENGTH = 1


@dataclass(frozen=True)
class Notification:
    """The content of a NOTIFICATION message: what to tell the peer before closing."""

    code: int
    subcode: int
    data: bytes = b""


class BGPError(Exception):
    """A protocol violation, carrying the NOTIFICATION that answers it.

    ``reason`` is for logs only; it is never sent on the wire.
    """

    def __init__(self, code: int, subcode: int, data: bytes = b"", reason: str = "") -> None:
        super().__init__(code, subcode, data, reason)
        self.code = code
        self.subcode = subcode
        self.data = data
        self.reason = reason

    @property
    def notification(self) -> Notification:
        return Notification(self.code, self.subcode, self.data)

    @classmethod
    def of(cls, notification: Notification, reason: str = "") -> BGPError:
        return cls(notification.code, notification.subcode, notification.data, reason)

    def __str__(self) -> str:
        return f"BGP error {self.code}/{self.subcode}: {self.reason or 'no reason given'}"
