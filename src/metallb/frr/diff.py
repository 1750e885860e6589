"""The smallest vtysh script that turns one FRR configuration into another.

The FRR backend (:mod:`metallb.net.frr`) applies each new rendering
(:func:`metallb.frr.render.render`) as a delta against the text it applied
last: only the lines that changed are sent, in one ``vtysh -f`` run, so a prefix added
to a table of 10,000 costs one or two commands, and an unchanged neighbour is never
touched. FRR's own ``frr-reload.py`` does the same job generically, but it reads and
parses ``show running-config`` twice, sends the whole set of added lines twice and runs
one ``vtysh -c`` process per removed line (about 34 ms each), which made 1,000 prefixes
take 50 s.

The model is FRR's configuration as contexts: the top level (``()``), a top-level
block such as ``("router bgp 64512",)``, ``("route-map mlb-x-out permit 7",)`` or
``("bfd",)``, and a block inside one, such as ``("router bgp 64512", "address-family
ipv6 unicast")`` or ``("bfd", "profile fast")``. Each context holds a set of lines
(leading blanks stripped); order inside a context does not matter to FRR for what we
render. :func:`parse` reads our rendering and FRR's ``show running-config`` alike.

What :func:`delta` knows about FRR's commands (checked against FRR 8.4 by
``tests/integration/frr``):

- removals first, then additions; removals go ``router bgp`` blocks (VRF instances
  before the default one, which FRR refuses to delete while they exist), then ``bfd``,
  route maps, and top-level lines (prefix lists); additions follow the new text's order;
- a removed block goes in one command (``no router bgp ...``, ``no route-map NAME
  permit N``, ``no profile NAME``) and its lines are not removed one by one; blocks
  FRR cannot remove whole (``address-family``, ``bfd``, ``interface``) lose their lines
  one by one;
- a removed neighbour goes with ``no neighbor KEY``, which takes all its lines, in every
  address family, with it;
- a line that holds a single value (``neighbor KEY remote-as``, ``... timers``,
  ``network PREFIX ...``, ``bgp router-id``, ``set community``, ``match ...``, a BFD
  interval, ...) is replaced by sending the new line alone: ``no neighbor KEY
  remote-as X`` would delete the whole neighbour, and ``no network P`` followed by
  ``network P route-map R`` would withdraw and re-announce the prefix;
- any other removed line is negated (``no LINE``, or ``LINE`` for a ``no ...`` line),
  in reverse order, so that ``neighbor KEY bfd profile P`` goes before ``neighbor KEY
  bfd``.

Pure: no I/O, no asyncio.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Key = tuple[str, ...]
"""A context: ``()`` for the top level, then one header per level."""

TOP = re.compile(r"(router |route-map |interface |vrf |bfd$|line vty$)")
SUB = re.compile(r"(address-family |profile |peer |vni )")
# Lines that carry no configuration, or none the running daemons can change.
IGNORED = re.compile(
    r"(!|end$|exit$|exit-address-family$|exit-vrf$|frr version |frr defaults |"
    r"service integrated-vtysh-config$|Building configuration|Current configuration)"
)
# What the backend writes at the top level of a running configuration (the rest, such
# as zebra's "no ip forwarding", is not ours to remove).
OWNED_LINES = ("ip prefix-list ", "ipv6 prefix-list ", "log file ")
OWNED_BLOCKS = ("router bgp", "route-map ", "bfd")
# How FRR shows some of our lines.
SHOWN_AS = ((re.compile(r"(neighbor \S+ ebgp-multihop) 255$"), r"\1"),)
# Blocks removed by one "no <header>" command (their lines go with them).
REMOVABLE_TOP = ("router bgp ", "route-map ")
REMOVABLE_SUB = ("profile ", "peer ")


@dataclass(frozen=True)
class Config:
    """Contexts in document order, each with its lines (stripped, in document order)."""

    contexts: Mapping[Key, tuple[str, ...]]

    def lines(self, key: Key) -> tuple[str, ...]:
        return self.contexts.get(key, ())

    def model(self) -> dict[Key, frozenset[str]]:
        """What FRR would hold: each context's lines as a set."""
        return {k: frozenset(v) for k, v in self.contexts.items()}


