"""Time as a dependency: the workqueue and the runner ask a :class:`Clock` for it.

Production code uses :class:`LoopClock`, the running event loop's monotonic
clock. Tests use :class:`FakeClock` and move time with :meth:`FakeClock.step`,
so delays and backoffs are checked without sleeping and without flaking (the
way client-go's ``delaying_queue_test.go`` drives its fake clock).

The only operations the queue needs are "what time is it" and "call me after
this delay", so that is the whole interface; no timer thread or background
task is involved.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled (``asyncio.TimerHandle`` fits)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds and one-shot timers."""

    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


class LoopClock:
    """The running event loop's clock; timers are ``loop.call_later``."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that only moves when told to; due timers fire inside :meth:`step`."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, _FakeTimer]] = []

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _FakeTimer(self._now + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    def step(self, seconds: float) -> None:
        """Advance time; fire every timer that falls due, earliest first.

        While a callback runs, ``now()`` reads that timer's deadline, as if the
        time had passed in real life; callbacks scheduled from inside a
        callback fire in the same step if they fall due within it.
        """
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = when
            timer.callback()
        self._now = target

    @property
    def pending(self) -> int:
        """How many timers are still scheduled (cancelled ones excluded)."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)
