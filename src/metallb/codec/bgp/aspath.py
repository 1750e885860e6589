"""AS_PATH and AS4_PATH values (RFC 4271 section 4.3 type 2, RFC 6793).

An AS_PATH is a run of segments::

    +------------------+-------------------+----------------------------+
    | segment type (1) | segment length (1)| ASNs (length x 2 or 4)     |
    +------------------+-------------------+----------------------------+

The ASN width is not in the message: it is 4 octets when both speakers sent the 4-octet
AS capability and 2 otherwise (RFC 6793 section 4), hence the ``width`` argument. When a
2-octet session must carry an ASN above 65535, AS_PATH holds AS_TRANS in its place and
the true path travels in AS4_PATH (RFC 6793 section 4.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from metallb.codec.bgp.errors import BGPError, ErrorCode, UpdateSubcode

AS_TRANS = 23456  # RFC 6793 section 9
_MAX_SEGMENT = 255  # the segment length is one octet


class SegmentType(IntEnum):
    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3  # RFC 5065 section 3
    AS_CONFED_SET = 4


@dataclass(frozen=True)
class AsPathSegment:
    type: int
    asns: tuple[int, ...]

    @classmethod
    def sequence(cls, *asns: int) -> AsPathSegment:
        return cls(SegmentType.AS_SEQUENCE, tuple(asns))


def needs_as4_path(path: tuple[AsPathSegment, ...]) -> bool:
    return any(asn > 0xFFFF for seg in path for asn in seg.asns)


def encode_as_path(path: tuple[AsPathSegment, ...], width: int) -> bytes:
    """Encode segments with ``width``-octet ASNs; ASNs too wide become AS_TRANS.

    Segments longer than 255 ASNs are split, since the length field is one octet.
    """
    out = bytearray()
    for seg in path:
        for start in range(0, max(len(seg.asns), 1), _MAX_SEGMENT):
            chunk = seg.asns[start : start + _MAX_SEGMENT]
            out += bytes([seg.type, len(chunk)])
            for asn in chunk:
                value = asn if width == 4 or asn <= 0xFFFF else AS_TRANS
                out += value.to_bytes(width, "big")
    return bytes(out)


def decode_as_path(value: bytes, width: int) -> tuple[AsPathSegment, ...]:
    """Decode an AS_PATH (or AS4_PATH with width 4); raise Malformed AS_PATH.

    RFC 7606 section 7.2 defines malformed: an unknown segment type, a segment that
    overruns the attribute, a lone trailing octet, or a segment of length zero.
    """
    segments: list[AsPathSegment] = []
    i = 0
    while i < len(value):
        if i + 2 > len(value):
            raise _malformed("a single octet left after the last segment")
        seg_type, count = value[i], value[i + 1]
        if seg_type not in SegmentType._value2member_map_:
            raise _malformed(f"unknown segment type {seg_type}")
        if count == 0:
            raise _malformed("segment of length zero")
        end = i + 2 + count * width
        if end > len(value):
            raise _malformed("segment overruns the attribute")
        asns = tuple(int.from_bytes(value[j : j + width], "big") for j in range(i + 2, end, width))
        segments.append(AsPathSegment(seg_type, asns))
        i = end
    return tuple(segments)


def _malformed(reason: str) -> BGPError:
    # RFC 4271 section 6.3: Malformed AS_PATH carries no data.
    return BGPError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_AS_PATH, reason=reason)


def path_length(path: tuple[AsPathSegment, ...]) -> int:
    """Path length as RFC 4271 section 9.1.2.2 counts it: an AS_SET counts as one and
    confederation segments not at all (RFC 5065 section 5.3)."""
    total = 0
    for seg in path:
        if seg.type == SegmentType.AS_SEQUENCE:
            total += len(seg.asns)
        elif seg.type == SegmentType.AS_SET:
            total += 1
    return total


def merge_as4_path(
    as_path: tuple[AsPathSegment, ...], as4_path: tuple[AsPathSegment, ...]
) -> tuple[AsPathSegment, ...]:
    """Rebuild the true path from AS_PATH and AS4_PATH (RFC 6793 section 4.2.3).

    If AS4_PATH is longer than AS_PATH it is ignored; otherwise the leading ASNs of
    AS_PATH that AS4_PATH does not cover are kept and AS4_PATH is appended.
    """
    if any(
        seg.type in (SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET) for seg in as4_path
    ):
        return as_path  # RFC 6793 section 6: confederation segments in AS4_PATH are bogus
    keep = path_length(as_path) - path_length(as4_path)
    if keep < 0:
        return as_path
    head: list[AsPathSegment] = []
    for seg in as_path:
        if keep <= 0:
            break
        if seg.type == SegmentType.AS_SEQUENCE:
            take = seg.asns[:keep]
            head.append(AsPathSegment(seg.type, take))
            keep -= len(take)
        elif seg.type == SegmentType.AS_SET:
            head.append(seg)
            keep -= 1
        else:
            head.append(seg)
    return (*head, *as4_path)
