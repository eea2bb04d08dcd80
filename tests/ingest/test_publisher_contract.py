"""One suite over both implementations of the gateway's ``Publisher``: the in-memory twin and pika on RabbitMQ.

The gateway's unit tests publish through the twin (tests/ingest/twin.py); they
stand for the real thing only as far as the twin behaves as the real
publisher does. Every test here runs on both, the way dramatiq runs its
tests over its stub and its real brokers, so whatever the twin does
differently fails here: what is stored of an envelope, readiness before
``start`` and after ``close``, the shutdown drain, and which ``PublishError``
each broker condition gives, at once or after the confirm timeout.

The real publisher reaches RabbitMQ through a proxy (tests/support/amqp_proxy.py)
that plays the broker's outage, silence, resource alarm and nack; the twin is
told the same with ``fail_with`` and ``refuse_next``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol
from urllib.parse import urlsplit

import pytest

from ingest.amqp.publisher import AmqpPublisher
from ingest.metrics import IngestMetrics
from ingest.ports import (
    BrokerBlockedError,
    BrokerUnavailableError,
    ConfirmTimeoutError,
    Envelope,
    Publisher,
    PublishError,
    PublishNackedError,
    PublishReturnedError,
)
from schema.message import GZIP_ABOVE, encode_body
from schema.topology import RECEIVED_AT_HEADER
from tests.ingest.broker import take_all
from tests.ingest.twin import MemoryPublisher
from tests.support.amqp import blocking_channel
from tests.support.amqp_proxy import AmqpProxy, blocked_frame, nack_frame, unblocked_frame

CONFIRM_TIMEOUT = 1.0
RECOVERY = 20.0
"""Seconds the real publisher is given to reconnect (its backoff waits up to 5 s between rounds)."""


class Harness(Protocol):
    """A publisher on a queue of the test's own, and the broker conditions a test can bring about."""

    publisher: Publisher

    async def stored(self) -> list[Envelope]:
        """What the queue holds, in order, as the envelopes it was published from (taken off it)."""
        ...

    def cut(self) -> None:
        """The broker goes down."""
        ...

    def restore(self) -> None:
        """The broker is back."""
        ...

    def block(self) -> None:
        """The broker raises a resource alarm and blocks publishing."""
        ...

    def unblock(self) -> None:
        """The alarm clears."""
        ...

    def silence(self) -> None:
        """The broker keeps the connection but answers nothing, confirms included."""
        ...

    def answer(self) -> None:
        """The broker answers again."""
        ...

    async def lose_queue(self) -> None:
        """The report queue is deleted (by hand): the next publish cannot be routed."""
        ...

    async def publish_nacked(self, envelope: Envelope, delivery_tag: int) -> None:
        """Publish ``envelope``, which the broker nacks (its ``delivery_tag`` on the channel): raises its error."""
        ...


class TwinHarness:
    """The in-memory twin."""

    def __init__(self) -> None:
        self.twin = MemoryPublisher()
        self.publisher: Publisher = self.twin

    async def stored(self) -> list[Envelope]:
        stored, self.twin.published = self.twin.published, []
        return stored

    def cut(self) -> None:
        self.twin.fail_with = BrokerUnavailableError("connection lost")

    def block(self) -> None:
        self.twin.fail_with = BrokerBlockedError("the broker blocked publishing")

    def silence(self) -> None:
        self.twin.fail_with = ConfirmTimeoutError("no confirm from the broker in time")

    def restore(self) -> None:
        self.twin.fail_with = None

    unblock = answer = restore

    async def lose_queue(self) -> None:
        self.twin.refuse_next.append(PublishReturnedError("no route"))

    async def publish_nacked(self, envelope: Envelope, delivery_tag: int) -> None:  # noqa: ARG002  # no channel
        self.twin.refuse_next.append(PublishNackedError("the broker nacked the message"))
        await self.twin.publish(envelope)


