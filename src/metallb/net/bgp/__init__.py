"""The native BGP speaker's sessions: asyncio, one task per peer, active open only.

- :mod:`.session`: :class:`Session`, the FSM-driven session with a declarative
  :meth:`Session.set` of advertisements.
- :mod:`.ribout`: the pure diff from desired set to UPDATE messages.
- :mod:`.protocol`: our OPEN, and which FSM event a received message is.
- :mod:`.timers`: the restartable hold and keepalive timers.
- :mod:`.transport`: the TCP connection with TCP-MD5, TTL and source address.
- :mod:`.options`: :class:`PeerOptions`, :class:`Advertisement`,
  :class:`ReconnectBackoff` (the session's clock is a :class:`metallb.timing.Clock`).
- :mod:`.counters`: per-session counters under the upstream metric names.
- :mod:`.demo`: a command-line speaker for tests, the lab and benchmarks.

Protocol codecs live in :mod:`metallb.codec.bgp`, the FSM table in
:mod:`metallb.bgp.fsm`; this package only adds sockets and time.
"""

from metallb.net.bgp.counters import SessionCounters
from metallb.net.bgp.options import (
    Advertisement,
    PeerOptions,
    ReconnectBackoff,
)
from metallb.net.bgp.ribout import NextHops, Plan, plan
from metallb.net.bgp.session import Session, TransitionRecord
from metallb.net.bgp.transport import Connection, Connector, md5sig, tcp_connect

__all__ = [
    "Advertisement",
    "Connection",
    "Connector",
    "NextHops",
    "PeerOptions",
    "Plan",
    "ReconnectBackoff",
    "Session",
    "SessionCounters",
    "TransitionRecord",
    "md5sig",
    "plan",
    "tcp_connect",
]
