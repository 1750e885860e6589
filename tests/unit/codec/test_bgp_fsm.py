"""The BGP FSM table (RFC 4271 section 8): complete, and right on the paths that matter."""

from __future__ import annotations

import pytest

from metallb.bgp.fsm import (
    TRANSITIONS,
    Action,
    Event,
    State,
    Transition,
    fsm_error,
    keepalive_interval,
    negotiate_hold_time,
    step,
)
from metallb.codec.bgp import Notification

A, E, S = Action, Event, State


def _run(state: State, *events: Event) -> tuple[State, list[tuple[Action, ...]]]:
    actions = []
    for event in events:
        t = step(state, event)
        state = t.next_state
        actions.append(t.actions)
    return state, actions


def test_table_covers_every_state_and_event() -> None:
    """No (state, event) pair is left to a default: the table is the whole behaviour."""
    assert set(TRANSITIONS) == {(s, e) for s in State for e in Event}


def test_event_values_are_rfc_numbers() -> None:
    """Events keep their RFC 4271 8.1 numbers, so logs can be read against the RFC."""
    assert E.TCP_CR_ACKED.value == 16
    assert E.UPDATE_MSG_ERR.value == 28
    assert len({e.value for e in Event}) == len(Event)


def test_happy_path_to_established() -> None:
    """Start, connect, OPEN, KEEPALIVE: Idle → Connect → OpenSent → OpenConfirm → Established."""
    state, actions = _run(S.IDLE, E.AUTOMATIC_START, E.TCP_CR_ACKED, E.BGP_OPEN, E.KEEPALIVE_MSG)
    assert state is S.ESTABLISHED
    assert A.INITIATE_TCP_CONNECTION in actions[0]
    assert A.SEND_OPEN in actions[1]
    assert A.START_LARGE_HOLD_TIMER in actions[1]
    assert actions[2] == (A.STOP_CONNECT_RETRY_TIMER, A.SEND_KEEPALIVE, A.START_NEGOTIATED_TIMERS)
    assert A.SESSION_ESTABLISHED in actions[3]


def test_established_steady_state() -> None:
    """UPDATEs and KEEPALIVEs keep the session; our keepalive timer sends KEEPALIVE."""
    assert step(S.ESTABLISHED, E.UPDATE_MSG) == Transition(
        S.ESTABLISHED, (A.PROCESS_UPDATE, A.RESTART_HOLD_TIMER)
    )
    assert step(S.ESTABLISHED, E.KEEPALIVE_MSG) == Transition(
        S.ESTABLISHED, (A.RESTART_HOLD_TIMER,)
    )
    assert step(S.ESTABLISHED, E.KEEPALIVE_TIMER_EXPIRES) == Transition(
        S.ESTABLISHED, (A.SEND_KEEPALIVE, A.RESTART_KEEPALIVE_TIMER)
    )


@pytest.mark.parametrize(
    ("state", "event", "notification"),
    [
        pytest.param(S.OPEN_SENT, E.HOLD_TIMER_EXPIRES, A.SEND_NOTIFICATION_HOLD_TIMER_EXPIRED),
        pytest.param(S.OPEN_CONFIRM, E.HOLD_TIMER_EXPIRES, A.SEND_NOTIFICATION_HOLD_TIMER_EXPIRED),
        pytest.param(S.ESTABLISHED, E.HOLD_TIMER_EXPIRES, A.SEND_NOTIFICATION_HOLD_TIMER_EXPIRED),
        pytest.param(S.OPEN_SENT, E.MANUAL_STOP, A.SEND_NOTIFICATION_CEASE),
        pytest.param(S.ESTABLISHED, E.AUTOMATIC_STOP, A.SEND_NOTIFICATION_CEASE),
        pytest.param(S.OPEN_SENT, E.BGP_OPEN_MSG_ERR, A.SEND_NOTIFICATION_FOR_ERROR),
        pytest.param(S.OPEN_CONFIRM, E.BGP_HEADER_ERR, A.SEND_NOTIFICATION_FOR_ERROR),
        pytest.param(S.ESTABLISHED, E.UPDATE_MSG_ERR, A.SEND_NOTIFICATION_FOR_ERROR),
        pytest.param(S.ESTABLISHED, E.BGP_HEADER_ERR, A.SEND_NOTIFICATION_FOR_ERROR),
        pytest.param(S.OPEN_SENT, E.UPDATE_MSG, A.SEND_NOTIFICATION_FSM_ERROR),
        pytest.param(S.OPEN_SENT, E.KEEPALIVE_MSG, A.SEND_NOTIFICATION_FSM_ERROR),
        pytest.param(S.OPEN_CONFIRM, E.UPDATE_MSG, A.SEND_NOTIFICATION_FSM_ERROR),
        pytest.param(S.ESTABLISHED, E.BGP_OPEN, A.SEND_NOTIFICATION_FSM_ERROR),
    ],
)
def test_failures_notify_and_drop_to_idle(state: State, event: Event, notification: Action) -> None:
    """Each failure sends the right NOTIFICATION first, then tears down to Idle."""
    t = step(state, event)
    assert t.next_state is S.IDLE
    assert t.actions[0] is notification
    assert A.DROP_TCP_CONNECTION in t.actions
    assert A.RELEASE_RESOURCES in t.actions


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.OPEN_SENT, E.NOTIF_MSG_VER_ERR),
        (S.OPEN_CONFIRM, E.NOTIF_MSG),
        (S.ESTABLISHED, E.NOTIF_MSG),
        (S.ESTABLISHED, E.TCP_CONNECTION_FAILS),
        (S.CONNECT, E.TCP_CONNECTION_FAILS),
    ],
)
def test_peer_went_away_sends_nothing(state: State, event: Event) -> None:
    """A NOTIFICATION from the peer or a dead connection is never answered (RFC 4271 6.4)."""
    t = step(state, event)
    assert t.next_state is S.IDLE
    assert not any(a.name.startswith("SEND_") for a in t.actions)


