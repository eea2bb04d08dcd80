"""One suite over both implementations of the writer's broker session: the in-memory twin and pika on RabbitMQ.

The writer loop's unit tests run on the twin (tests/writer/broker_twin.py); they
stand for the real thing only as far as the twin behaves as the real session
does. Every test here runs on both, so whatever the twin does differently
fails here: prefetch, ``multiple`` acks, requeues, cancel and resume,
dead-lettering, refused settlements, and what a closed connection gives back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import pika
import pytest

from schema.topology import ERROR_HEADER
from tests.support.amqp import blocking_channel
from tests.support.services import wait_until
from tests.writer.broker_twin import TwinBroker
from writer.amqp.consumer import BrokerSession
from writer.session import Delivery, Session

PREFETCH = 5
QUIET = 0.5
"""Seconds a session is given to deliver what it must not."""


class Harness(Protocol):
    """A queue, sessions on it, and the test's view of what is in it."""

    def open(self, deliveries: list[Delivery]) -> Session:
        """An opened session that appends every delivery to ``deliveries``."""
        ...

    def publish(self, *bodies: bytes) -> None:
        """Put ``bodies`` on the queue, in order."""
        ...

    def dead(self) -> list[tuple[bytes, str]]:
        """Every message in the dead-letter queue with its reason (taken off it)."""
        ...


class TwinHarness:
    """The in-memory twin."""

    def __init__(self) -> None:
        self.broker = TwinBroker(prefetch=PREFETCH)

    def open(self, deliveries: list[Delivery]) -> Session:
        session = self.broker.session(deliveries.append)
        session.open()
        return session

    def publish(self, *bodies: bytes) -> None:
        self.broker.publish(*bodies)

    def dead(self) -> list[tuple[bytes, str]]:
        return [(message.body, reason) for message, reason in self.broker.dead]


class RabbitHarness:
    """The real session on the machine's RabbitMQ, on a queue of the test's own."""

    def __init__(self, url: str, queue: str) -> None:
        self.url, self.queue = url, queue
        self.sessions: list[BrokerSession] = []

    def open(self, deliveries: list[Delivery]) -> Session:
        session = BrokerSession(url=self.url, queue=self.queue, prefetch=PREFETCH, on_delivery=deliveries.append)
        self.sessions.append(session)
        session.open()  # declares the queue and its dead-letter queue
        return session

    def publish(self, *bodies: bytes) -> None:
        with blocking_channel(self.url) as channel:
            channel.confirm_delivery()
            for body in bodies:
                properties = pika.BasicProperties(message_id=uuid.uuid4().hex, delivery_mode=2)
                channel.basic_publish("", self.queue, body, properties, mandatory=True)

    def dead(self) -> list[tuple[bytes, str]]:
        found: list[tuple[bytes, str]] = []
        with blocking_channel(self.url) as channel:
            while True:
                method, properties, body = channel.basic_get(f"{self.queue}.dead", auto_ack=True)
                if method is None:
                    return found
                reason: Any = (properties.headers or {}).get(ERROR_HEADER)
                found.append((body, reason.decode() if isinstance(reason, bytes) else str(reason)))


