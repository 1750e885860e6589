"""The test clock: a :class:`metallb.timing.Clock` that moves only when told to.

Production code uses :class:`metallb.net.clock.LoopClock`. Tests of the workqueue and
the runner move a :class:`FakeClock` with :meth:`FakeClock.step`, those of the BGP
session with :meth:`FakeClock.advance`, so delays and backoffs are checked without
sleeping and without flaking (the way client-go's ``delaying_queue_test.go`` drives its
fake clock). No timer thread or background task is involved.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from metallb.timing import TimerHandle

# Sums of float delays may land a hair short of the deadline they add up to.
_EPSILON = 1e-9


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
        self.sleeps: list[float] = []  # every duration :meth:`sleep` was asked for, in order

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
        while self._timers and self._timers[0][0] <= target + _EPSILON:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = when
            timer.callback()
        self._now = target

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`step` (or :meth:`advance`) has moved ``seconds`` on."""
        self.sleeps.append(seconds)
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not woken.done():  # a cancelled sleeper's future is done already
                woken.set_result(None)

        self.call_later(seconds, wake)
        await woken

    async def advance(self, seconds: float) -> None:
        """:meth:`step`, with the tasks waiting on the loop let run before and after."""
        await settle()
        self.step(seconds)
        await settle()

    @property
    def pending(self) -> int:
        """How many timers are still scheduled (cancelled ones excluded)."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)


async def settle() -> None:
    """Let tasks and socket callbacks that are ready run (a few real loop turns)."""
    for _ in range(5):
        await asyncio.sleep(0.005)
