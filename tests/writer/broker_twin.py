"""An in-memory twin of one RabbitMQ queue and the writer's sessions on it, for unit tests of the writer loop.

It keeps the broker's rules that the loop relies on: delivery tags count from
1 on every connection, at most ``prefetch`` deliveries are unsettled, and a
lost or closed connection returns its unsettled deliveries to the queue, and
an ack or nack with ``multiple`` settles every held tag up to its own. Settling
goes through the real session's ``AckTracker``, so the twin is sent what RabbitMQ
would be sent, and refuses what the real session refuses. It records every
settlement, so that a test can tell which session acked what.
tests/writer/test_session_contract.py runs one suite over the twin and the real
session; whatever the twin does differently fails there.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from writer.batch import AckTracker
from writer.errors import BrokerError
from writer.session import Delivery


@dataclass
class Message:
    """A message in the twin's queue."""

    body: bytes
    message_id: str


@dataclass
class TwinBroker:
    """One queue, its ``.dead`` queue, and every session opened on it."""

    prefetch: int = 100
    refuse_connects: int = 0
    """How many of the next connection attempts fail."""
    ready: deque[Message] = field(default_factory=deque)
    dead: list[tuple[Message, str]] = field(default_factory=list)
    sessions: list[TwinSession] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def publish(self, *bodies: bytes) -> None:
        """Put ``bodies`` on the queue, in order."""
        with self.lock:
            self.ready.extend(Message(body, f"m{next(self._ids)}") for body in bodies)

    def session(self, on_delivery: Callable[[Delivery], None]) -> TwinSession:
        """The writer's session factory."""
        session = TwinSession(self, on_delivery)
        self.sessions.append(session)
        return session

    def acked(self) -> list[bytes]:
        """Bodies acked as written, on any session."""
        with self.lock:
            return [m.body for s in self.sessions for m in s.acked]


class TwinSession:
    """One connection consuming the twin's queue; ``lose`` cuts it as a network failure would."""

    def __init__(self, broker: TwinBroker, on_delivery: Callable[[Delivery], None]) -> None:
        self._broker = broker
        self._on_delivery = on_delivery
        self._tags = itertools.count(1)
        self._held: dict[int, Message] = {}
        self._tracker = AckTracker()
        self._woken = threading.Event()
        self._consuming = False
        self.opened = self.lost = False
        self.acked: list[Message] = []
        self.settle_calls = 0

    @property
    def unsettled(self) -> int:
        """Deliveries not yet acked or nacked."""
        return len(self._held)

    def open(self) -> None:
        """Start consuming, unless the broker refuses this attempt."""
        with self._broker.lock:
            if self._broker.refuse_connects > 0:
                self._broker.refuse_connects -= 1
                raise BrokerError("RabbitMQ: connect failed: refused by the twin")
        self.opened = self._consuming = True

    def _alive(self) -> None:
        if self.lost or not self.opened:
            raise BrokerError("RabbitMQ: the connection was lost")

    def process(self, timeout: float) -> None:
        """Hand over what the prefetch allows; with nothing to hand over, wait for ``wake`` up to ``timeout``."""
        self._alive()
        delivered: list[Delivery] = []
        with self._broker.lock:
            while self._consuming and self._broker.ready and len(self._held) < self._broker.prefetch:
                message = self._broker.ready.popleft()
                tag = next(self._tags)
                self._held[tag] = message
                self._tracker.delivered(tag)
                delivered.append(Delivery(tag, message.body, message.message_id, {}, None))
        for delivery in delivered:
            self._on_delivery(delivery)
        if not delivered and self._woken.wait(timeout):
            self._woken.clear()

    def settle(self, *, ack: Iterable[int] = (), requeue: Iterable[int] = ()) -> None:
        """Ack or return deliveries of this session, as the real session plans them (``multiple`` included).

        Raises:
            ValueError: a tag that is not awaiting settlement, refused before anything is settled.
        """
        self._alive()
        self.settle_calls += 1
        for tag, multiple in self._tracker.plan(ack):  # planned and sent in this order, as the real session does
            with self._broker.lock:
                self.acked.extend(self._take(tag, multiple=multiple))
        for tag, multiple in self._tracker.plan(requeue):
            with self._broker.lock:
                self._broker.ready.extendleft(reversed(self._take(tag, multiple=multiple)))

    def _take(self, tag: int, *, multiple: bool) -> list[Message]:
        """The held deliveries that RabbitMQ settles for ``tag``: all up to it with ``multiple``, in order."""
        if tag not in self._held:
            self.lost = True  # RabbitMQ closes the channel on an unknown delivery tag
            raise BrokerError(f"RabbitMQ: settle failed: unknown delivery tag {tag}")
        tags = sorted(held for held in self._held if held <= tag) if multiple else [tag]
        return [self._held.pop(held) for held in tags]

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move the delivery to ``.dead`` with ``reason``."""
        self._alive()
        acks = self._tracker.plan([delivery.tag])
        with self._broker.lock:
            for tag, multiple in acks:
                self._broker.dead.extend((message, reason) for message in self._take(tag, multiple=multiple))

    def ready_messages(self) -> int:
        """Messages waiting in the queue."""
        self._alive()
        return len(self._broker.ready)

    def cancel(self) -> None:
        """Stop deliveries."""
        self._consuming = False

    def resume(self) -> None:
        """Start deliveries again."""
        self._consuming = True

    def wake(self) -> None:
        """End a ``process`` wait."""
        self._woken.set()

    def lose(self) -> None:
        """Cut the connection: every call fails from now on, and held deliveries go back to the queue."""
        with self._broker.lock:
            self.lost = True
            self._broker.ready.extendleft(reversed(list(self._held.values())))
            self._held.clear()
        self._woken.set()

    def close(self) -> None:
        """Close; unsettled deliveries go back to the queue."""
        if not self.lost:
            self.lose()
