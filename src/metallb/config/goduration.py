"""Go ``time.Duration`` text, as Kubernetes ``metav1.Duration`` fields carry it.

Upstream parses ``holdTime: 90s`` with Go's ``time.ParseDuration`` and prints durations
with ``Duration.String()`` (``2m0s``); users' YAML and the converter's output depend on
both, so we reproduce them exactly, in integer nanoseconds to avoid float rounding.
"""

from __future__ import annotations

import re

from metallb.config.gotext import go_quote

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
_MAX = 2**63 - 1  # Go durations are int64 nanoseconds

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([a-z\u00b5\u03bc]+)")


class DurationError(ValueError):
    """The text is not a Go duration."""


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go duration such as ``1h30m``, ``90s``, ``-1.5ms`` or ``0``."""
    s = text
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise DurationError(f"time: invalid duration {go_quote(text)}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None or (not m.group(1) and not m.group(2)):
            raise DurationError(f"time: invalid duration {go_quote(text)}")
        whole, frac, unit = m.group(1), m.group(2) or "", m.group(3)
        if unit not in _UNITS:
            raise DurationError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            # Go truncates the fractional part towards zero at nanosecond precision.
            value += int(frac) * scale // 10 ** len(frac)
        total += value
        if total > _MAX + (1 if sign < 0 else 0):
            raise DurationError(f"time: invalid duration {go_quote(text)}")
        pos = m.end()
    return sign * total


def _frac(v: int, digits: int) -> tuple[str, int]:
    """Format ``v % 10**digits`` as Go does: a dot and digits without trailing zeros."""
    out = ""
    printed = False
    for _ in range(digits):
        d = v % 10
        printed = printed or d != 0
        if printed:
            out = str(d) + out
        v //= 10
    return ("." + out if printed else ""), v


def format_duration(ns: int) -> str:
    """Go's ``Duration.String()``: ``0s``, ``1.5s``, ``2m0s``, ``1h0m0s``, ``250ms``."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < SECOND:
        if u < MICROSECOND:
            text = f"{u}ns"
        elif u < MILLISECOND:
            frac, whole = _frac(u, 3)
            text = f"{whole}{frac}\u00b5s"
        else:
            frac, whole = _frac(u, 6)
            text = f"{whole}{frac}ms"
    else:
        frac, secs = _frac(u, 9)
        text = f"{secs % 60}{frac}s"
        mins = secs // 60
        if mins:
            text = f"{mins % 60}m{text}"
            hours = mins // 60
            if hours:
                text = f"{hours}h{text}"
    return ("-" if neg else "") + text
