"""The speakers' membership: hashicorp/memberlist's protocol, fast timers. Pure engine.

Which speakers are alive decides the Layer 2 election (upstream section 7: only Layer 2
uses it; BGP ignores it). :class:`Membership` is the state machine, driven by explicit
time and packets; :mod:`metallb.net.membership` runs it on UDP and TCP port 7946. Member
names are node names. The wire format is memberlist v0.5.1's, keyed as upstream's
speaker keys it, so upstream speakers and ours form one membership (a rolling upgrade
from upstream mixes them). Without a configured memberlist Secret the speaker does not
run membership at all and falls back to node conditions, as upstream (decided by the
speaker wiring, not here).

Modules: :mod:`.config` (tunables and the argument for their defaults), :mod:`.records`
(member records and the rules that change them), :mod:`.wire` (packets and streams on
the wire, with :mod:`metallb.codec.memberlist`), :mod:`.crypto` (encryption and key
derivation), :mod:`.gossip` (dissemination queue), :mod:`.sync` (whom a push-pull goes
to, how its state is read), :mod:`.effects` (output values), :mod:`.core`.
"""

from metallb.membership.config import DEFAULT_PORT, MembershipConfig
from metallb.membership.core import Membership
from metallb.membership.crypto import derive_key
from metallb.membership.effects import (
    Counters,
    EventKind,
    MemberEvent,
    Send,
    Step,
)
from metallb.membership.records import Address, Record, State
from metallb.membership.wire import DropReason, WireError

__all__ = [
    "DEFAULT_PORT",
    "Address",
    "Counters",
    "DropReason",
    "EventKind",
    "MemberEvent",
    "Membership",
    "MembershipConfig",
    "Record",
    "Send",
    "State",
    "Step",
    "WireError",
    "derive_key",
]
