"""Time as a dependency, and the one backoff policy. Pure: no event loop, no I/O.

:class:`Clock` is what every adapter that waits asks for the time and for timers: the
Kubernetes workqueue (``call_later``), the BGP session and its hold/keepalive timers
(``now``, ``sleep``). Production passes :class:`metallb.net.clock.LoopClock`, the running
event loop's monotonic clock; tests pass :class:`metallb.k8s.clock.FakeClock` and move
time by hand, so delays and backoffs are checked without sleeping.

:class:`Backoff` is the one growing delay between attempts, with the knobs its users
differ by: client-go's reflector jitters it (:class:`metallb.k8s.backoff.JitteredBackoff`),
upstream's native BGP dials the first attempt at once
(:class:`metallb.net.bgp.options.ReconnectBackoff`), and the workqueue keeps one attempt
count per key (:class:`metallb.k8s.backoff.ItemBackoff`, through :meth:`Backoff.delay`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled (``asyncio.TimerHandle`` fits)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds, one-shot timers, and waiting."""

    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...

    async def sleep(self, seconds: float) -> None: ...


# factor**64 outgrows any cap long before; stopping the exponent there keeps the float finite.
_MAX_EXPONENT = 64


class Backoff:
    """Growing delays before successive attempts, reset once things work.

    Attempt ``n`` (from 0) waits ``d = min(initial * factor**n, cap)``, stretched by a
    random fraction of up to ``jitter`` times itself and capped again. With
    ``immediate_first`` attempt 0 waits nothing and the growth starts at attempt 1.
    """

    def __init__(
        self,
        initial: float,
        cap: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.0,
        immediate_first: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or cap < initial or factor < 1 or jitter < 0:
            raise ValueError("need 0 < initial <= cap, factor >= 1, jitter >= 0")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.immediate_first = immediate_first
        self._rng = rng or random.Random()
        self._attempt = 0

    def delay(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` (0 is the first), without counting it."""
        if self.immediate_first:
            if attempt == 0:
                return 0.0
            attempt -= 1
        base = min(self.initial * self.factor ** min(attempt, _MAX_EXPONENT), self.cap)
        if not self.jitter:
            return base
        return min(base * (1 + self.jitter * self._rng.random()), self.cap)

    def next(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        attempt = self._attempt
        self._attempt += 1
        return self.delay(attempt)

    def reset(self) -> None:
        """Things work again: the next failure starts from the first delay."""
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempt
