"""RabbitMQ through pika: the only module of the writer (and of ``spartakus dlq``) that imports pika.

``BrokerSession`` is one connection: it declares the topology from
``schema.topology`` verbatim, consumes with manual acks and a prefetch the
caller sizes to its batches, settles deliveries with as few acks as the tags
allow, and publishes permanent failures to ``<queue>.dead`` with a confirm
before acking the original. It is used from one thread; ``wake`` is the one
method another thread may call. Every pika exception leaves this module as
``BrokerError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from runtime.brokers import BrokerAddresses, describe_url
from runtime.settings import redact_in, split_amqp_urls
from schema.headers import dead_reason, moved_headers, replayed_headers
from schema.topology import ERROR_HEADER, PERSISTENT, QueueSpec, topology_for
from writer.batch import AckTracker
from writer.errors import BrokerError

SOCKET_TIMEOUT: Final = 10.0
BLOCKED_CONNECTION_TIMEOUT: Final = 60.0
MAX_REASON_CHARS: Final = 2000
NOT_FOUND: Final = 404
PRECONDITION_FAILED: Final = 406


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as delivered to the writer."""

    tag: int
    body: bytes
    message_id: str | None
    headers: Mapping[str, Any]
    properties: Any
    """The client's message properties, reused only by this module when dead-lettering."""
    content_encoding: str | None = None
    """``gzip`` for a compressed body (``schema.message``); None for plain JSON."""


@dataclass(frozen=True, slots=True)
class DeadMessage:
    """A message in ``<queue>.dead`` as ``spartakus dlq list`` shows it."""

    message_id: str | None
    reason: str
    headers: Mapping[str, Any]
    body: bytes
    content_encoding: str | None = None


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except pika.exceptions.AMQPError as e:
        raise BrokerError(f"RabbitMQ: {what} failed: {e!r}") from e
    except OSError as e:
        raise BrokerError(f"RabbitMQ: {what} failed: {e}") from e


def check_url(urls: str) -> None:
    """Refuse, at start-up, an AMQP URL that pika cannot use (a bad query option, say), in a list too.

    Raises:
        ValueError: why, with the password masked.
    """
    for url in split_amqp_urls(urls):
        try:
            pika.URLParameters(url)
        except (ValueError, TypeError, KeyError, SyntaxError) as e:
            raise ValueError(redact_in(f"pika cannot use it: {e}", url)) from e


def _parameters(url: str, name: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    # Reconnects are the caller's, with its backoff; one attempt here.
    params.connection_attempts = 1
    params.socket_timeout = SOCKET_TIMEOUT
    params.blocked_connection_timeout = BLOCKED_CONNECTION_TIMEOUT
    params.client_properties = {"connection_name": name, "product": "spartakus"}
    return params


def _connect(brokers: BrokerAddresses, name: str) -> BlockingConnection:
    """A connection to the first of ``brokers`` that answers, trying the current one first."""
    failures = []
    for url in brokers.round():
        try:
            connection = pika.BlockingConnection(_parameters(url, name))
        except (pika.exceptions.AMQPError, OSError) as e:
            failures.append(f"{describe_url(url)}: {e!r}")
            continue
        brokers.connected(url)
        return connection
    raise BrokerError(f"RabbitMQ: connect failed: {'; '.join(failures)}")


def _addresses(url: str | BrokerAddresses, *, shuffle: bool) -> BrokerAddresses:
    return url if isinstance(url, BrokerAddresses) else BrokerAddresses.parse(url, shuffle=shuffle)


def _declare(channel: BlockingChannel, queue: str) -> None:
    topology = topology_for(queue)
    for spec in (topology.dead, topology.main):
        channel.queue_declare(spec.name, durable=spec.durable, arguments=dict(spec.arguments))


def _headers(properties: pika.BasicProperties) -> dict[str, Any]:
    return dict(properties.headers or {})


def _with_headers(properties: pika.BasicProperties, headers: Mapping[str, Any]) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=properties.content_type,
        content_encoding=properties.content_encoding,
        headers=dict(headers),
        delivery_mode=PERSISTENT,
        message_id=properties.message_id,
        timestamp=properties.timestamp,
        type=properties.type,
        app_id=properties.app_id,
    )


