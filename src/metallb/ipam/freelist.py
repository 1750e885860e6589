"""Finding the lowest free address of a range without scanning from its start.

Upstream walks every pool from its first address for each allocation, so the cost of an
allocation grows with the number of addresses already handed out. A `FreeCursor` keeps
the same answer (the lowest free address, skipping .0/.255 when asked) at amortised O(1):

* `_next`: every address below it is in use, buggy, or recorded in `_freed`;
* `_freed`: a min-heap of addresses below `_next` released since the cursor passed them.
  Entries are removed lazily, so an address taken again by an explicit request simply
  gets popped the next time it reaches the top.

The cursor only moves forward, and each address is stepped over at most once per
configuration load, so a /8 or a /64 costs nothing until it is used, and nothing more
than a small pool afterwards.
"""

from __future__ import annotations

import heapq
from collections.abc import Container


class FreeCursor:
    """The free-address finder of one range of one pool, in integer-key space."""

    __slots__ = ("_freed", "_next", "avoid_buggy", "first", "last")

    def __init__(self, first: int, last: int, *, avoid_buggy: bool) -> None:
        self.first = first
        self.last = last
        self.avoid_buggy = avoid_buggy  # only ever true for IPv4 ranges
        self._next = first
        self._freed: list[int] = []

    def first_free(self, used: Container[int]) -> int | None:
        """The lowest address of the range that is not in `used` (and not buggy), or None."""
        freed = self._freed
        while freed:
            key = freed[0]
            if key not in used:
                return key
            heapq.heappop(freed)
        n, last, avoid = self._next, self.last, self.avoid_buggy
        while n <= last:
            if n in used or (avoid and (n & 0xFF) in (0, 255)):
                n += 1
                continue
            self._next = n
            return n
        self._next = n
        return None

    def release(self, key: int) -> None:
        """Record that `key` became free, so that it is found again before `_next`."""
        if key < self._next:
            heapq.heappush(self._freed, key)
