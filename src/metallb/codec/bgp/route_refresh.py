"""The ROUTE-REFRESH message (RFC 2918 section 3; subtypes from RFC 7313 section 3.2).

::

     0       7      15      23      31
    +-------+-------+-------+-------+
    |      AFI      | Res.  | SAFI  |
    +-------+-------+-------+-------+

The "Res." octet is 0 for a plain refresh request and, with enhanced route refresh,
1 (Beginning of Route Refresh) or 2 (End of Route Refresh).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from metallb.codec.bgp.errors import BGPError, ErrorCode, HeaderSubcode, RouteRefreshSubcode
from metallb.codec.bgp.header import MessageType, encode_message, expect_body
from metallb.codec.bgp.nlri import Family

_BODY = struct.Struct("!HBB")


@dataclass(frozen=True)
class RouteRefreshRequest:
    family: Family
    subtype: int = 0


def encode_route_refresh(msg: RouteRefreshRequest) -> bytes:
    return encode_message(
        MessageType.ROUTE_REFRESH, _BODY.pack(msg.family.afi, msg.subtype, msg.family.safi)
    )


def decode_route_refresh(data: bytes) -> RouteRefreshRequest:
    """Decode a complete ROUTE-REFRESH message (header included)."""
    body = expect_body(data, MessageType.ROUTE_REFRESH)
    afi, subtype, safi = _BODY.unpack_from(body)
    if len(body) != _BODY.size:
        # RFC 7313 section 5: a BoRR/EoRR of the wrong length has its own error; for a
        # plain request RFC 2918 fixes the length at 23, so it is a Bad Message Length.
        if subtype in (1, 2):
            raise BGPError(
                ErrorCode.ROUTE_REFRESH,
                RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
                data,
                "enhanced route refresh of the wrong length",
            )
        raise BGPError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            struct.pack("!H", len(data)),
            "ROUTE-REFRESH longer than 23",
        )
    return RouteRefreshRequest(Family(afi, safi), subtype)