@pytest.fixture(params=["twin", pytest.param("rabbitmq", marks=pytest.mark.integration)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The twin, or RabbitMQ (with ``amqp_url`` and a queue of the test's own, deleted afterwards)."""
    if request.param == "twin":
        yield TwinHarness()
        return
    real = RabbitHarness(request.getfixturevalue("amqp_url"), request.getfixturevalue("queue_name"))
    try:
        yield real
    finally:
        for session in real.sessions:
            session.close()


def receive(session: Session, deliveries: list[Delivery], count: int) -> list[Delivery]:
    """Run the session until ``count`` deliveries in all have come; they are returned."""

    def arrived() -> bool:
        session.process(0.05)
        return len(deliveries) >= count

    wait_until(arrived, timeout=20, what=f"{count} deliveries (have {len(deliveries)})")
    return deliveries


def stay_quiet(session: Session) -> None:
    """Run the session for ``QUIET`` seconds, long enough for a delivery it should not make to come."""
    for _ in range(int(QUIET / 0.05)):
        session.process(0.05)


def bodies(deliveries: list[Delivery]) -> list[bytes]:
    """The bodies, in delivery order."""
    return [delivery.body for delivery in deliveries]


def test_no_more_than_the_prefetch_is_unsettled_and_settling_makes_room(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(*(b"m%d" % i for i in range(8)))

    receive(session, deliveries, PREFETCH)
    stay_quiet(session)
    assert (len(deliveries), session.unsettled) == (PREFETCH, PREFETCH)

    session.settle(ack=[d.tag for d in deliveries[:2]])
    receive(session, deliveries, PREFETCH + 2)
    assert bodies(deliveries) == [b"m%d" % i for i in range(7)]
    assert session.unsettled == PREFETCH


def test_acks_with_a_gap_leave_the_gap_held_and_a_closed_session_gives_back_only_that(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"a", b"b", b"c", b"d", b"e")
    first = receive(session, deliveries, 5)

    session.settle(ack=[first[0].tag, first[1].tag, first[3].tag])  # a run from the oldest, then one past a gap
    assert session.unsettled == 2
    session.close()

    again: list[Delivery] = []
    receive(harness.open(again), again, 2)
    assert sorted(bodies(again)) == [b"c", b"e"]


def test_requeued_deliveries_come_back_and_the_others_stay_held(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"a", b"b", b"c")
    first = receive(session, deliveries, 3)

    session.settle(ack=[first[0].tag], requeue=[first[1].tag, first[2].tag])

    assert session.unsettled == 0
    again = receive(session, deliveries, 5)[3:]
    assert sorted(bodies(again)) == [b"b", b"c"]
    assert [d.tag for d in again] == [4, 5]  # tags count on: a redelivery is a new delivery on the channel


def test_cancel_stops_deliveries_held_ones_can_still_be_acked_and_resume_starts_again(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"held")
    receive(session, deliveries, 1)

    session.cancel()
    harness.publish(b"later-1", b"later-2")
    stay_quiet(session)
    assert bodies(deliveries) == [b"held"]
    wait_until(lambda: session.ready_messages() == 2, timeout=10, what="two ready messages")
    session.settle(ack=[deliveries[0].tag])
    assert session.unsettled == 0

    session.resume()
    assert bodies(receive(session, deliveries, 3)) == [b"held", b"later-1", b"later-2"]


def test_dead_letter_moves_the_message_with_its_reason_and_settles_it(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"keep", b"{not json")
    keep, bad = receive(session, deliveries, 2)

    session.dead_letter(bad, "undecodable: not JSON")

    assert session.unsettled == 1
    assert harness.dead() == [(b"{not json", "undecodable: not JSON")]
    session.settle(ack=[keep.tag])
    assert session.unsettled == 0


def test_settling_a_tag_twice_is_refused_before_anything_is_sent_and_the_session_goes_on(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"a", b"b")
    a, b = receive(session, deliveries, 2)
    session.settle(ack=[a.tag])

    with pytest.raises(ValueError, match="not awaiting settlement"):
        session.settle(ack=[a.tag, b.tag])

    assert session.unsettled == 1
    session.settle(ack=[b.tag])
    assert session.unsettled == 0
    harness.publish(b"c")
    assert bodies(receive(session, deliveries, 3)) == [b"a", b"b", b"c"]


def test_cancel_before_anything_is_handed_over_leaves_every_message_in_the_queue(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"a", b"b", b"c")
    # The real session's consumer has been sent these by now, or soon: cancel must give them all back.

    session.cancel()

    stay_quiet(session)
    assert (deliveries, session.unsettled) == ([], 0)
    wait_until(lambda: session.ready_messages() == 3, timeout=10, what="three ready messages")
    other: list[Delivery] = []
    assert sorted(bodies(receive(harness.open(other), other, 3))) == [b"a", b"b", b"c"]


def test_a_batch_above_an_older_held_delivery_is_acked_without_taking_the_older_one(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"old", b"x", b"y", b"z", b"new")
    _old, x, y, z, _new = receive(session, deliveries, 5)

    session.settle(ack=[x.tag, y.tag, z.tag])  # a multiple ack of z's tag would take "old" with it
    assert session.unsettled == 2
    session.close()

    again: list[Delivery] = []
    assert sorted(bodies(receive(harness.open(again), again, 2))) == [b"new", b"old"]


def test_a_multiple_ack_and_a_requeue_in_one_settlement_settle_exactly_their_own(harness: Harness) -> None:
    deliveries: list[Delivery] = []
    session = harness.open(deliveries)
    harness.publish(b"a", b"b", b"c", b"d", b"e")
    first = receive(session, deliveries, 5)

    session.settle(ack=[d.tag for d in first[:3]], requeue=[first[3].tag])  # one multiple ack, then one nack

    assert session.unsettled == 1
    again = receive(session, deliveries, 6)[5:]
    assert bodies(again) == [b"d"]
    session.settle(ack=[again[0].tag, first[4].tag])
    assert session.unsettled == 0
    stay_quiet(session)
    assert len(deliveries) == 6
