"""client-go's delay policies, on :class:`metallb.timing.Backoff`.

- :class:`ItemBackoff` is the per-key failure counter behind
  ``WorkQueue.add_rate_limited``: ``base * 2**failures``, capped, reset by
  ``forget``. It is deterministic so tests can assert exact delays. The
  defaults (5 ms base, 1000 s cap) are client-go's default per-item limiter.
  client-go's default controller limiter also has an overall token bucket
  (10 qps, burst 100); we leave it out on purpose: it exists to protect the
  apiserver from a hot loop of many keys, and our runner's writes are already
  bounded by the number of workers.
- :class:`JitteredBackoff` spaces out an informer's reconnects after errors,
  with random jitter so that many informers (or many speakers) that lost the
  apiserver at the same moment do not all come back at the same moment.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Generic, TypeVar

from metallb.timing import Backoff

K = TypeVar("K", bound=Hashable)

DEFAULT_ITEM_BASE = 0.005
DEFAULT_ITEM_CAP = 1000.0


class ItemBackoff(Generic[K]):
    """Exponential delay per key: ``base * 2**n`` after ``n`` earlier failures, at most ``cap``."""

    def __init__(self, base: float = DEFAULT_ITEM_BASE, cap: float = DEFAULT_ITEM_CAP) -> None:
        self._policy = Backoff(base, cap)
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """Record one more failure of ``key`` and return how long to wait before retrying it."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return self._policy.delay(n)

    def forget(self, key: K) -> None:
        """The key succeeded (or was given up): its next failure starts from ``base`` again."""
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)


class JitteredBackoff(Backoff):
    """Growing delays with jitter: the n-th delay lies in ``[d, d * (1 + jitter)]``, capped.

    ``d`` is ``initial * factor**n``. The defaults follow client-go's reflector
    (800 ms initial, 30 s cap, factor 2, jitter 1.0).
    """

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(initial, cap, factor=factor, jitter=jitter, rng=rng)
