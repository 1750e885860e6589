"""Values rendered as Go's ``fmt`` verbs render them, so our texts match upstream's.

Upstream's error messages quote names, CIDRs and durations with ``%q``; an external
test suite greps those texts, so every message that upstream formats with ``%q`` uses
:func:`go_quote` here (never Python's ``!r``, whose single quotes differ).
"""

from __future__ import annotations

_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable() or ch == " ":
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(value: object) -> str:
    """``value`` as Go's ``%q`` prints it: double quotes, ``\\`` and ``"`` escaped.

    Non-string values are formatted with ``str`` first, as ``%q`` does with a value
    that has a ``String`` method (an IP, a CIDR, a duration). Control and
    non-printable characters get Go's escapes (``\\n``, ``\\x00``, ``\\u200b``).
    """
    text = value if isinstance(value, str) else str(value)
    return '"' + "".join(_escape(ch) for ch in text) + '"'