def test_every_exit_from_established_deletes_routes() -> None:
    """Leaving Established always forgets what the peer told us."""
    for event in Event:
        t = step(S.ESTABLISHED, event)
        if t.next_state is not S.ESTABLISHED:
            assert A.DELETE_ROUTES in t.actions, event


def test_no_route_deletion_before_established() -> None:
    """Before Established the peer has not sent routes, so there are none to delete."""
    for (state, _event), t in TRANSITIONS.items():
        if state is not S.ESTABLISHED:
            assert A.DELETE_ROUTES not in t.actions


def test_idle_ignores_everything_but_start() -> None:
    """RFC 4271 8.2.2: in Idle, only a start event does anything."""
    for event in Event:
        t = step(S.IDLE, event)
        if event in (E.MANUAL_START, E.AUTOMATIC_START):
            assert t.next_state is S.CONNECT
        else:
            assert t == Transition(S.IDLE)


def test_start_is_ignored_once_running() -> None:
    """A second start in any running state changes nothing."""
    for state in State:
        if state is not S.IDLE:
            assert step(state, E.AUTOMATIC_START) == Transition(state)
            assert step(state, E.MANUAL_START) == Transition(state)


def test_connect_retry_redials() -> None:
    """ConnectRetryTimer expiry redials from Connect and from Active."""
    assert step(S.CONNECT, E.CONNECT_RETRY_TIMER_EXPIRES).next_state is S.CONNECT
    assert A.INITIATE_TCP_CONNECTION in step(S.CONNECT, E.CONNECT_RETRY_TIMER_EXPIRES).actions
    assert step(S.ACTIVE, E.CONNECT_RETRY_TIMER_EXPIRES) == Transition(
        S.CONNECT, (A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP_CONNECTION)
    )


def test_connection_lost_in_open_sent_goes_active_then_redials() -> None:
    """RFC 4271 8.2.2: OpenSent + TcpConnectionFails → Active; the retry timer redials."""
    state, _ = _run(S.OPEN_SENT, E.TCP_CONNECTION_FAILS, E.CONNECT_RETRY_TIMER_EXPIRES)
    assert state is S.CONNECT


def test_manual_stop_resets_the_retry_counter() -> None:
    """ManualStop zeroes ConnectRetryCounter; failures increment it."""
    for state in (S.CONNECT, S.ACTIVE, S.OPEN_SENT, S.OPEN_CONFIRM, S.ESTABLISHED):
        assert A.RESET_CONNECT_RETRY_COUNTER in step(state, E.MANUAL_STOP).actions
    assert A.INCREMENT_CONNECT_RETRY_COUNTER in step(S.OPEN_SENT, E.HOLD_TIMER_EXPIRES).actions


@pytest.mark.parametrize(
    ("state", "subcode"),
    [(S.OPEN_SENT, 1), (S.OPEN_CONFIRM, 2), (S.ESTABLISHED, 3), (S.CONNECT, 0)],
)
def test_fsm_error_subcodes(state: State, subcode: int) -> None:
    """RFC 6608 3: the FSM Error subcode names the state that got the surprise."""
    assert fsm_error(state) == Notification(5, subcode)


def test_hold_time_helpers_are_reexported() -> None:
    """The session imports hold-time negotiation from the FSM module."""
    assert negotiate_hold_time(90, 30) == 30
    assert keepalive_interval(30) == 10
