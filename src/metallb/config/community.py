"""BGP community values: ``A:B`` (RFC 1997, 16 bits each) and ``large:A:B:C`` (RFC 8092).

A string that is neither shape may still be an alias defined by a Community object, so
:func:`parse_community` distinguishes a malformed value (``1:99999``, always an error)
from a string that does not look like a value at all (``no-export``, an alias candidate).
"""

from __future__ import annotations

from dataclasses import dataclass

from metallb.config.gotext import go_quote

LARGE_MARKER = "large"


class CommunityError(ValueError):
    """Looks like a community value but is not a valid one."""


class NotACommunity(ValueError):  # noqa: N818 (it is a verdict, not a failure)
    """Does not have the shape of a community value (it may be an alias name)."""


@dataclass(frozen=True, order=True)
class Community:
    """A parsed community; ``large`` is False for the classic 32-bit kind.

    Ordered as upstream sorts them: a classic ``A:B`` compares like ``(A<<16|B):0:0``.
    """

    sort_key: tuple[int, int, int]
    large: bool

    @classmethod
    def classic(cls, asn: int, value: int) -> Community:
        return cls(((asn << 16) | value, 0, 0), False)

    def __str__(self) -> str:
        a, b, c = self.sort_key
        if self.large:
            return f"{LARGE_MARKER}:{a}:{b}:{c}"
        return f"{a >> 16}:{a & 0xFFFF}"


def _field(text: str, part: str, bits: int) -> int:
    # Go's ParseUint: decimal digits only, no sign, no spaces, no underscores.
    if not part.isascii() or not part.isdigit() or int(part) >= 1 << bits:
        # community.New's text, with strconv.ParseUint's error quoted as upstream does.
        why = "value out of range" if part.isascii() and part.isdigit() else "invalid syntax"
        err = f"strconv.ParseUint: parsing {go_quote(part)}: {why}"
        raise CommunityError(
            f"invalid community value: invalid section {go_quote(part)} of community "
            f"{go_quote(text)}, err: {go_quote(err)}"
        )
    return int(part)


def parse_community(text: str) -> Community:
    """Parse ``A:B`` or ``large:A:B:C``; raise CommunityError or NotACommunity."""
    parts = text.split(":")
    if len(parts) == 2:
        return Community.classic(_field(text, parts[0], 16), _field(text, parts[1], 16))
    if len(parts) == 4:
        if parts[0] != LARGE_MARKER:
            raise CommunityError(
                "invalid community value: invalid marker for large community, expected "
                "community to be of format large:<uint32>:<uint32>:<uint32> but got "
                f"{go_quote(text)} instead"
            )
        a, b, c = (_field(text, p, 32) for p in parts[1:])
        return Community((a, b, c), True)
    raise NotACommunity(f"invalid community format: {text}")
