"""bench/faults_controller.py's verdict: each rule of the crash-during-a-burst row bites.

The integration test (tests/integration/controller/test_faults.py) asserts the verdict
is empty after a real crash; these outcomes are made up to show that it would not be,
had the controller broken any of the rules.
"""

from __future__ import annotations

from bench.faults_controller import Burst, IPs, Outcome, verdict

BURST = Burst("ns", None, served=20, groups=2, clashes=2)


def correct() -> IPs:
    """What a correct controller leaves: plain ones on their own IPs, groups on their
    requested IP, the first of each clash pair on its requested IP, the second pending."""
    after: IPs = {n: (f"2001:db8:fa17::{i:x}",) for i, n in enumerate(BURST.plain())}
    for g, group in enumerate(BURST.share_groups()):
        after |= dict.fromkeys(group, (BURST.requested_ip(g),))
    for c, (win, lose) in enumerate(BURST.clash_pairs()):
        after[win] = (BURST.requested_ip(BURST.groups + c),)
        after[lose] = ()
    return after


def outcome(after: IPs, before: IPs | None = None) -> Outcome:
    failures = {
        lose: ["Failed to allocate IP: address also in use by ns/x"]
        for _, lose in BURST.clash_pairs()
    }
    return Outcome(before=before or {}, after=after, failures=failures)


def test_a_correct_outcome_passes() -> None:
    assert len(BURST.services()) == BURST.total() == 22
    assert verdict(BURST, outcome(correct(), before=correct())) == []


def test_each_broken_rule_is_reported() -> None:
    plain = BURST.plain()
    (win, lose) = BURST.clash_pairs()[0]

    both = correct() | {lose: correct()[win]}
    assert any("clash" in p for p in verdict(BURST, outcome(both)))

    double = correct() | {plain[1]: correct()[plain[0]]}
    assert any("incompatible" in p for p in verdict(BURST, outcome(double)))

    moved = verdict(BURST, outcome(correct(), before={plain[0]: ("2001:db8:fa17::ff",)}))
    assert any("moved" in p for p in moved)

    unserved = verdict(BURST, outcome(correct() | {plain[0]: ()}))
    assert any(f"{plain[0]} has no IP" in p for p in unserved)

    foreign = verdict(BURST, outcome(correct() | {plain[0]: ("192.0.2.1",)}))
    assert any("not from the pools" in p for p in foreign)

    silent = outcome(correct())
    silent.failures = {}
    assert any("without an AllocationFailed Event" in p for p in verdict(BURST, silent))

    split = correct() | {BURST.share_groups()[0][0]: ("2001:db8:fa17::fe",)}
    assert any("sharing group 0" in p for p in verdict(BURST, outcome(split)))
