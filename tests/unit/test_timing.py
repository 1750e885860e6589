"""The one backoff policy (metallb.timing.Backoff) in the shapes its users take: client-go's
jittered reflector delays, upstream's BGP redial (immediate first), the per-key workqueue."""

from __future__ import annotations

import random

import pytest

from metallb.k8s.backoff import ItemBackoff, JitteredBackoff
from metallb.net.bgp.options import ReconnectBackoff
from metallb.timing import Backoff


def test_growth_is_capped_and_reset_starts_over() -> None:
    b = Backoff(0.5, 3.0, factor=3.0)
    assert [b.next() for _ in range(4)] == [0.5, 1.5, 3.0, 3.0]
    assert b.attempts == 4
    b.reset()
    assert (b.next(), b.attempts) == (0.5, 1)


def test_jitter_stays_between_the_delay_and_its_stretch_under_the_cap() -> None:
    b = JitteredBackoff(0.8, 30.0, rng=random.Random(7))
    for n in range(12):
        base = min(0.8 * 2**n, 30.0)
        delay = b.next()
        assert base <= delay <= min(base * 2, 30.0)
    # Jitter actually varies the delays (a fixed factor would not spread reconnects).
    spread = {round(JitteredBackoff(1, 100, rng=random.Random(s)).next(), 6) for s in range(5)}
    assert len(spread) == 5


def test_immediate_first_then_doubling() -> None:
    b = ReconnectBackoff(initial=2, cap=9)
    assert [b.next() for _ in range(6)] == [0, 2, 4, 8, 9, 9]
    assert (b.delay(0), b.delay(1)) == (0, 2), "delay() counts nothing"
    assert b.attempts == 6


def test_item_backoff_counts_each_key_apart() -> None:
    q: ItemBackoff[str] = ItemBackoff(base=1, cap=4)
    assert [q.when("a"), q.when("a"), q.when("b"), q.when("a"), q.when("a")] == [1, 2, 1, 4, 4]
    q.forget("a")
    assert (q.when("a"), q.failures("b")) == (1, 1)


@pytest.mark.parametrize(
    "kw",
    [
        {"initial": 0, "cap": 1},
        {"initial": 2, "cap": 1},
        {"initial": 1, "cap": 2, "factor": 0.5},
        {"initial": 1, "cap": 2, "jitter": -1},
    ],
)
def test_nonsense_is_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="need 0 < initial <= cap"):
        Backoff(**kw)  # type: ignore[arg-type]
