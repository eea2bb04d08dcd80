"""Durable, confirmed publishing to RabbitMQ: the ``Publisher`` port on the channel of ``ingest.amqp.channel``.

Many publishes are in flight at once on one channel in confirm mode; each
waits for the broker's ack of *its own* delivery tag. Anything short of an
ack (nack, return, lost channel, blocked connection, timeout) becomes a
``PublishError``, so the HTTP side never answers success for a report the
broker has not taken responsibility for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

import pika

from ingest.amqp.channel import Channel
from ingest.amqp.connection import APP_ID
from ingest.amqp.errors import CLIENT_ERRORS, unavailable
from ingest.amqp.state import State
from ingest.metrics import IngestMetrics
from ingest.ports import BrokerUnavailableError, Envelope
from schema.report import SCHEMA_VERSION
from schema.topology import CONTENT_TYPE, PERSISTENT, RECEIVED_AT_HEADER, SCHEMA_VERSION_HEADER

log = logging.getLogger(__name__)

# Read on every publish: a module global costs a tenth of ``State.READY``'s lookup.
_READY: Final = State.READY
_OVERDUE: Final = State.OVERDUE


class AmqpPublisher:
    """The ``Publisher`` port on RabbitMQ, with automatic reconnection.

    Args:
        amqp_url: broker URL, e.g. ``amqp://guest:guest@localhost:5672/``, or one per cluster node
            separated by commas (``runtime.brokers`` says in which order they are tried).
        queue: report queue; its topology comes from ``schema.topology``.
        confirm_timeout: seconds a publish waits for its confirm.
        connection_name: shown by ``rabbitmqctl list_connections``; the process id is appended.
        metrics: where confirms, reconnects and in-flight publishes are counted.
    """

    def __init__(
        self, *, amqp_url: str, queue: str, confirm_timeout: float, connection_name: str, metrics: IngestMetrics
    ) -> None:
        self._channel = Channel(
            amqp_url=amqp_url,
            queue=queue,
            confirm_timeout=confirm_timeout,
            connection_name=connection_name,
            metrics=metrics,
        )
        self._queue = queue
        self._confirm_timeout = confirm_timeout
        self._metrics = metrics

    @property
    def ready(self) -> bool:
        """Whether a publish could be confirmed now.

        The channel is open, the connection is not blocked, the gateway is not
        closing, and no confirm is overdue: a frozen broker keeps the channel
        open but answers nothing, so readiness also follows the confirms.
        """
        return self._channel.ready

    @property
    def alive(self) -> bool:
        """Whether the connection manager runs (it is what recovers from a broker outage)."""
        return self._channel.alive

    async def start(self, wait: float = 5.0) -> None:
        """Start connecting in the background; wait up to ``wait`` seconds for the first connection."""
        await self._channel.start(wait)

    async def publish(self, envelope: Envelope) -> None:
        """Publish ``envelope`` persistently and wait for the broker's confirm of this very message.

        Raises:
            PublishError: not confirmed (broker down, blocked, nack, unroutable, or timeout).
        """
        link = self._channel
        state = link.state
        if state is not _READY and state is not _OVERDUE:
            raise link.refusal()
        channel, tracker = link.current, link.tracker
        try:
            channel.basic_publish("", self._queue, envelope.body, _properties(envelope), mandatory=True)
        except CLIENT_ERRORS as e:
            raise unavailable(e, "publish failed") from e
        # Track only after the frame went out: the broker numbers what it was sent.
        loop = asyncio.get_running_loop()
        tag, confirmed = tracker.track(envelope.message_id, deadline=loop.time() + self._confirm_timeout)
        started = time.perf_counter()
        try:
            await confirmed
        finally:
            tracker.forget(tag)
        self._metrics.confirm_seconds.observe(time.perf_counter() - started)
        self._metrics.published.inc()

    async def close(self, timeout: float) -> None:
        """Refuse new publishes, wait up to ``timeout`` seconds for pending confirms, then disconnect."""
        link = self._channel
        link.close()
        try:
            async with asyncio.timeout(timeout):
                await link.tracker.empty.wait()
        except TimeoutError:
            log.warning("closing with publishes still unconfirmed", extra={"in_flight": len(link.tracker)})
        link.tracker.fail_all(BrokerUnavailableError("the gateway is shutting down"))
        await link.disconnect()


def _properties(envelope: Envelope) -> Any:
    return pika.BasicProperties(
        content_type=CONTENT_TYPE,
        content_encoding=envelope.content_encoding,
        delivery_mode=PERSISTENT,
        message_id=envelope.message_id,
        timestamp=envelope.timestamp,
        app_id=APP_ID,
        headers={RECEIVED_AT_HEADER: envelope.received_at, SCHEMA_VERSION_HEADER: SCHEMA_VERSION},
    )