class RabbitHarness:
    """The real publisher on the machine's RabbitMQ, through a proxy."""

    def __init__(self, amqp_url: str, queue: str, proxy: AmqpProxy) -> None:
        self.amqp_url, self.queue, self.proxy = amqp_url, queue, proxy
        self.metrics = IngestMetrics()
        self.publisher: Publisher = AmqpPublisher(
            amqp_url=proxy.url(),
            queue=queue,
            confirm_timeout=CONFIRM_TIMEOUT,
            connection_name="test-publisher-contract",
            metrics=self.metrics,
        )

    async def stored(self) -> list[Envelope]:
        taken = await asyncio.to_thread(take_all, self.amqp_url, self.queue)
        return [
            Envelope(
                body=message.body,
                message_id=message.properties.message_id,
                received_at=message.properties.headers[RECEIVED_AT_HEADER],
                timestamp=message.properties.timestamp,
                content_encoding=message.properties.content_encoding,
            )
            for message in taken
        ]

    def cut(self) -> None:
        self.proxy.cut()

    def restore(self) -> None:
        self.proxy.restore()

    def block(self) -> None:
        self.proxy.inject(blocked_frame("low on memory"))

    def unblock(self) -> None:
        self.proxy.inject(unblocked_frame())

    def silence(self) -> None:
        self.proxy.stall()

    def answer(self) -> None:
        self.proxy.resume()

    async def lose_queue(self) -> None:
        def delete() -> None:
            with blocking_channel(self.amqp_url) as channel:
                channel.queue_delete(self.queue)

        await asyncio.to_thread(delete)

    async def publish_nacked(self, envelope: Envelope, delivery_tag: int) -> None:
        # The broker's own ack is held back while the nack is played (the gateway publishes on channel 1).
        self.proxy.stall()
        publishing = asyncio.create_task(self.publisher.publish(envelope))
        try:
            await eventually(lambda: self._in_flight() == 1, what="the publish in flight")
            self.proxy.inject(nack_frame(channel=1, delivery_tag=delivery_tag))
            await publishing
        finally:
            self.proxy.resume()

    def _in_flight(self) -> float:
        return self.metrics.registry.get_sample_value("spartakus_ingest_publishes_in_flight") or 0.0


