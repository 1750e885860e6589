"""Our membership against the real hashicorp/memberlist, over UDP and TCP between namespaces.

The Go side is ``tools/mlpeer``: memberlist v0.5.1 (upstream MetalLB's pin) configured as
upstream's speaker configures it (``internal/speakerlist/speakerlist.go``: LAN defaults,
node name, port 7946, the key derived from the Secret). It prints the same JSON lines as
``python -m bench.membership_demo``, so :class:`bench.membership.MembershipLab`
drives both kinds alike. The ARP tests add a client probing a VIP every 100 ms
(``bench/l2_rollout.py``: the Go peers answer it as upstream's Layer 2 speaker, ours with
``bench/l2_member.py``). Bounded waits only: detection times are measured by
``bench/memberlist_interop.py``, the rollout's double answers and gaps by
``bench/l2_rollout.py``.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from bench.l2_rollout import NAMES, mac, roll, start_go_speakers, vip_watch, winner
from bench.membership import GO, PY, MembershipLab, wait_for
from bench.vip_watch import answers

AUTH_DROPS = "metallb_memberlist_dropped_packets_total{reason=auth}"


def _assert_downs(lab: MembershipLab, victim: str, since: float, state: str) -> None:
    for m in lab.live():
        downs = m.events("down", victim, after=since)
        assert downs, f"{m.name} ({m.kind}) never saw {victim} go"
        assert downs[0]["state"] == state, f"{m.name} ({m.kind}) saw {victim} {downs[0]}"


def test_go_peers_form_a_cluster_and_see_a_killed_one_dead(tmp_path: Path) -> None:
    """Three memberlist peers agree on all three at their LAN addresses; after SIGKILL of
    one, the two others declare it dead (not left) and agree on the two of them."""
    with MembershipLab(tmp_path, kinds=[GO, GO, GO]) as lab:
        lab.wait_converged(NAMES, timeout=30)
        for m in lab.members.values():
            ups = {e["name"]: e for e in m.events("up") if e["name"] != m.name}
            assert set(ups) == NAMES - {m.name}
            for name, e in ups.items():
                assert e["state"] == "alive"
                assert e["address"] == [lab.members[name].ip, 7946]
        t0 = lab.kill("node-1")
        wait_for(partial(lab.declared_dead_by_all, "node-1", t0), 30, "node-1 declared dead")
        _assert_downs(lab, "node-1", t0, "dead")
        lab.wait_converged({"node-0", "node-2"}, timeout=30)


def test_mixed_cluster_agrees_both_ways(tmp_path: Path) -> None:
    """Two of ours and two memberlist peers: each of the four sees all four, alive, at
    their LAN addresses; a graceful stop on either side is seen as a leave by the rest."""
    names = NAMES | {"node-3"}
    with MembershipLab(tmp_path, n=4, kinds=[PY, GO, PY, GO]) as lab:
        lab.wait_converged(names, timeout=30)
        for m in lab.members.values():
            ups = {e["name"]: e for e in m.events("up") if e["name"] != m.name}
            assert set(ups) == names - {m.name}, f"{m.name} ({m.kind})"
            for name, e in ups.items():
                assert e["address"] == [lab.members[name].ip, 7946]
        for leaver in ("node-1", "node-2"):  # a memberlist peer, then one of ours
            proc = lab.members[leaver].proc
            t0 = time.monotonic()
            proc.terminate()
            proc.wait(10)
            wait_for(partial(lab.declared_dead_by_all, leaver, t0), 30, f"{leaver} gone")
            _assert_downs(lab, leaver, t0, "left")
            names = names - {leaver}
            lab.wait_converged(names, timeout=30)


def test_killed_members_are_seen_dead_across_implementations(tmp_path: Path) -> None:
    """SIGKILL a memberlist peer: ours and the other peer declare it dead; SIGKILL one of
    ours: the memberlist peers declare it dead."""
    names = NAMES | {"node-3"}
    with MembershipLab(tmp_path, n=4, kinds=[PY, GO, GO, PY]) as lab:
        lab.wait_converged(names, timeout=30)
        for victim in ("node-1", "node-3"):
            t0 = lab.kill(victim)
            wait_for(partial(lab.declared_dead_by_all, victim, t0), 30, f"{victim} dead")
            _assert_downs(lab, victim, t0, "dead")
            names = names - {victim}
            lab.wait_converged(names, timeout=30)
        # The survivors are one of each kind: the last check was across implementations.
        assert {lab.members[n].kind for n in names} == {PY, GO}


def test_the_secret_key_is_required_on_both_sides(tmp_path: Path) -> None:
    """A memberlist peer keyed with another secret never joins our members (who count its
    packets as failed authentication), and one of ours keyed with another secret never
    joins the memberlist peers; the rightly keyed members keep agreeing."""
    with MembershipLab(tmp_path, kinds=[PY, GO, PY]) as lab:
        lab.wait_converged(NAMES, timeout=30)
        lab.add_host("go-intruder", kind=GO)
        lab.add_host("py-intruder", kind=PY)
        t0 = time.monotonic()
        go_intruder = lab.start("go-intruder", secret=b"another-secret")
        py_intruder = lab.start("py-intruder", secret=b"yet-another-secret")

        def dropped() -> int | None:
            s = lab.members["node-0"].stats()
            n = s.get(AUTH_DROPS, 0) if s else 0
            return n if n > 0 and s and s["mono"] > t0 + 5 else None

        wait_for(dropped, 30, "node-0 to count failed authentications for 5 s")
        for name in NAMES:
            m = lab.members[name]
            seen = {e["name"] for e in m.events("up")}
            assert not seen & {"go-intruder", "py-intruder"}, f"{name} ({m.kind}): {seen}"
            assert m.view() == NAMES
        for intruder in (go_intruder, py_intruder):
            assert intruder.view() == {intruder.name}
            assert not [e for e in intruder.events("up") if e["name"] != intruder.name]


def test_go_peers_answer_arp_for_the_vip_as_upstream_elects(tmp_path: Path) -> None:
    """Three memberlist peers with the VIP: only the winner of upstream's election answers
    (its MAC); after it is SIGKILLed, the next winner among the two others answers."""
    with MembershipLab(tmp_path, n=0) as lab:
        start_go_speakers(lab)
        first = winner(NAMES)
        with vip_watch(lab, tmp_path) as watched:
            time.sleep(1.0)
            t0 = lab.kill(first)
            survivors = NAMES - {first}
            wait_for(partial(lab.declared_dead_by_all, first, t0), 30, f"{first} dead")
            lab.wait_converged(survivors, timeout=30)
            time.sleep(1.0)
        per_probe = answers(watched)
        assert all(len(macs) <= 1 for macs in per_probe.values()), per_probe
        seen = [next(iter(m)) for _, m in sorted(per_probe.items()) if m]
        assert seen[0] == mac(lab, first)
        assert seen[-1] == mac(lab, winner(survivors))
        assert set(seen) == {mac(lab, first), mac(lab, winner(survivors))}


def test_rolling_replacement_never_has_two_macs_answering(tmp_path: Path) -> None:
    """Three memberlist peers answer the VIP; node by node, each is stopped (SIGTERM: it
    leaves) and replaced by our member and announcer (bench/l2_member.py). A client
    probing every 100 ms never gets two MACs answering one probe, and at the end the
    owner our election picks answers. (Upstream's own rolling restart does not meet
    this: ``python -m bench.l2_rollout --to go`` counts the probes where a returning
    owner answered before the current one had heard of it.)"""
    with MembershipLab(tmp_path, n=0) as lab:
        start_go_speakers(lab)
        with vip_watch(lab, tmp_path) as watched:
            roll(lab, PY)
        per_probe = answers(watched)
        doubles = {seq: macs for seq, macs in per_probe.items() if len(macs) > 1}
        assert not doubles, f"{len(doubles)} of {len(per_probe)} probes had two MACs: {doubles}"
        seen = [next(iter(m)) for _, m in sorted(per_probe.items()) if m]
        assert seen[-1] == mac(lab, winner(NAMES))
        assert {lab.members[n].kind for n in NAMES} == {PY}
        announced = [e for n in NAMES for e in lab.members[n].events("announce")]
        assert announced, "none of our members announced the VIP"