def parse(text: str) -> Config:
    """Contexts and lines of an ``frr.conf`` (ours, or FRR's ``show running-config``).

    Blocks are recognised by their header (``router``, ``route-map``, ``bfd``, ...) at
    the left margin and, inside one, by an indented sub-header (``address-family``,
    ``profile``); a line belongs to the innermost open block at a smaller indentation.
    Comments (``!``), ``exit`` lines and version banners are dropped.
    """
    contexts: dict[Key, list[str]] = {(): []}
    top: str | None = None
    sub: str | None = None
    sub_depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or IGNORED.match(line):
            continue
        depth = len(raw) - len(raw.lstrip(" "))
        if depth == 0:
            sub = None
            if TOP.match(line):
                top = line
                contexts.setdefault((top,), [])
            else:
                top = None
                contexts[()].append(line)
            continue
        if top is None:  # an indented line outside any block: FRR reads it at the top
            contexts[()].append(line)
            continue
        if sub is not None and depth > sub_depth:
            contexts[(top, sub)].append(line)
            continue
        if SUB.match(line):
            sub, sub_depth = line, depth
            contexts.setdefault((top, sub), [])
            continue
        sub = None
        contexts[(top,)].append(line)
    if not contexts[()]:
        del contexts[()]
    return Config({k: tuple(dict.fromkeys(v)) for k, v in contexts.items()})


def owned(running: Config, bfdd: Config | None = None) -> Config:
    """The part of FRR's running configuration the backend manages, in the form it
    renders it: prefix lists, ``log file``, ``router bgp``, route maps and ``bfd``.

    Diffing a new rendering against this (the first apply after a start, when the
    speaker does not know what a previous run left) removes the stale parts of ours and
    leaves alone what FRR or its packaging configured (interfaces, forwarding).

    Read ``running`` from bgpd alone (``show running-config bgpd``) and the ``bfd``
    block from bfdd (``bfdd``): vtysh's plain ``show running-config`` merges all
    daemons, so after bgpd restarts it still lists the prefix lists and route maps
    zebra holds, and bgpd would never get them back.
    """
    out: dict[Key, tuple[str, ...]] = {}
    merged = dict(running.contexts)
    if bfdd is not None:
        merged = {k: v for k, v in merged.items() if not (k and k[0] == "bfd")}
        merged |= {k: v for k, v in bfdd.contexts.items() if k and k[0] == "bfd"}
    for key, lines in merged.items():
        if key and not key[0].startswith(OWNED_BLOCKS):
            continue
        mine = [line for line in lines if key or line.startswith(OWNED_LINES)]
        if not key and not mine:
            continue
        shown = []
        for line in mine:
            text = line
            for pattern, ours in SHOWN_AS:
                text = pattern.sub(ours, text)
            shown.append(text)
        out[key] = tuple(dict.fromkeys(shown))
    return Config(out)


def slot(line: str) -> str | None:
    """What a single-valued line sets (a new line for the same slot replaces the old
    one in FRR), or None for a line that is simply there or not."""
    words = line.split()
    if not words:
        return None
    head = words[0]
    if head == "neighbor" and len(words) >= 3:
        key, rest = words[1], words[2:]
        if rest[0] == "interface" and len(rest) > 1:
            rest = rest[1:]
        if rest[0] in ("remote-as", "port", "password", "update-source", "local-as"):
            return f"neighbor {key} {rest[0]}"
        if rest[:2] == ["timers", "connect"]:
            return f"neighbor {key} timers connect"
        if rest[0] == "timers":
            return f"neighbor {key} timers"
        if rest[:2] == ["bfd", "profile"]:
            return f"neighbor {key} bfd profile"
        if rest[0] == "route-map" and len(rest) == 3:
            return f"neighbor {key} route-map {rest[2]}"
        return None
    if head == "network" and len(words) >= 2:
        return f"network {words[1]}"
    if words[:2] == ["bgp", "router-id"] or words[:2] == ["log", "file"]:
        return " ".join(words[:2])
    if head == "hostname":
        return head
    if head == "set" and len(words) >= 3:
        return f"set {words[1]}"
    if head == "match" and len(words) >= 3:
        return " ".join(words[:-1])
    if head in ("receive-interval", "transmit-interval", "detect-multiplier", "minimum-ttl"):
        return head
    if head == "echo" and len(words) == 3:
        return f"echo {words[1]}"
    return None


