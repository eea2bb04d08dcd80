"""``BrokerSession``: the writer's session (``writer.session``) on RabbitMQ through pika.

It is one connection: it declares the topology from ``schema.topology``
verbatim, consumes with manual acks and a prefetch the caller sizes to its
batches, settles deliveries with as few acks as the tags allow, and publishes
permanent failures to ``<queue>.dead`` with a confirm before acking the
original. It is used from one thread; ``wake`` is the one method another
thread may call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any, Final

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from runtime.brokers import BrokerAddresses, describe_url
from schema.topology import ERROR_HEADER, topology_for
from writer.amqp.connection import (
    CLIENT_ERRORS,
    addresses,
    close_quietly,
    declare,
    headers,
    parameters,
    translated,
    with_headers,
)
from writer.batch import AckTracker
from writer.errors import BrokerError
from writer.session import Delivery

MAX_REASON_CHARS: Final = 2000


class BrokerSession:
    """One connection to RabbitMQ consuming ``queue``; see the module docstring.

    Args:
        url: the broker URL(s), or the writer's addresses (kept across sessions: after a loss, the next
            session starts with another node).
        queue: the report queue.
        prefetch: the most unsettled deliveries.
        on_delivery: called with each delivery, in the session's thread.
        name: shown by ``rabbitmqctl list_connections``.
    """

    def __init__(
        self,
        *,
        url: str | BrokerAddresses,
        queue: str,
        prefetch: int,
        on_delivery: Callable[[Delivery], None],
        name: str = "spartakus-writer",
    ) -> None:
        self.queue = queue
        self.dead_queue = topology_for(queue).dead_queue
        self._brokers = addresses(url, shuffle=True)
        self._prefetch = prefetch
        self._on_delivery = on_delivery
        self._name = name
        self._tracker = AckTracker()
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._publisher: BlockingChannel | None = None
        self._consumer_tag: str | None = None

    @property
    def unsettled(self) -> int:
        """Deliveries not yet acked or nacked."""
        return len(self._tracker)

    def open(self) -> None:
        """Connect to the first broker address where the topology can be declared, and start consuming.

        One round: the address in use first, then each other one. A node that
        accepts the connection but cannot serve the queue (it lost its cluster,
        say) counts as not answering.

        Raises:
            BrokerError: no address worked; the reason for each is in the message.
        """
        failures = []
        for url in self._brokers.round():
            try:
                self._open_on(url)
            except BrokerError as e:
                self.close()
                failures.append(f"{describe_url(url)}: {e}")
                continue
            self._brokers.connected(url)
            return
        raise BrokerError("; ".join(failures))

    def _open_on(self, url: str) -> None:
        with translated("connect"):
            self._connection = pika.BlockingConnection(parameters(url, self._name))
            self._channel = self._connection.channel()
            declare(self._channel, self.queue)
            self._channel.basic_qos(prefetch_count=self._prefetch)
            self._publisher = self._connection.channel()
            self._publisher.confirm_delivery()
            self._consumer_tag = self._channel.basic_consume(self.queue, self._deliver, auto_ack=False)

    def _deliver(self, _channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        tag: int = method.delivery_tag
        self._tracker.delivered(tag)
        self._on_delivery(
            Delivery(tag, body, properties.message_id, headers(properties), properties, properties.content_encoding)
        )

    def _open_channel(self) -> BlockingChannel:
        if self._channel is None:
            raise BrokerError("RabbitMQ: the session is not open")
        return self._channel

    def process(self, timeout: float) -> None:
        """Run I/O and deliver messages for up to ``timeout`` seconds (less once something happened)."""
        if self._connection is None:
            raise BrokerError("RabbitMQ: the session is not open")
        with translated("consume"):
            self._connection.process_data_events(time_limit=max(timeout, 0))

    def settle(self, *, ack: Iterable[int] = (), requeue: Iterable[int] = ()) -> None:
        """Ack written deliveries and return others to the queue, with ``multiple`` where the tags allow."""
        channel = self._open_channel()
        with translated("settle"):
            for tag, multiple in self._tracker.plan(ack):
                channel.basic_ack(tag, multiple=multiple)
            for tag, multiple in self._tracker.plan(requeue):
                channel.basic_nack(tag, multiple=multiple, requeue=True)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Publish ``delivery`` to ``<queue>.dead`` with ``reason`` (confirmed), then ack it."""
        if self._publisher is None:
            raise BrokerError("RabbitMQ: the session is not open")
        dead_headers = {**delivery.headers, ERROR_HEADER: reason[:MAX_REASON_CHARS]}
        with translated("dead-letter publish"):
            self._publisher.basic_publish(
                "", self.dead_queue, delivery.body, with_headers(delivery.properties, dead_headers), mandatory=True
            )
        self.settle(ack=[delivery.tag])

    def ready_messages(self) -> int:
        """Messages waiting in the queue, as the broker counts them."""
        channel = self._open_channel()
        with translated("queue depth"):
            count: int = channel.queue_declare(self.queue, passive=True).method.message_count
            return count

    def cancel(self) -> None:
        """Stop deliveries; ones the client holds but has not handed over go back to the queue."""
        if self._channel is not None and self._consumer_tag is not None:
            with translated("cancel"):
                self._channel.basic_cancel(self._consumer_tag)
            self._consumer_tag = None

    def resume(self) -> None:
        """Start deliveries again after ``cancel``."""
        if self._channel is not None and self._consumer_tag is None:
            with translated("consume"):
                self._consumer_tag = self._channel.basic_consume(self.queue, self._deliver, auto_ack=False)

    def wake(self) -> None:
        """Make a ``process`` call in the session's thread return soon. Safe from any thread."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(*CLIENT_ERRORS):
            connection.add_callback_threadsafe(lambda: None)

    def close(self) -> None:
        """Close the connection; unsettled deliveries go back to the queue."""
        connection, self._connection = self._connection, None
        self._channel = self._publisher = None
        close_quietly(connection)