@pytest.fixture(params=["twin", pytest.param("rabbitmq", marks=pytest.mark.integration)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The twin, or RabbitMQ through a proxy (with ``amqp_url`` and a queue of the test's own)."""
    if request.param == "twin":
        yield TwinHarness()
        return
    amqp_url: str = request.getfixturevalue("amqp_url")
    broker = urlsplit(amqp_url)
    with AmqpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as proxy:
        yield RabbitHarness(amqp_url, request.getfixturevalue("queue_name"), proxy)


def run(harness: Harness, scenario: Callable[[Publisher], Awaitable[None]]) -> None:
    """Run ``scenario`` on the harness's publisher in an event loop of its own; the publisher is closed after."""

    async def main() -> None:
        try:
            async with asyncio.timeout(60):
                await scenario(harness.publisher)
        finally:
            await harness.publisher.close(1.0)

    asyncio.run(main())


async def eventually(condition: Callable[[], bool], *, timeout: float = 10, what: str) -> None:
    """Let the loop run until ``condition`` holds; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def published_once_ready(publisher: Publisher, envelope: Envelope) -> None:
    """Wait for readiness, then publish ``envelope`` (it must be confirmed)."""
    await eventually(lambda: publisher.ready, timeout=RECOVERY, what="ready")
    await publisher.publish(envelope)


async def refused(publisher: Publisher, envelope: Envelope) -> tuple[PublishError, float]:
    """The error publishing ``envelope`` fails with, and the seconds it took."""
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        await publisher.publish(envelope)
    return caught.value, time.monotonic() - started


def envelope(n: int = 0, *, gzip: bool = False) -> Envelope:
    """A distinct envelope; the publisher carries its body as it is, report or not."""
    encoded = encode_body([b'{"clusterID":"c%d","nodes":[]}' % n], gzip_above=0 if gzip else GZIP_ABOVE)
    return Envelope(
        body=encoded.body,
        message_id=uuid.uuid4().hex,
        received_at=f"2026-12-07T10:00:{n:02d}Z",
        timestamp=1796637600 + n,
        content_encoding=encoded.content_encoding,
    )


def test_nothing_is_published_before_start_and_start_makes_it_ready(harness: Harness) -> None:
    async def scenario(publisher: Publisher) -> None:
        assert (publisher.ready, publisher.alive) == (False, False)
        error, _seconds = await refused(publisher, envelope())
        assert isinstance(error, BrokerUnavailableError)

        await publisher.start()

        assert (publisher.ready, publisher.alive) == (True, True)
        assert await harness.stored() == []

    run(harness, scenario)


def test_a_confirmed_publish_stores_every_field_of_its_envelope_in_order(harness: Harness) -> None:
    sent = [envelope(1), envelope(2, gzip=True), envelope(3)]

    async def scenario(publisher: Publisher) -> None:
        await publisher.start()
        for each in sent:
            await publisher.publish(each)
        assert await harness.stored() == sent

    run(harness, scenario)


def test_close_lets_the_publish_in_flight_be_confirmed_then_refuses_and_is_neither_ready_nor_alive(
    harness: Harness,
) -> None:
    async def scenario(publisher: Publisher) -> None:
        await publisher.start()
        in_flight = asyncio.create_task(publisher.publish(first := envelope(1)))
        await asyncio.sleep(0)  # the publish goes out; its confirm is still to come

        await publisher.close(10.0)

        await in_flight
        assert (publisher.ready, publisher.alive) == (False, False)
        error, _seconds = await refused(publisher, envelope(2))
        assert isinstance(error, BrokerUnavailableError)
        assert await harness.stored() == [first]

    run(harness, scenario)


@pytest.mark.parametrize(("condition", "refusal"), [("alarm", BrokerBlockedError), ("outage", BrokerUnavailableError)])
def test_a_resource_alarm_or_an_outage_refuses_publishes_at_once_and_the_publisher_recovers_when_it_ends(
    harness: Harness, condition: str, refusal: type[PublishError]
) -> None:
    begin, end = {"alarm": (harness.block, harness.unblock), "outage": (harness.cut, harness.restore)}[condition]

    async def scenario(publisher: Publisher) -> None:
        await publisher.start()
        begin()
        await eventually(lambda: not publisher.ready, what=f"not ready during the {condition}")

        error, seconds = await refused(publisher, envelope(1))

        assert isinstance(error, refusal)
        assert seconds < CONFIRM_TIMEOUT / 2
        assert publisher.alive
        end()
        await published_once_ready(publisher, confirmed := envelope(2))
        assert await harness.stored() == [confirmed]

    run(harness, scenario)


def test_a_silent_broker_times_the_publish_out_and_is_not_ready_until_it_answers(harness: Harness) -> None:
    async def scenario(publisher: Publisher) -> None:
        await publisher.start()
        harness.silence()

        error, _seconds = await refused(publisher, envelope(1))

        assert isinstance(error, ConfirmTimeoutError)
        assert not publisher.ready
        harness.answer()
        await published_once_ready(publisher, envelope(2))
        # The timed-out report may have been stored after all (the sender retries it: at least once).

    run(harness, scenario)


def test_a_nacked_publish_fails_and_the_next_ones_are_confirmed(harness: Harness) -> None:
    async def scenario(publisher: Publisher) -> None:
        await publisher.start()
        await publisher.publish(first := envelope(1))

        with pytest.raises(PublishNackedError):
            await harness.publish_nacked(envelope(2), delivery_tag=2)

        await published_once_ready(publisher, third := envelope(3))
        stored = await harness.stored()
        assert (stored[0], stored[-1]) == (first, third)  # the broker may have kept the nacked one as well

    run(harness, scenario)


def test_an_unroutable_publish_fails_the_publisher_stays_ready_and_the_queue_comes_back(harness: Harness) -> None:
    async def scenario(publisher: Publisher) -> None:
        await publisher.start()
        await harness.lose_queue()

        error, _seconds = await refused(publisher, envelope(1))

        assert isinstance(error, PublishReturnedError)
        assert publisher.ready
        confirmed = envelope(2)
        while True:  # the queue is declared again in the background
            try:
                await publisher.publish(confirmed)
                break
            except PublishReturnedError:
                await asyncio.sleep(0.05)
        assert await harness.stored() == [confirmed]

    run(harness, scenario)
