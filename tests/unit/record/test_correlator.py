"""The Event correlator makes client-go's decisions (tools/record/events_cache.go), driven
with explicit times: no clock, no sleeping."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metallb.record import COMBINED_PREFIX, EventCorrelator, ObjectRef, Occurrence, Source, Write
from metallb.record.correlator import aggregate_key, event_name, logged_key

T0 = 1_800_000_000.0  # a wall-clock time, in seconds
CONTROLLER = Source("metallb-controller")
T0_NANOS = int(T0 * 1e9)
SVC = ObjectRef(kind="Service", namespace="ns", name="web", uid="u-1", resource_version="7")


def occ(
    message: str = "no available IPs",
    *,
    at: float = T0,
    ref: ObjectRef = SVC,
    reason: str = "AllocationFailed",
    type_: str = "Warning",
    source: Source = CONTROLLER,
) -> Occurrence:
    return Occurrence(ref=ref, source=source, type=type_, reason=reason, message=message, at=at)


def run(c: EventCorrelator, occurrences: list[Occurrence]) -> list[Write | None]:
    """Correlate each at its own time and report each write as done (as the writer does)."""
    out = []
    for o in occurrences:
        w = c.correlate(o, o.at)
        if w is not None:
            c.observed(w.key, name=w.name, count=w.count, first=w.first)
        out.append(w)
    return out


def test_identical_events_patch_the_first_object() -> None:
    writes = run(EventCorrelator(), [occ(at=T0 + i) for i in range(3)])
    assert all(w is not None for w in writes)
    first, second, third = writes
    assert first is not None
    assert second is not None
    assert third is not None
    assert (first.count, first.update, first.first, first.last) == (1, False, T0, T0)
    assert first.name == event_name("web", int(T0 * 1e9)) == f"web.{int(T0 * 1e9):x}"
    assert (second.name, second.count, second.update) == (first.name, 2, True)
    assert (third.name, third.count, third.first, third.last) == (first.name, 3, T0, T0 + 2)
    assert first.namespace == "ns"


def test_a_burst_is_cut_at_25_and_the_next_write_counts_what_was_dropped() -> None:
    c = EventCorrelator()
    writes = run(c, [occ(at=T0) for _ in range(100)])
    sent = [w for w in writes if w is not None]
    assert [w.count for w in sent] == list(range(1, 26))
    assert {w.name for w in sent} == {sent[0].name}
    assert writes[25:] == [None] * 75
    # One token comes back after 5 minutes; the patch carries every occurrence so far.
    (late,) = run(c, [occ(at=T0 + 300)])
    assert late is not None
    assert (late.name, late.count, late.first, late.last) == (sent[0].name, 101, T0, T0 + 300)


def test_one_failure_every_5_minutes_is_never_dropped() -> None:
    writes = run(EventCorrelator(), [occ(at=T0 + 300 * i) for i in range(100)])
    assert all(w is not None for w in writes)
    last = writes[-1]
    assert last is not None
    assert (last.count, last.first, last.last) == (100, T0, T0 + 300 * 99)
    assert len({w.name for w in writes if w is not None}) == 1


@pytest.mark.parametrize(
    ("spacing", "written"),
    [
        (0.0, 25),  # the burst
        (100.0, 25 + 99 * 100 // 300),  # burst plus one token per 300 s
        (227.0, 99),  # (n-1)(1 - d/300) <= 24 fails only at the very end
        (228.0, 100),
    ],
)
def test_the_bucket_refills_one_token_per_300_seconds(spacing: float, written: int) -> None:
    writes = run(EventCorrelator(), [occ(at=T0 + spacing * i) for i in range(100)])
    assert sum(w is not None for w in writes) == written


def test_each_object_and_type_has_its_own_bucket() -> None:
    other = replace(SVC, name="db", uid="u-2")
    c = EventCorrelator()
    burst = [occ(ref=r, at=T0) for r in (SVC, other) for _ in range(26)]
    writes = run(c, burst)
    assert sum(w is not None for w in writes[:26]) == 25
    assert sum(w is not None for w in writes[26:]) == 25
    # Another type on an exhausted object, and another source, still pass.
    (normal,) = run(c, [occ(type_="Normal", reason="IPAllocated", message="Assigned IP")])
    (speaker,) = run(c, [occ(source=Source("metallb-speaker"))])
    assert normal is not None
    assert speaker is not None
    # Another reason of the same type shares the object's bucket: dropped.
    assert run(c, [occ(reason="ClearAssignment", message="x")]) == [None]


def test_ten_different_messages_in_10_minutes_are_combined() -> None:
    c = EventCorrelator()
    writes = run(c, [occ(f"message {i}", at=T0 + i) for i in range(12)])
    assert all(w is not None for w in writes)
    singles = [w for w in writes[:9] if w is not None]
    assert [w.count for w in singles] == [1] * 9
    assert len({w.name for w in singles}) == 9
    combined = [w for w in writes[9:] if w is not None]
    assert [w.message for w in combined] == [COMBINED_PREFIX + f"message {i}" for i in (9, 10, 11)]
    assert [w.count for w in combined] == [1, 2, 3]
    assert len({w.name for w in combined}) == 1
    assert combined[0].name not in {w.name for w in singles}
    assert combined[0].key == aggregate_key(occ())
    # The oldest remembered messages were dropped to stay under 10: "message 0" is one
    # of them, so it is combined; "message 8" is still remembered, so it is counted.
    again0, again8 = run(c, [occ("message 0", at=T0 + 20), occ("message 8", at=T0 + 21)])
    assert again0 is not None
    assert again8 is not None
    assert (again0.name, again0.count) == (combined[0].name, 4)
    assert (again8.name, again8.count) == (singles[8].name, 2)


def test_similar_events_more_than_10_minutes_apart_start_afresh() -> None:
    c = EventCorrelator()
    run(c, [occ(f"message {i}", at=T0 + i) for i in range(9)])
    (tenth,) = run(c, [occ("message 9", at=T0 + 8 + 601)])
    assert tenth is not None
    assert (tenth.message, tenth.count) == ("message 9", 1)


def test_observed_state_from_the_server_is_continued() -> None:
    """An object found at start-up (or returned by the apiserver) is patched from its count."""
    c = EventCorrelator()
    existing = occ(at=T0 - 3600)
    c.observed(logged_key(existing), name="web.abc", count=7, first=T0 - 3600)
    (w,) = run(c, [occ(at=T0)])
    assert w is not None
    assert (w.name, w.count, w.first, w.update) == ("web.abc", 8, T0 - 3600, True)
    combined = occ(COMBINED_PREFIX + "message 3")
    assert logged_key(combined) == aggregate_key(combined)


def test_the_caches_forget_the_least_recently_used_entries() -> None:
    c = EventCorrelator(cache_size=2)
    refs = [replace(SVC, name=n, uid=n) for n in ("a", "b", "c")]
    first = run(c, [occ(ref=r) for r in refs])
    again = run(c, [occ(ref=refs[2]), occ(ref=refs[0])])
    assert again[0] is not None
    assert first[2] is not None
    assert (again[0].name, again[0].count) == (first[2].name, 2)  # still cached
    assert again[1] is not None
    assert again[1].count == 1  # "a" was evicted: a new object


def test_names_follow_client_go_and_stay_valid() -> None:
    assert event_name("web", 1_500_000_000) == "web.59682f00"
    long = event_name("x" * 250, T0_NANOS)
    assert len(long) <= 253
    assert "." not in long
    assert event_name("Bad_Name", 1) != "Bad_Name.1"
    w = EventCorrelator().correlate(occ(ref=replace(SVC, namespace="")), T0)
    assert w is not None
    assert w.namespace == "default"


def test_two_new_events_in_one_instant_get_different_names() -> None:
    a, b = run(EventCorrelator(), [occ("one"), occ("two")])
    assert a is not None
    assert b is not None
    assert a.name == f"web.{int(T0 * 1e9):x}"
    assert b.name == f"web.{int(T0 * 1e9) + 1:x}"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        EventCorrelator(burst=0)


# -- properties ------------------------------------------------------------------------

step = st.tuples(
    st.sampled_from(["a", "b"]),  # object
    st.sampled_from(["AllocationFailed", "ClearAssignment"]),  # reason
    st.sampled_from([f"m{i}" for i in range(12)]),  # message
    st.sampled_from([0.0, 0.5, 30.0, 299.0, 601.0]),  # time since the previous one
)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=150))
def test_writes_respect_the_bucket_and_patches_count_up(
    steps: list[tuple[str, str, str, float]],
) -> None:
    """Per object: never more writes than the burst plus one per 300 s since its first
    write; a patch names an object created before for the same key, with a higher count
    than that object's previous write; a create never reuses a name."""
    c = EventCorrelator()
    now = T0
    writes_per_object: dict[str, list[float]] = {}
    created: dict[str, tuple[tuple[str, ...], int]] = {}  # name -> (key, last count)
    for obj, reason, message, gap in steps:
        now += gap
        o = occ(message, at=now, reason=reason, ref=replace(SVC, name=obj, uid=obj))
        w = c.correlate(o, now)
        if w is None:
            continue
        c.observed(w.key, name=w.name, count=w.count, first=w.first)
        times = writes_per_object.setdefault(obj, [])
        times.append(now)
        assert len(times) <= 25 + (now - times[0]) / 300 + 1e-9
        if w.update:
            key, count = created[w.name]
            assert key == w.key
            assert w.count > count
        else:
            assert w.name not in created
        created[w.name] = (w.key, w.count)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, 60.0, 300.0, 4000.0]), min_size=1, max_size=120))
def test_identical_events_lose_no_occurrence_from_the_count(gaps: list[float]) -> None:
    """However the spam filter thins them out, the n-th identical Event that is written
    carries count n, on the one object the first created."""
    c = EventCorrelator()
    now, names = T0, set()
    for n, gap in enumerate(gaps, start=1):
        now += gap
        w = c.correlate(occ(at=now), now)
        if w is None:
            continue
        c.observed(w.key, name=w.name, count=w.count, first=w.first)
        assert w.count == n
        names.add(w.name)
    assert len(names) == 1
