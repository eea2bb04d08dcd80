"""The gateway channel's states: where each event leads, and pika's errors as the port's (unit tests)."""

from __future__ import annotations

import pika.exceptions
import pytest

from ingest.amqp.errors import translated, unavailable
from ingest.amqp.state import Event, State, next_state
from ingest.ports import BrokerUnavailableError

OPEN = (State.READY, State.OVERDUE, State.BLOCKED)


def after(*events: Event, start: State = State.CONNECTING, has_channel: bool = True) -> State:
    state = start
    for event in events:
        state = next_state(state, event, has_channel=has_channel)
    return state


@pytest.mark.parametrize("state", OPEN)
def test_a_lost_connection_goes_back_to_connecting_from_every_open_state(state: State) -> None:
    assert after(Event.LOST, start=state) is State.CONNECTING


def test_a_late_confirm_is_overdue_until_the_broker_answers() -> None:
    assert after(Event.OPENED, Event.LATE) is State.OVERDUE
    assert after(Event.OPENED, Event.LATE, Event.ANSWERED) is State.READY


def test_an_unblocked_connection_is_ready_even_if_a_confirm_was_overdue_before_the_block() -> None:
    assert after(Event.OPENED, Event.LATE, Event.BLOCKED) is State.BLOCKED
    assert after(Event.OPENED, Event.LATE, Event.BLOCKED, Event.UNBLOCKED) is State.READY


def test_a_connection_blocked_while_its_channel_opens_opens_blocked() -> None:
    assert after(Event.BLOCKED, Event.OPENED) is State.BLOCKED
    assert after(Event.BLOCKED, Event.UNBLOCKED, has_channel=False) is State.CONNECTING
    assert after(Event.BLOCKED, Event.UNBLOCKED, Event.OPENED) is State.READY


@pytest.mark.parametrize("event", list(Event))
def test_closing_ends_only_in_closed_and_closed_is_final(event: Event) -> None:
    expected = State.CLOSED if event is Event.CLOSED else State.CLOSING
    assert after(Event.OPENED, Event.CLOSE, event) is expected
    assert after(Event.OPENED, Event.CLOSE, Event.CLOSED, event) is State.CLOSED


def test_pika_errors_leave_as_broker_unavailable_with_the_cause_kept() -> None:
    cause: BaseException = pika.exceptions.ChannelWrongStateError("Channel is closed.")
    with pytest.raises(BrokerUnavailableError, match="Channel is closed") as caught, translated():
        raise cause
    assert caught.value.__cause__ is cause
    assert str(unavailable(cause, "publish failed")) == f"publish failed: {cause!r}"
    assert unavailable(cause).__cause__ is cause
    assert str(unavailable("refused by the broker")) == "refused by the broker"
