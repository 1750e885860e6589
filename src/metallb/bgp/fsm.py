"""The BGP finite state machine (RFC 4271 section 8) as data.

:data:`TRANSITIONS` maps every (state, event) pair of the subset below to the next
state and the actions to perform, in RFC order; :func:`step` looks it up. The session
task in ``metallb.net`` owns the timers and the socket: it turns what happens into an
:class:`Event`, calls :func:`step`, performs the :class:`Action` values and logs the
transition. Nothing here sleeps or touches I/O, so the whole table is unit-tested.

The subset: MetalLB's native speaker only dials out and never listens (upstream's
internal/bgp/native), uses no DelayOpen timer, no peer oscillation damping and no collision
detection (with a single outbound connection there is nothing to collide with). That removes events
4-7, 12-15, 17, 20 and 23 of RFC 4271 section 8.1. Where the RFC's prose says "any other event" the
table lists those events explicitly, so every pair is visible and tested.

One deliberate deviation: RFC 4271 section 8.2.2 answers BGPHeaderErr in Established
with an FSM Error NOTIFICATION, while section 6.1 requires the specific header error; we
send the header error (:attr:`Action.SEND_NOTIFICATION_FOR_ERROR`), as in the other
states.

Hold time negotiation lives with the codec (:func:`negotiate_hold_time`,
:func:`keepalive_interval`) because :class:`~metallb.codec.bgp.Negotiated` carries the
result; they are re-exported here for the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from metallb.codec.bgp.errors import ErrorCode, FsmSubcode, Notification
from metallb.codec.bgp.negotiated import keepalive_interval, negotiate_hold_time

# RFC 4271 section 8.2.2: the HoldTimer while waiting for the peer's OPEN ("4 minutes is
# suggested").
LARGE_HOLD_TIME = 240

__all__ = [
    "LARGE_HOLD_TIME",
    "TRANSITIONS",
    "Action",
    "Event",
    "State",
    "Transition",
    "fsm_error",
    "keepalive_interval",
    "negotiate_hold_time",
    "step",
]


class State(Enum):
    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


class Event(Enum):
    """The events of RFC 4271 section 8.1 this speaker uses; values are RFC numbers."""

    MANUAL_START = 1
    MANUAL_STOP = 2
    AUTOMATIC_START = 3
    AUTOMATIC_STOP = 8
    CONNECT_RETRY_TIMER_EXPIRES = 9
    HOLD_TIMER_EXPIRES = 10
    KEEPALIVE_TIMER_EXPIRES = 11
    TCP_CR_ACKED = 16  # our outbound connection succeeded
    TCP_CONNECTION_FAILS = 18
    BGP_OPEN = 19
    BGP_HEADER_ERR = 21
    BGP_OPEN_MSG_ERR = 22
    NOTIF_MSG_VER_ERR = 24
    NOTIF_MSG = 25
    KEEPALIVE_MSG = 26
    UPDATE_MSG = 27
    UPDATE_MSG_ERR = 28


class Action(Enum):
    """What the session does on a transition, in the order listed."""

    INITIALIZE_RESOURCES = "initialize resources"
    RELEASE_RESOURCES = "release resources"
    DELETE_ROUTES = "delete routes learned from the peer"
    RESET_CONNECT_RETRY_COUNTER = "set ConnectRetryCounter to zero"
    INCREMENT_CONNECT_RETRY_COUNTER = "increment ConnectRetryCounter"
    START_CONNECT_RETRY_TIMER = "(re)start ConnectRetryTimer"
    STOP_CONNECT_RETRY_TIMER = "stop ConnectRetryTimer"
    INITIATE_TCP_CONNECTION = "initiate TCP connection"
    DROP_TCP_CONNECTION = "drop TCP connection"
    SEND_OPEN = "send OPEN"
    SEND_KEEPALIVE = "send KEEPALIVE"
    SEND_NOTIFICATION_CEASE = "send NOTIFICATION Cease"
    SEND_NOTIFICATION_HOLD_TIMER_EXPIRED = "send NOTIFICATION Hold Timer Expired"
    SEND_NOTIFICATION_FSM_ERROR = "send NOTIFICATION FSM Error"
    SEND_NOTIFICATION_FOR_ERROR = "send the NOTIFICATION of the error that caused the event"
    START_LARGE_HOLD_TIMER = "start HoldTimer with LARGE_HOLD_TIME"
    START_NEGOTIATED_TIMERS = "start HoldTimer and KeepaliveTimer with negotiated values"
    RESTART_HOLD_TIMER = "restart HoldTimer"
    RESTART_KEEPALIVE_TIMER = "restart KeepaliveTimer"
    PROCESS_UPDATE = "process UPDATE"
    SESSION_ESTABLISHED = "session established: send the desired routes"


@dataclass(frozen=True)
class Transition:
    next_state: State
    actions: tuple[Action, ...] = ()


A = Action
S = State
E = Event

# Building blocks that recur in RFC 4271 section 8.2.2. "Sets the ConnectRetryTimer to
# zero" is STOP_CONNECT_RETRY_TIMER.
_STAY_IDLE = Transition(S.IDLE)
_START = Transition(
    S.CONNECT,
    (
        A.INITIALIZE_RESOURCES,
        A.RESET_CONNECT_RETRY_COUNTER,
        A.START_CONNECT_RETRY_TIMER,
        A.INITIATE_TCP_CONNECTION,
    ),
)
_MANUAL_STOP_UNOPENED = Transition(
    S.IDLE,
    (
        A.DROP_TCP_CONNECTION,
        A.RELEASE_RESOURCES,
        A.RESET_CONNECT_RETRY_COUNTER,
        A.STOP_CONNECT_RETRY_TIMER,
    ),
)
_FAIL = (
    A.STOP_CONNECT_RETRY_TIMER,
    A.RELEASE_RESOURCES,
    A.DROP_TCP_CONNECTION,
    A.INCREMENT_CONNECT_RETRY_COUNTER,
)
_FAIL_ROUTES = (A.DELETE_ROUTES, *_FAIL)
_DROP = Transition(S.IDLE, _FAIL)
_DROP_QUIET = Transition(
    S.IDLE, (A.STOP_CONNECT_RETRY_TIMER, A.RELEASE_RESOURCES, A.DROP_TCP_CONNECTION)
)
_SENT_OPEN = Transition(
    S.OPEN_SENT,
    (A.STOP_CONNECT_RETRY_TIMER, A.INITIALIZE_RESOURCES, A.SEND_OPEN, A.START_LARGE_HOLD_TIMER),
)
_CEASE_MANUAL = (
    A.SEND_NOTIFICATION_CEASE,
    A.STOP_CONNECT_RETRY_TIMER,
    A.RELEASE_RESOURCES,
    A.DROP_TCP_CONNECTION,
    A.RESET_CONNECT_RETRY_COUNTER,
)
_CEASE_AUTO = Transition(S.IDLE, (A.SEND_NOTIFICATION_CEASE, *_FAIL))
_HOLD_EXPIRED = Transition(S.IDLE, (A.SEND_NOTIFICATION_HOLD_TIMER_EXPIRED, *_FAIL))
_ERROR = Transition(S.IDLE, (A.SEND_NOTIFICATION_FOR_ERROR, *_FAIL))
_FSM_ERROR = Transition(S.IDLE, (A.SEND_NOTIFICATION_FSM_ERROR, *_FAIL))
_FSM_ERROR_ROUTES = Transition(S.IDLE, (A.SEND_NOTIFICATION_FSM_ERROR, *_FAIL_ROUTES))

TRANSITIONS: dict[tuple[State, Event], Transition] = {
    # Idle: a start event dials out; anything else changes nothing (RFC 4271 8.2.2).
    (S.IDLE, E.MANUAL_START): _START,
    (S.IDLE, E.AUTOMATIC_START): _START,
    (S.IDLE, E.MANUAL_STOP): _STAY_IDLE,
    (S.IDLE, E.AUTOMATIC_STOP): _STAY_IDLE,
    (S.IDLE, E.CONNECT_RETRY_TIMER_EXPIRES): _STAY_IDLE,
    (S.IDLE, E.HOLD_TIMER_EXPIRES): _STAY_IDLE,
    (S.IDLE, E.KEEPALIVE_TIMER_EXPIRES): _STAY_IDLE,
    (S.IDLE, E.TCP_CR_ACKED): _STAY_IDLE,
    (S.IDLE, E.TCP_CONNECTION_FAILS): _STAY_IDLE,
    (S.IDLE, E.BGP_OPEN): _STAY_IDLE,
    (S.IDLE, E.BGP_HEADER_ERR): _STAY_IDLE,
    (S.IDLE, E.BGP_OPEN_MSG_ERR): _STAY_IDLE,
    (S.IDLE, E.NOTIF_MSG_VER_ERR): _STAY_IDLE,
    (S.IDLE, E.NOTIF_MSG): _STAY_IDLE,
    (S.IDLE, E.KEEPALIVE_MSG): _STAY_IDLE,
    (S.IDLE, E.UPDATE_MSG): _STAY_IDLE,
    (S.IDLE, E.UPDATE_MSG_ERR): _STAY_IDLE,
    # Connect: waiting for our TCP connection to complete.
    (S.CONNECT, E.MANUAL_START): Transition(S.CONNECT),
    (S.CONNECT, E.AUTOMATIC_START): Transition(S.CONNECT),
    (S.CONNECT, E.MANUAL_STOP): _MANUAL_STOP_UNOPENED,
    (S.CONNECT, E.AUTOMATIC_STOP): _DROP,
    (S.CONNECT, E.CONNECT_RETRY_TIMER_EXPIRES): Transition(
        S.CONNECT,
        (A.DROP_TCP_CONNECTION, A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP_CONNECTION),
    ),
    (S.CONNECT, E.HOLD_TIMER_EXPIRES): _DROP,
    (S.CONNECT, E.KEEPALIVE_TIMER_EXPIRES): _DROP,
    (S.CONNECT, E.TCP_CR_ACKED): _SENT_OPEN,
    # Without a DelayOpenTimer a failed connection goes back to Idle, where the
    # session's backoff decides when the next AutomaticStart comes.
    (S.CONNECT, E.TCP_CONNECTION_FAILS): Transition(
        S.IDLE, (A.STOP_CONNECT_RETRY_TIMER, A.DROP_TCP_CONNECTION, A.RELEASE_RESOURCES)
    ),
    (S.CONNECT, E.BGP_OPEN): _DROP,
    (S.CONNECT, E.BGP_HEADER_ERR): _DROP,
    (S.CONNECT, E.BGP_OPEN_MSG_ERR): _DROP,
    (S.CONNECT, E.NOTIF_MSG_VER_ERR): _DROP,
    (S.CONNECT, E.NOTIF_MSG): _DROP,
    (S.CONNECT, E.KEEPALIVE_MSG): _DROP,
    (S.CONNECT, E.UPDATE_MSG): _DROP,
    (S.CONNECT, E.UPDATE_MSG_ERR): _DROP,
    # Active: entered only when an established TCP connection fails in OpenSent.
    (S.ACTIVE, E.MANUAL_START): Transition(S.ACTIVE),
    (S.ACTIVE, E.AUTOMATIC_START): Transition(S.ACTIVE),
    (S.ACTIVE, E.MANUAL_STOP): _MANUAL_STOP_UNOPENED,
    (S.ACTIVE, E.AUTOMATIC_STOP): _DROP,
    (S.ACTIVE, E.CONNECT_RETRY_TIMER_EXPIRES): Transition(
        S.CONNECT, (A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP_CONNECTION)
    ),
    (S.ACTIVE, E.HOLD_TIMER_EXPIRES): _DROP,
    (S.ACTIVE, E.KEEPALIVE_TIMER_EXPIRES): _DROP,
    (S.ACTIVE, E.TCP_CR_ACKED): _SENT_OPEN,
    (S.ACTIVE, E.TCP_CONNECTION_FAILS): Transition(
        S.IDLE,
        (A.START_CONNECT_RETRY_TIMER, A.RELEASE_RESOURCES, A.INCREMENT_CONNECT_RETRY_COUNTER),
    ),
    (S.ACTIVE, E.BGP_OPEN): _DROP,
    (S.ACTIVE, E.BGP_HEADER_ERR): _DROP,
    (S.ACTIVE, E.BGP_OPEN_MSG_ERR): _DROP,
    (S.ACTIVE, E.NOTIF_MSG_VER_ERR): _DROP,
    (S.ACTIVE, E.NOTIF_MSG): _DROP,
    (S.ACTIVE, E.KEEPALIVE_MSG): _DROP,
    (S.ACTIVE, E.UPDATE_MSG): _DROP,
    (S.ACTIVE, E.UPDATE_MSG_ERR): _DROP,
    # OpenSent: our OPEN is out, waiting for the peer's.
    (S.OPEN_SENT, E.MANUAL_START): Transition(S.OPEN_SENT),
    (S.OPEN_SENT, E.AUTOMATIC_START): Transition(S.OPEN_SENT),
    (S.OPEN_SENT, E.MANUAL_STOP): Transition(S.IDLE, _CEASE_MANUAL),
    (S.OPEN_SENT, E.AUTOMATIC_STOP): _CEASE_AUTO,
    (S.OPEN_SENT, E.CONNECT_RETRY_TIMER_EXPIRES): _FSM_ERROR,
    (S.OPEN_SENT, E.HOLD_TIMER_EXPIRES): _HOLD_EXPIRED,
    (S.OPEN_SENT, E.KEEPALIVE_TIMER_EXPIRES): _FSM_ERROR,
    # A second connection cannot appear: we dial one and never listen.
    (S.OPEN_SENT, E.TCP_CR_ACKED): Transition(S.OPEN_SENT),
    (S.OPEN_SENT, E.TCP_CONNECTION_FAILS): Transition(
        S.ACTIVE, (A.DROP_TCP_CONNECTION, A.START_CONNECT_RETRY_TIMER)
    ),
    (S.OPEN_SENT, E.BGP_OPEN): Transition(
        S.OPEN_CONFIRM,
        (A.STOP_CONNECT_RETRY_TIMER, A.SEND_KEEPALIVE, A.START_NEGOTIATED_TIMERS),
    ),
    (S.OPEN_SENT, E.BGP_HEADER_ERR): _ERROR,
    (S.OPEN_SENT, E.BGP_OPEN_MSG_ERR): _ERROR,
    (S.OPEN_SENT, E.NOTIF_MSG_VER_ERR): _DROP_QUIET,
    (S.OPEN_SENT, E.NOTIF_MSG): _FSM_ERROR,
    (S.OPEN_SENT, E.KEEPALIVE_MSG): _FSM_ERROR,
    (S.OPEN_SENT, E.UPDATE_MSG): _FSM_ERROR,
    (S.OPEN_SENT, E.UPDATE_MSG_ERR): _FSM_ERROR,
    # OpenConfirm: OPENs exchanged, waiting for the peer's first KEEPALIVE.
    (S.OPEN_CONFIRM, E.MANUAL_START): Transition(S.OPEN_CONFIRM),
    (S.OPEN_CONFIRM, E.AUTOMATIC_START): Transition(S.OPEN_CONFIRM),
    (S.OPEN_CONFIRM, E.MANUAL_STOP): Transition(S.IDLE, _CEASE_MANUAL),
    (S.OPEN_CONFIRM, E.AUTOMATIC_STOP): _CEASE_AUTO,
    (S.OPEN_CONFIRM, E.CONNECT_RETRY_TIMER_EXPIRES): _FSM_ERROR,
    (S.OPEN_CONFIRM, E.HOLD_TIMER_EXPIRES): _HOLD_EXPIRED,
    (S.OPEN_CONFIRM, E.KEEPALIVE_TIMER_EXPIRES): Transition(
        S.OPEN_CONFIRM, (A.SEND_KEEPALIVE, A.RESTART_KEEPALIVE_TIMER)
    ),
    (S.OPEN_CONFIRM, E.TCP_CR_ACKED): Transition(S.OPEN_CONFIRM),
    (S.OPEN_CONFIRM, E.TCP_CONNECTION_FAILS): _DROP,
    # A second OPEN on the one connection is unexpected (no collision to resolve).
    (S.OPEN_CONFIRM, E.BGP_OPEN): _FSM_ERROR,
    (S.OPEN_CONFIRM, E.BGP_HEADER_ERR): _ERROR,
    (S.OPEN_CONFIRM, E.BGP_OPEN_MSG_ERR): _ERROR,
    (S.OPEN_CONFIRM, E.NOTIF_MSG_VER_ERR): _DROP_QUIET,
    (S.OPEN_CONFIRM, E.NOTIF_MSG): _DROP,
    (S.OPEN_CONFIRM, E.KEEPALIVE_MSG): Transition(
        S.ESTABLISHED, (A.RESTART_HOLD_TIMER, A.SESSION_ESTABLISHED)
    ),
    (S.OPEN_CONFIRM, E.UPDATE_MSG): _FSM_ERROR,
    (S.OPEN_CONFIRM, E.UPDATE_MSG_ERR): _FSM_ERROR,
    # Established: exchanging UPDATEs; every exit deletes the routes the peer gave us.
    (S.ESTABLISHED, E.MANUAL_START): Transition(S.ESTABLISHED),
    (S.ESTABLISHED, E.AUTOMATIC_START): Transition(S.ESTABLISHED),
    (S.ESTABLISHED, E.MANUAL_STOP): Transition(S.IDLE, (*_CEASE_MANUAL, A.DELETE_ROUTES)),
    (S.ESTABLISHED, E.AUTOMATIC_STOP): Transition(
        S.IDLE, (A.SEND_NOTIFICATION_CEASE, *_FAIL_ROUTES)
    ),
    (S.ESTABLISHED, E.CONNECT_RETRY_TIMER_EXPIRES): _FSM_ERROR_ROUTES,
    (S.ESTABLISHED, E.HOLD_TIMER_EXPIRES): Transition(
        S.IDLE, (A.SEND_NOTIFICATION_HOLD_TIMER_EXPIRED, *_FAIL_ROUTES)
    ),
    (S.ESTABLISHED, E.KEEPALIVE_TIMER_EXPIRES): Transition(
        S.ESTABLISHED, (A.SEND_KEEPALIVE, A.RESTART_KEEPALIVE_TIMER)
    ),
    (S.ESTABLISHED, E.TCP_CR_ACKED): Transition(S.ESTABLISHED),
    (S.ESTABLISHED, E.TCP_CONNECTION_FAILS): Transition(S.IDLE, _FAIL_ROUTES),
    (S.ESTABLISHED, E.BGP_OPEN): _FSM_ERROR_ROUTES,
    # RFC 4271 8.2.2 says FSM Error here; section 6 wins (see the module docstring).
    (S.ESTABLISHED, E.BGP_HEADER_ERR): Transition(
        S.IDLE, (A.SEND_NOTIFICATION_FOR_ERROR, *_FAIL_ROUTES)
    ),
    (S.ESTABLISHED, E.BGP_OPEN_MSG_ERR): _FSM_ERROR_ROUTES,
    (S.ESTABLISHED, E.NOTIF_MSG_VER_ERR): Transition(S.IDLE, _FAIL_ROUTES),
    (S.ESTABLISHED, E.NOTIF_MSG): Transition(S.IDLE, _FAIL_ROUTES),
    (S.ESTABLISHED, E.KEEPALIVE_MSG): Transition(S.ESTABLISHED, (A.RESTART_HOLD_TIMER,)),
    (S.ESTABLISHED, E.UPDATE_MSG): Transition(
        S.ESTABLISHED, (A.PROCESS_UPDATE, A.RESTART_HOLD_TIMER)
    ),
    (S.ESTABLISHED, E.UPDATE_MSG_ERR): Transition(
        S.IDLE, (A.SEND_NOTIFICATION_FOR_ERROR, *_FAIL_ROUTES)
    ),
}


def step(state: State, event: Event) -> Transition:
    """The transition for ``event`` in ``state``; the table covers every pair."""
    return TRANSITIONS[(state, event)]


_FSM_SUBCODE = {
    S.OPEN_SENT: FsmSubcode.UNEXPECTED_IN_OPEN_SENT,
    S.OPEN_CONFIRM: FsmSubcode.UNEXPECTED_IN_OPEN_CONFIRM,
    S.ESTABLISHED: FsmSubcode.UNEXPECTED_IN_ESTABLISHED,
}


def fsm_error(state: State) -> Notification:
    """The NOTIFICATION for SEND_NOTIFICATION_FSM_ERROR in ``state`` (RFC 6608 section 3)."""
    return Notification(ErrorCode.FSM, _FSM_SUBCODE.get(state, FsmSubcode.UNSPECIFIED))