class BrokerSession:
    """One connection to RabbitMQ consuming ``queue``; see the module docstring."""

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
        self._brokers = _addresses(url, shuffle=True)
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
        with _translated("connect"):
            self._connection = pika.BlockingConnection(_parameters(url, self._name))
            self._channel = self._connection.channel()
            _declare(self._channel, self.queue)
            self._channel.basic_qos(prefetch_count=self._prefetch)
            self._publisher = self._connection.channel()
            self._publisher.confirm_delivery()
            self._consumer_tag = self._channel.basic_consume(self.queue, self._deliver, auto_ack=False)

    def _deliver(self, _channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        tag: int = method.delivery_tag
        self._tracker.delivered(tag)
        self._on_delivery(
            Delivery(tag, body, properties.message_id, _headers(properties), properties, properties.content_encoding)
        )

    def _conn(self) -> BlockingConnection:
        if self._connection is None:
            raise BrokerError("RabbitMQ: the session is not open")
        return self._connection

    def process(self, timeout: float) -> None:
        """Run I/O and deliver messages for up to ``timeout`` seconds (less once something happened)."""
        with _translated("consume"):
            self._conn().process_data_events(time_limit=max(timeout, 0))

    def settle(self, *, ack: Iterable[int] = (), requeue: Iterable[int] = ()) -> None:
        """Ack written deliveries and return others to the queue, with ``multiple`` where the tags allow."""
        channel = self._channel
        if channel is None:
            raise BrokerError("RabbitMQ: the session is not open")
        with _translated("settle"):
            for tag, multiple in self._tracker.plan(ack):
                channel.basic_ack(tag, multiple=multiple)
            for tag, multiple in self._tracker.plan(requeue):
                channel.basic_nack(tag, multiple=multiple, requeue=True)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Publish ``delivery`` to ``<queue>.dead`` with ``reason`` (confirmed), then ack it."""
        if self._publisher is None:
            raise BrokerError("RabbitMQ: the session is not open")
        headers = {**delivery.headers, ERROR_HEADER: reason[:MAX_REASON_CHARS]}
        with _translated("dead-letter publish"):
            self._publisher.basic_publish(
                "", self.dead_queue, delivery.body, _with_headers(delivery.properties, headers), mandatory=True
            )
        self.settle(ack=[delivery.tag])

    def ready_messages(self) -> int:
        """Messages waiting in the queue, as the broker counts them."""
        channel = self._channel
        if channel is None:
            raise BrokerError("RabbitMQ: the session is not open")
        with _translated("queue depth"):
            count: int = channel.queue_declare(self.queue, passive=True).method.message_count
            return count

    def cancel(self) -> None:
        """Stop deliveries; ones the client holds but has not handed over go back to the queue."""
        if self._channel is not None and self._consumer_tag is not None:
            with _translated("cancel"):
                self._channel.basic_cancel(self._consumer_tag)
            self._consumer_tag = None

    def resume(self) -> None:
        """Start deliveries again after ``cancel``."""
        if self._channel is not None and self._consumer_tag is None:
            with _translated("consume"):
                self._consumer_tag = self._channel.basic_consume(self.queue, self._deliver, auto_ack=False)

    def wake(self) -> None:
        """Make a ``process`` call in the session's thread return soon. Safe from any thread."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            connection.add_callback_threadsafe(lambda: None)

    def close(self) -> None:
        """Close the connection; unsettled deliveries go back to the queue."""
        connection, self._connection = self._connection, None
        self._channel = self._publisher = None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()


@contextlib.contextmanager
def _dlq_channel(url: str, queue: str, name: str) -> Iterator[BlockingChannel]:
    connection = _connect(_addresses(url, shuffle=False), name)
    try:
        with _translated("declare"):
            channel = connection.channel()
            _declare(channel, queue)
        yield channel
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            connection.close()


def browse_dead(url: str, queue: str, *, limit: int) -> tuple[int, list[DeadMessage]]:
    """The number of messages in ``<queue>.dead`` and up to ``limit`` of them, left in place.

    The messages are fetched unacknowledged and go back to the queue when the connection closes.
    """
    dead = topology_for(queue).dead_queue
    messages: list[DeadMessage] = []
    with _dlq_channel(url, queue, "spartakus-dlq-list") as channel, _translated("browse"):
        total: int = channel.queue_declare(dead, passive=True).method.message_count
        while len(messages) < min(total, limit):
            method, properties, body = channel.basic_get(dead, auto_ack=False)
            if method is None:
                break
            headers = _headers(properties)
            messages.append(
                DeadMessage(properties.message_id, dead_reason(headers), headers, body, properties.content_encoding)
            )
    return total, messages


def replay_dead(url: str, queue: str, *, limit: int) -> int:
    """Move up to ``limit`` messages from ``<queue>.dead`` back to ``queue``: confirmed publish, then ack.

    Messages that fail again while this runs land behind the ones counted at the start, so it ends.
    """
    dead = topology_for(queue).dead_queue
    moved = 0
    with _dlq_channel(url, queue, "spartakus-dlq-replay") as channel, _translated("replay"):
        channel.confirm_delivery()
        total: int = channel.queue_declare(dead, passive=True).method.message_count
        while moved < min(total, limit):
            method, properties, body = channel.basic_get(dead, auto_ack=False)
            if method is None:
                break
            headers = replayed_headers(_headers(properties))
            channel.basic_publish("", queue, body, _with_headers(properties, headers), mandatory=True)
            channel.basic_ack(method.delivery_tag)
            moved += 1
    return moved


# --- queue migration (``spartakus queues``) ------------------------------------


@dataclass(frozen=True, slots=True)
class QueueState:
    """A queue as a passive declare sees it, and whether it takes the topology's arguments."""

    exists: bool
    matches: bool
    messages: int = 0
    consumers: int = 0


class QueueAdmin:
    """One connection for inspecting, moving and re-creating queues; every call opens a channel of its own.

    RabbitMQ closes a channel on a refused declaration (404, 406), so each probe gets a fresh one.
    """

    def __init__(self, url: str, name: str = "spartakus-queues") -> None:
        self._connection = _connect(_addresses(url, shuffle=False), name)

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            if self._connection.is_open:
                self._connection.close()

    def _channel(self) -> BlockingChannel:
        with _translated("open a channel"):
            return self._connection.channel()

    def state(self, spec: QueueSpec) -> QueueState:
        """Whether ``spec.name`` exists, whether declaring it with ``spec``'s arguments succeeds, and its counts."""
        with _translated(f"inspecting {spec.name}"):
            try:
                passive = self._channel().queue_declare(spec.name, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as e:
                if e.reply_code != NOT_FOUND:
                    raise
                return QueueState(exists=False, matches=False)
            counts = (passive.message_count, passive.consumer_count)
            try:
                self._channel().queue_declare(spec.name, durable=spec.durable, arguments=dict(spec.arguments))
            except pika.exceptions.ChannelClosedByBroker as e:
                if e.reply_code != PRECONDITION_FAILED:
                    raise
                return QueueState(True, False, *counts)
        return QueueState(True, True, *counts)

    def declare(self, spec: QueueSpec) -> None:
        """Declare ``spec``; fails with ``BrokerError`` if the queue exists with other arguments."""
        with _translated(f"declaring {spec.name}"):
            self._channel().queue_declare(spec.name, durable=spec.durable, arguments=dict(spec.arguments))

    def move(self, source: str, target: str, *, count_replay: bool = True) -> int:
        """Move every message of ``source`` to ``target``, one at a time: confirmed publish, then ack.

        Each is published without the broker's history (``schema.headers``); ``count_replay`` adds one to its
        ``x-spartakus-replays``.
        """
        moved = 0
        channel = self._channel()
        with _translated(f"moving {source} to {target}"):
            channel.confirm_delivery()
            while True:
                method, properties, body = channel.basic_get(source, auto_ack=False)
                if method is None:
                    return moved
                headers = moved_headers(_headers(properties), count=count_replay)
                channel.basic_publish("", target, body, _with_headers(properties, headers), mandatory=True)
                channel.basic_ack(method.delivery_tag)
                moved += 1

    def delete_if_empty(self, name: str) -> bool:
        """Delete ``name`` unless it holds messages (which a publisher may have put there meanwhile).

        Quorum queues refuse ``if-empty`` deletes, so the count is checked first;
        a message published between the check and the delete is reported, never hidden.
        """
        with _translated(f"deleting {name}"):
            channel = self._channel()
            if channel.queue_declare(name, passive=True).method.message_count:
                return False
            deleted: int = channel.queue_delete(name).method.message_count
        if deleted:
            raise BrokerError(f"RabbitMQ: {deleted} message(s) reached {name} while it was deleted; stop the gateways")
        return True
