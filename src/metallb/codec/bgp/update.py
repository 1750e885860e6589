"""The UPDATE message (RFC 4271 section 4.3), with RFC 7606 revised error handling.

::

    +-----------------------------------------------------+
    |   Withdrawn Routes Length (2 octets)                |
    +-----------------------------------------------------+
    |   Withdrawn Routes (variable)                       |
    +-----------------------------------------------------+
    |   Total Path Attribute Length (2 octets)            |
    +-----------------------------------------------------+
    |   Path Attributes (variable)                        |
    +-----------------------------------------------------+
    |   Network Layer Reachability Information (variable) |
    +-----------------------------------------------------+

Classic Withdrawn Routes and NLRI are IPv4 only; other families ride in MP_REACH_NLRI
and MP_UNREACH_NLRI (:mod:`metallb.codec.bgp.mp`).

Error handling follows RFC 7606 by default. Errors that leave the message's framing
intact become a value, not an exception: ``treat_as_withdraw`` (every route the UPDATE
announces is to be handled as withdrawn; RFC 7606 section 2) or ``discarded`` (the
attribute is dropped and the rest used). Each keeps the :class:`Notification` that
strict RFC 4271 would have sent; ``revised=False`` raises it instead. Errors that make
the NLRI impossible to locate still raise :class:`BGPError` (session reset).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Network

from metallb.codec.bgp.attributes import (
    CATEGORY,
    EXTENDED_LENGTH,
    OPTIONAL,
    PARTIAL,
    TRANSITIVE,
    AttributeBuilder,
    AttrType,
    PathAttributes,
    RawAttribute,
    encode_attribute,
    encode_path_attributes,
)
from metallb.codec.bgp.errors import BGPError, ErrorCode, Notification, UpdateSubcode
from metallb.codec.bgp.header import MessageType, encode_message, expect_body
from metallb.codec.bgp.mp import (
    MpReach,
    MpUnreach,
    decode_mp_reach,
    decode_mp_unreach,
    encode_mp_reach_value,
    encode_mp_unreach_value,
)
from metallb.codec.bgp.negotiated import PLAIN, Negotiated
from metallb.codec.bgp.nlri import IPV4_UNICAST, Family, Prefix, decode_prefixes, encode_prefixes

_MP_TYPES = (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI)
# RFC 7606 sections 7.6, 7.7 and RFC 6793 section 6: these are merely dropped when bad.
_DISCARD_ON_ERROR = frozenset(
    {
        AttrType.ATOMIC_AGGREGATE,
        AttrType.AGGREGATOR,
        AttrType.AS4_PATH,
        AttrType.AS4_AGGREGATOR,
    }
)


@dataclass(frozen=True)
class Update:
    """An UPDATE. ``attributes`` is None when the message carries no path attributes
    other than the multiprotocol ones; absent attributes inside it are None."""

    withdrawn: tuple[IPv4Network, ...] = ()
    attributes: PathAttributes | None = None
    nlri: tuple[IPv4Network, ...] = ()
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    treat_as_withdraw: Notification | None = None
    discarded: tuple[Notification, ...] = ()

    @property
    def announced(self) -> tuple[Prefix, ...]:
        """Prefixes this UPDATE makes reachable (none if treated as withdraw)."""
        if self.treat_as_withdraw is not None:
            return ()
        return (*self.nlri, *(self.mp_reach.nlri if self.mp_reach else ()))

    @property
    def withdrawn_prefixes(self) -> tuple[Prefix, ...]:
        """Prefixes this UPDATE makes unreachable, including treat-as-withdraw ones."""
        out: tuple[Prefix, ...] = (
            *self.withdrawn,
            *(self.mp_unreach.withdrawn if self.mp_unreach else ()),
        )
        if self.treat_as_withdraw is not None:
            out = (*out, *self.nlri, *(self.mp_reach.nlri if self.mp_reach else ()))
        return out

    @property
    def end_of_rib(self) -> Family | None:
        """The family this UPDATE marks End-of-RIB for (RFC 4724 section 2), if any."""
        if self.withdrawn or self.nlri or self.mp_reach:
            return None
        if self.attributes is None and self.mp_unreach is None:
            return IPV4_UNICAST
        if self.attributes is None and self.mp_unreach and not self.mp_unreach.withdrawn:
            return self.mp_unreach.family
        return None


def encode_update(update: Update, negotiated: Negotiated) -> bytes:
    """The complete message. MP attributes go first (RFC 7606 section 5.1), so a
    receiver can locate them even if a later attribute is malformed."""
    attrs = b""
    if update.mp_reach is not None:
        attrs += encode_attribute(AttrType.MP_REACH_NLRI, encode_mp_reach_value(update.mp_reach))
    if update.mp_unreach is not None:
        value = encode_mp_unreach_value(update.mp_unreach)
        attrs += encode_attribute(AttrType.MP_UNREACH_NLRI, value)
    if update.attributes is not None:
        attrs += encode_path_attributes(update.attributes, negotiated)
    withdrawn = encode_prefixes(update.withdrawn)
    body = (
        struct.pack("!H", len(withdrawn))
        + withdrawn
        + struct.pack("!H", len(attrs))
        + attrs
        + encode_prefixes(update.nlri)
    )
    return encode_message(MessageType.UPDATE, body)


class _Action(Enum):
    WITHDRAW = "treat-as-withdraw"
    DISCARD = "attribute discard"


def _error(subcode: int, reason: str, data: bytes = b"") -> BGPError:
    return BGPError(ErrorCode.UPDATE_MESSAGE, subcode, data, reason)


def _v4(prefixes: tuple[Prefix, ...]) -> tuple[IPv4Network, ...]:
    return tuple(p for p in prefixes if isinstance(p, IPv4Network))


def decode_update(data: bytes, negotiated: Negotiated = PLAIN, *, revised: bool = True) -> Update:
    """Decode a complete UPDATE message (header included).

    ``revised=True`` applies RFC 7606; ``revised=False`` is strict RFC 4271 section 6.3,
    raising the first error found.
    """
    body = expect_body(data, MessageType.UPDATE)
    (wlen,) = struct.unpack_from("!H", body)
    # RFC 4271 section 6.3 and RFC 7606 section 4: lengths that exceed the message are a
    # Malformed Attribute List, and the session is reset (nothing can be located).
    if 2 + wlen + 2 > len(body):
        raise _error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "withdrawn routes length too large")
    withdrawn = _v4(decode_prefixes(body[2 : 2 + wlen], 4))
    (alen,) = struct.unpack_from("!H", body, 2 + wlen)
    start = 4 + wlen
    if start + alen > len(body):
        raise _error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "total attribute length too large")
    attr_data = body[start : start + alen]
    # RFC 4271 section 6.3 / RFC 7606 section 5.3: a bad NLRI field resets the session.
    nlri = _v4(decode_prefixes(body[start + alen :], 4))

    width = 4 if negotiated.four_octet_as else 2
    builder = AttributeBuilder()
    problems: list[tuple[_Action, BGPError]] = []
    seen: set[int] = set()
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    i = 0
    while i < alen:
        flags = attr_data[i]
        hlen = 4 if flags & EXTENDED_LENGTH else 3
        # RFC 7606 section 4: too few octets for an attribute header, or a value that
        # overruns the Total Attribute Length, is treat-as-withdraw; the attribute
        # list ends there and the NLRI is still located through the total length.
        if i + hlen > alen:
            problems.append(
                (
                    _Action.WITHDRAW,
                    _error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "truncated attribute header"),
                )
            )
            break
        type_code = attr_data[i + 1]
        vlen = int.from_bytes(attr_data[i + 2 : i + hlen], "big")
        if i + hlen + vlen > alen:
            problems.append(
                (
                    _Action.WITHDRAW,
                    _error(
                        UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, f"attribute {type_code} overruns"
                    ),
                )
            )
            break
        raw = attr_data[i : i + hlen + vlen]
        value = raw[hlen:]
        i += hlen + vlen

        if type_code in seen:
            # RFC 7606 section 3(g): a repeated MP attribute resets the session; any
            # other repeat is discarded, keeping the first.
            err = _error(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, f"attribute {type_code} repeated")
            if type_code in _MP_TYPES:
                raise err
            problems.append((_Action.DISCARD, err))
            continue
        seen.add(type_code)

        if type_code not in CATEGORY:
            # RFC 4271 section 6.3: an unrecognised well-known attribute (Optional bit
            # clear); Data is the attribute. Unknown optional ones are kept.
            if not flags & OPTIONAL:
                raise _error(
                    UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    f"unrecognized well-known attribute {type_code}",
                    raw,
                )
            kept = flags & (OPTIONAL | TRANSITIVE | PARTIAL)
            builder.unknown.append(RawAttribute(kept, type_code, value))
            continue

        # RFC 4271 section 6.3 / RFC 7606 section 3(c): Optional and Transitive bits that
        # conflict with the type are an Attribute Flags Error, Data the attribute.
        if flags & (OPTIONAL | TRANSITIVE) != CATEGORY[type_code]:
            err = _error(
                UpdateSubcode.ATTRIBUTE_FLAGS_ERROR,
                f"flags {flags:#04x} wrong for attribute {type_code}",
                raw,
            )
            if type_code in _MP_TYPES:
                raise err
            action = _Action.DISCARD if type_code in _DISCARD_ON_ERROR else _Action.WITHDRAW
            problems.append((action, err))
            continue

        if type_code == AttrType.MP_REACH_NLRI:
            mp_reach = decode_mp_reach(value, raw, negotiated)
        elif type_code == AttrType.MP_UNREACH_NLRI:
            mp_unreach = decode_mp_unreach(value, raw, negotiated)
        else:
            try:
                builder.add(type_code, value, raw, width)
            except BGPError as err:
                # RFC 7606 section 7: most known attributes turn into treat-as-withdraw
                # when malformed, a few are just dropped.
                action = _Action.DISCARD if type_code in _DISCARD_ON_ERROR else _Action.WITHDRAW
                problems.append((action, err))

    attributes = builder.build(width) if seen - set(_MP_TYPES) else None
    problems.extend(_missing(attributes, has_nlri=bool(nlri), has_mp_reach=mp_reach is not None))
    if problems and not revised:
        raise problems[0][1]
    withdraw = next((e for a, e in problems if a is _Action.WITHDRAW), None)
    return Update(
        withdrawn=withdrawn,
        attributes=attributes,
        nlri=nlri,
        mp_reach=mp_reach,
        mp_unreach=mp_unreach,
        treat_as_withdraw=withdraw.notification if withdraw else None,
        discarded=tuple(e.notification for a, e in problems if a is _Action.DISCARD),
    )


def _missing(
    attributes: PathAttributes | None, *, has_nlri: bool, has_mp_reach: bool
) -> list[tuple[_Action, BGPError]]:
    """RFC 4271 section 6.3 Missing Well-known Attribute (Data: its type code), which
    RFC 7606 section 3(d) turns into treat-as-withdraw. Mandatory attributes matter only
    when something is announced; NEXT_HOP only for the classic NLRI (RFC 4760 section 3).
    """
    if not (has_nlri or has_mp_reach):
        return []
    attrs = attributes or PathAttributes(origin=None, as_path=None)
    required: list[tuple[AttrType, object]] = [
        (AttrType.ORIGIN, attrs.origin),
        (AttrType.AS_PATH, attrs.as_path),
    ]
    if has_nlri:
        required.append((AttrType.NEXT_HOP, attrs.next_hop))
    return [
        (
            _Action.WITHDRAW,
            _error(
                UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
                f"missing well-known attribute {code.name}",
                bytes([code]),
            ),
        )
        for code, present in required
        if present is None
    ]
