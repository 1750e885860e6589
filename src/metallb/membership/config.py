"""Timing and size parameters of the membership failure detector, with the argument for them.

Why these defaults
==================

The goal (issue 6): a speaker whose process or link died is declared dead *well under one
second* on a LAN, so the Layer 2 election moves its IPs quickly, while a node that is only
slow (CPU contention, a garbage collection) is never declared dead.

What the numbers must absorb:

* LAN round trip: 0.1-0.5 ms on a switched LAN, a few ms through busy virtual switches.
  Negligible next to everything below.
* Python scheduling jitter under load: a speaker sharing a CPU with busy processes waits
  for the scheduler before its event loop runs. With CFS the wake-up latency of a runnable
  task is bounded by the scheduling period (6-24 ms by default), and asyncio adds its own
  queueing behind other callbacks (the BGP and Kubernetes adapters share the loop):
  tens of milliseconds in bad moments.
* Garbage collection: CPython stops the world for a full collection; for a speaker heap
  (informer caches, a few hundred thousand objects) that is tens of milliseconds, and a
  few hundred with a million objects. The speaker should ``gc.freeze()`` its caches after
  the first sync to keep full collections small; this detector tolerates ~0.5 s.
* Packets are not lost while a process stalls: the kernel queues them in the socket
  buffer, and a stalled member reads the queued pings (which carry the suspicion) as soon
  as it runs again, then refutes at once.

Detection time of a crashed member, for ``n`` members (timeline of one failure):

1. *Until someone probes it.* Every live member probes one member per
   ``probe_interval``, walking a shuffled round-robin list of the other ``n - 1``. One
   member reaches it at worst ``2 (n - 1) - 1`` intervals after its previous probe (first
   in one round, last in the next), but ``n - 1`` members probe independently, so the
   first probe of the dead member comes on average about ``probe_interval / 2`` after the
   crash for any ``n``: SWIM's constant expected detection time.
2. *Direct and indirect probe.* No ack within ``probe_timeout`` triggers an indirect
   ping through ``indirect_checks`` other members; no ack (direct or relayed) by the end of the
   interval makes the target *suspect*: ``probe_interval`` after the probe.
3. *Suspicion.* A suspect is still a member (upstream counts suspects as live for the
   election). It becomes dead after ``suspicion_timeout = suspicion_mult * probe_interval *
   max(1, log10(n))`` unless it refutes. The log10 factor, as upstream, leaves room for the
   suspicion gossip to reach it in larger clusters.
4. *Dissemination.* The dead record is sent to ``gossip_nodes`` members every
   ``gossip_interval`` and piggybacked on every probe; others that received the suspicion
   declare it dead on their own timer at about the same moment anyway.

With the defaults (100 ms interval, 50 ms probe timeout, suspicion 4 x 100 ms) and
``n <= 10``: about 50 ms + 100 ms + 400 ms + a gossip hop = ~0.6 s typical; worst case
with ``n = 3`` about 3 x 100 + 100 + 400 + 50 = ~0.85 s. ``bench/membership.py`` measures it.

Why a busy member is not declared dead: it is declared dead only if it answers neither
the direct nor the indirect pings of one interval *and* then fails to process any packet
for the suspicion timeout; a stall has to exceed about ``probe_interval +
suspicion_timeout`` (~0.5 s) - ten times the jitter above. A slow *prober* that handles
an ack after its own deadline only raises a false suspicion, which the healthy target
refutes within a round trip (it is told so on the next ping it receives). False
suspicions are counted; false deaths are what the benchmark checks under CPU load.

Traffic: per member ``1 / probe_interval`` = 10 pings/s plus acks, independent of ``n``;
each packet is well under 1 KiB. While any member is dead (until ``dead_retention`` forgets
it), one TCP push-pull attempt per ``reconnect_interval`` to one of them: that is what
heals a partition in under a second (``bench/partition.py``: the last double answer came
0.33 s after the heal at p99, 7.6 s without it); a member truly gone costs a refused (or,
host gone, a 2 s timed-out) connection twice a second.

Upstream (hashicorp/memberlist's LAN profile, as MetalLB uses it) probes every 1 s with a
500 ms timeout and a 4-24 s suspicion window: 5-25 s failover. We trade more packets and a
tighter stall tolerance for a 10x faster failover. The timers are local: the wire format is
memberlist's, and a memberlist peer in the same cluster accepts our suspect and dead
broadcasts whatever its own timers (``state.go``: ``suspectNode``, ``deadNode``), so in a
mixed cluster our members detect for everyone; a dead member of ours is also probed by the
peers on their own, slower schedule, and they hear our verdict first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_PORT = 7946


@dataclass(frozen=True, slots=True)
class MembershipConfig:
    """All tunables; seconds unless noted. The defaults are argued in the module docstring."""

    probe_interval: float = 0.1
    probe_timeout: float = 0.05
    indirect_checks: int = 3
    suspicion_mult: float = 4.0
    # Gossip: each update is sent retransmit_mult * ceil(log10(n + 1)) times (SWIM's
    # lambda * log n infection-style dissemination), piggybacked on probes and pushed to
    # gossip_nodes random members every gossip_interval while any update is pending.
    retransmit_mult: int = 4
    gossip_interval: float = 0.05
    gossip_nodes: int = 3
    # Dead members still receive gossip for this long, so a member that was cut off
    # learns it was declared dead and refutes once the partition heals.
    gossip_to_dead: float = 30.0
    # Full state exchange over TCP with one random member (or a seed when alone).
    push_pull_interval: float = 10.0
    # While no other member is known, retry the seeds this often.
    rejoin_interval: float = 1.0
    # Push-pull with one random dead (not left) member this often, so the two sides of a
    # healed partition find each other within this time, not at the next push-pull round
    # (``bench/partition.py``); 0 disables it. Not in memberlist, which push-pulls with
    # live members only: a memberlist peer answers it as any push-pull.
    reconnect_interval: float = 0.5
    # Dead and left members are forgotten after this long.
    dead_retention: float = 600.0
    # Upper bound on an encoded UDP payload (before encryption), bytes: fits an Ethernet
    # MTU with room for IP/UDP headers and the encryption envelope.
    max_packet: int = 1350

    def __post_init__(self) -> None:
        if not 0 < self.probe_timeout < self.probe_interval:
            raise ValueError("need 0 < probe_timeout < probe_interval")
        if self.indirect_checks < 0 or self.gossip_nodes < 0 or self.retransmit_mult < 1:
            raise ValueError("indirect_checks, gossip_nodes >= 0 and retransmit_mult >= 1")
        if self.reconnect_interval < 0:
            raise ValueError("reconnect_interval must be >= 0 (0: no reconnect)")
        if self.suspicion_mult <= 0 or self.gossip_interval <= 0:
            raise ValueError("suspicion_mult and gossip_interval must be positive")

    def suspicion_timeout(self, members: int) -> float:
        """How long a suspect may refute before it is declared dead, for ``members`` nodes."""
        return self.suspicion_mult * self.probe_interval * max(1.0, math.log10(max(members, 1)))

    def detection_bound(self, members: int) -> float:
        """Worst case of the protocol's own timers, with no packet loss, from a crash to
        every member declaring it dead (scheduling and processing delays come on top).

        The last probe of the crashed member may have just passed: up to ``2 (n - 1)``
        intervals until a member probes it again, one interval of direct and indirect
        probing, the suspicion timeout, and two gossip rounds for the news to reach the
        others (their own suspicion timers, started on hearing the suspicion, expire at
        about the same time). The typical figure is far lower (see the module docstring).
        """
        n = max(members, 2)
        probes = (2 * (n - 1) + 1) * self.probe_interval
        return probes + self.suspicion_timeout(n) + 2 * self.gossip_interval

    def retransmit_limit(self, members: int) -> int:
        """How many times one membership update is sent before it is dropped from gossip."""
        return self.retransmit_mult * max(1, math.ceil(math.log10(members + 1)))
