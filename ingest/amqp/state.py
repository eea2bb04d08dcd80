"""The states of the gateway's channel to RabbitMQ, the events that move it, and every change between them.

Plain data, free of pika: ``ingest.amqp.channel`` reports events, and
``next_state`` is the one place that says where they lead. Each state's
docstring says what the gateway does in it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class State(enum.Enum):
    """Where the channel stands."""

    CONNECTING = "connecting"
    """No channel: connecting, or waiting to try again. Publishes are refused; not ready."""
    READY = "ready"
    """The channel is open and the broker answers: publishes go out and wait for their confirm; ready."""
    OVERDUE = "overdue"
    """A confirm did not arrive in time: publishes still go out, but not ready until the broker answers
    (a confirm, or the passive declare a probe keeps asking): a frozen broker keeps the channel open."""
    BLOCKED = "blocked"
    """The broker blocked the connection (a memory or disk alarm): publishes are refused at once; not ready.
    The ``unblocked`` that ends it is an answer from the broker, so it ends ``OVERDUE`` as well."""
    CLOSING = "closing"
    """The gateway is shutting down: publishes are refused, those in flight get their confirms until the drain
    timeout; not ready."""
    CLOSED = "closed"
    """Disconnected for good."""


class Event(enum.Enum):
    """What happened to the channel."""

    OPENED = enum.auto()
    """A channel is open, confirm mode on, the topology declared."""
    LOST = enum.auto()
    """The connection or channel closed."""
    BLOCKED = enum.auto()
    UNBLOCKED = enum.auto()
    LATE = enum.auto()
    """A confirm is overdue."""
    ANSWERED = enum.auto()
    """A confirm arrived, or the broker answered a probe."""
    CLOSE = enum.auto()
    """``close`` was called."""
    CLOSED = enum.auto()
    """``close`` is done."""


_TRANSITIONS: Final[Mapping[tuple[State, Event], State]] = {
    (State.CONNECTING, Event.OPENED): State.READY,
    (State.CONNECTING, Event.BLOCKED): State.BLOCKED,  # before the channel opened: it opens blocked
    (State.READY, Event.LATE): State.OVERDUE,
    (State.READY, Event.BLOCKED): State.BLOCKED,
    (State.READY, Event.LOST): State.CONNECTING,
    (State.OVERDUE, Event.ANSWERED): State.READY,
    (State.OVERDUE, Event.BLOCKED): State.BLOCKED,
    (State.OVERDUE, Event.LOST): State.CONNECTING,
    (State.BLOCKED, Event.UNBLOCKED): State.READY,
    (State.BLOCKED, Event.LOST): State.CONNECTING,
    (State.CONNECTING, Event.CLOSE): State.CLOSING,
    (State.READY, Event.CLOSE): State.CLOSING,
    (State.OVERDUE, Event.CLOSE): State.CLOSING,
    (State.BLOCKED, Event.CLOSE): State.CLOSING,
    (State.CLOSING, Event.CLOSED): State.CLOSED,
}
"""Every change of state; an event not listed for the current state leaves it as it is."""


def next_state(state: State, event: Event, *, has_channel: bool) -> State:
    """The state after ``event`` in ``state``; ``has_channel`` says whether a channel is open.

    ``READY`` needs a channel: a connection unblocked before its channel opened is still ``CONNECTING``,
    and becomes ``READY`` when the channel opens.
    """
    after = _TRANSITIONS.get((state, event), state)
    if after is State.READY and not has_channel:
        return State.CONNECTING
    return after
