"""Restartable one-shot timers on an injectable clock: the HoldTimer and KeepaliveTimer
of RFC 4271 section 10.

A :class:`Timer` calls ``fire`` once its deadline passes. Restarting only moves the
deadline; the sleeping task notices when it wakes, so restarting on every received
message (RFC 4271 section 8.2.2, "restarts its HoldTimer") costs no new task. Only a
deadline earlier than the one being slept towards (the negotiated hold time replacing
the 4-minute OpenSent one) replaces the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from metallb.timing import Clock


class Timer:
    def __init__(self, clock: Clock, fire: Callable[[], None]) -> None:
        self._clock = clock
        self._fire = fire
        self._deadline: float | None = None
        self._wake: float | None = None  # when the sleeping task wakes up next
        self._task: asyncio.Task[None] | None = None

    def start(self, seconds: float) -> None:
        """(Re)start: fire ``seconds`` from now."""
        deadline = self._clock.now() + seconds
        self._deadline = deadline
        running = self._task is not None and not self._task.done()
        if running and (self._wake is None or self._wake <= deadline):
            return  # the task will see the new deadline when it wakes
        self.cancel_task()
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        self._deadline = None
        self.cancel_task()

    @property
    def expired(self) -> bool:
        """True if the timer is armed and its deadline has passed (a queued expiry is
        stale if the timer was restarted meanwhile)."""
        return self._deadline is not None and self._deadline <= self._clock.now()

    def cancel_task(self) -> asyncio.Task[None] | None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        return task

    async def _run(self) -> None:
        while self._deadline is not None:
            remaining = self._deadline - self._clock.now()
            if remaining <= 0:
                self._fire()
                return
            self._wake = self._deadline
            await self._clock.sleep(remaining)
            self._wake = None
