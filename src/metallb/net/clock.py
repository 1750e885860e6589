"""The production :class:`metallb.timing.Clock`: the running event loop's.

It sits in the network adapter, the lowest layer that may touch asyncio, so that both
the BGP sessions here and the Kubernetes workqueue above share it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from metallb.timing import TimerHandle


class LoopClock:
    """The running event loop's monotonic clock; timers are ``loop.call_later``."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
