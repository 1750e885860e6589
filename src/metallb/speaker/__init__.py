"""Speaker core, pure: what this node announces, and how, as values the adapters apply.

- :mod:`.layer2_decision`: whether this node announces a Service's IPs in Layer 2, on
  which interfaces, or why not (upstream's ShouldAnnounce for layer2, with the election
  of :mod:`metallb.election.ranking`);
- :mod:`.bgp_decision`: whether this node advertises a Service over BGP, and which routes
  go to which peer (upstream's ShouldAnnounce for bgp);
- :mod:`.layer2_responder`: the ARP/NDP responder's answer to one received frame, and the
  schedule of gratuitous announcements after a takeover.

The protocol engines the speaker runs live beside it: :mod:`metallb.membership`,
:mod:`metallb.bgp`, :mod:`metallb.frr`. docs/architecture.md follows an IP through them.
"""