def negate(line: str) -> str:
    return line[3:] if line.startswith("no ") else f"no {line}"


def neighbors(lines: Iterable[str]) -> set[str]:
    """The neighbour keys a router block defines (those with a ``remote-as`` line)."""
    out = set()
    for line in lines:
        s = slot(line)
        if s is not None and s.startswith("neighbor ") and s.endswith(" remote-as"):
            out.add(s.split()[1])
    return out


def _exit(header: str) -> str:
    return "exit-address-family" if header.startswith("address-family ") else "exit"


def _vrf_router(header: str) -> bool:
    return header.startswith("router bgp ") and " vrf " in header


def _removal_rank(key: Key) -> int:
    head = key[0] if key else ""
    if head.startswith("router "):
        return 0 if _vrf_router(head) else 1
    if head == "bfd":
        return 2
    if head.startswith("route-map "):
        return 3
    return 4


def _removed_lines(old: tuple[str, ...], new: tuple[str, ...], gone: set[str]) -> list[str]:
    """``no`` lines for what ``old`` has and ``new`` lacks, in reverse order, leaving out
    single-valued lines ``new`` overwrites and the lines of removed neighbours."""
    kept, slots = set(new), {slot(line) for line in new} - {None}
    out = []
    for line in reversed(old):
        if line in kept or slot(line) in slots:
            continue
        words = line.split()
        if len(words) >= 2 and words[0] == "neighbor" and words[1] in gone:
            continue
        out.append(negate(line))
    return out


def delta(old: Config, new: Config) -> list[str]:
    """A vtysh script (from configuration mode) that turns ``old`` into ``new``; empty
    when they are the same."""
    tops_old = [k for k in old.contexts if len(k) <= 1]
    dropped = {
        k[0] for k in tops_old if k and k not in new.contexts and k[0].startswith(REMOVABLE_TOP)
    }
    if any(h.startswith("router bgp ") and not _vrf_router(h) for h in dropped):
        # FRR keeps the default instance while VRF instances exist: they go first, and
        # come back whole.
        dropped |= {k[0] for k in tops_old if k and _vrf_router(k[0])}
    removals: list[tuple[int, int, list[str]]] = []
    for index, top in enumerate(tops_old):
        block: list[str] = []
        header = top[0] if top else None
        if header in dropped:
            removals.append((_removal_rank(top), -index, [f"no {header}"]))
            continue
        gone = (
            neighbors(old.lines(top)) - neighbors(new.lines(top))
            if header and header.startswith("router bgp")
            else set()
        )
        subs = [k for k in old.contexts if len(k) == 2 and k[0] == header]
        for sub in reversed(subs):
            if sub not in new.contexts and sub[1].startswith(REMOVABLE_SUB):
                block += [f" no {sub[1]}"]
                continue
            lines = _removed_lines(old.lines(sub), new.lines(sub), gone)
            if lines:
                block += [f" {sub[1]}", *(f"  {line}" for line in lines), f" {_exit(sub[1])}"]
        own = _removed_lines(old.lines(top), new.lines(top), gone)
        own += [f"no neighbor {key}" for key in sorted(gone)]
        if header is None:
            block = own
        elif block or own:
            block = [header, *block, *(f" {line}" for line in own), "exit"]
        if block:
            removals.append((_removal_rank(top), -index, block))
    script = [line for *_, block in sorted(removals) for line in block]

    for top in (k for k in new.contexts if len(k) <= 1):
        header = top[0] if top else None
        fresh = top not in old.contexts or header in dropped
        present = set() if fresh else set(old.lines(top))
        own = [line for line in new.lines(top) if line not in present]
        block = []
        for sub in (k for k in new.contexts if len(k) == 2 and k[0] == header):
            had = set() if fresh or sub not in old.contexts else set(old.lines(sub))
            added = [line for line in new.lines(sub) if line not in had]
            if added or fresh or sub not in old.contexts:
                block += [f" {sub[1]}", *(f"  {line}" for line in added), f" {_exit(sub[1])}"]
        if header is None:
            script += own
        elif fresh or own or block:
            script += [header, *(f" {line}" for line in own), *block, "exit"]
    return script
