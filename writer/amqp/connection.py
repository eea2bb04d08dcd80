"""Blocking pika connections for the writer's tools: URLs, connecting, the topology, and pika's errors translated.

``translated`` is the one place where pika's exceptions become
``BrokerError``; every call into pika in ``writer.amqp`` runs inside it (or
ignores pika's errors on purpose, when closing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Final

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from runtime.brokers import BrokerAddresses, check_urls, describe_url
from schema.topology import PERSISTENT, topology_for
from writer.errors import BrokerError

SOCKET_TIMEOUT: Final = 10.0
BLOCKED_CONNECTION_TIMEOUT: Final = 60.0
CLIENT_ERRORS: Final = (pika.exceptions.AMQPError, OSError)
"""What pika's calls raise when the connection or channel fails."""


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise pika's errors from inside the block as ``BrokerError`` (``RabbitMQ: <what> failed: ...``)."""
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
    check_urls(urls, pika.URLParameters)


def parameters(url: str, name: str) -> pika.URLParameters:
    """pika's parameters for ``url``: one attempt (reconnects are the caller's, with its backoff), bounded waits."""
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = SOCKET_TIMEOUT
    params.blocked_connection_timeout = BLOCKED_CONNECTION_TIMEOUT
    params.client_properties = {"connection_name": name, "product": "spartakus"}
    return params


def addresses(url: str | BrokerAddresses, *, shuffle: bool) -> BrokerAddresses:
    """``url`` as broker addresses (kept as they are when already parsed, with the one in use)."""
    return url if isinstance(url, BrokerAddresses) else BrokerAddresses.parse(url, shuffle=shuffle)


def connect(brokers: BrokerAddresses, name: str) -> BlockingConnection:
    """A connection to the first of ``brokers`` that answers, trying the current one first."""
    failures = []
    for url in brokers.round():
        try:
            connection = pika.BlockingConnection(parameters(url, name))
        except CLIENT_ERRORS as e:
            failures.append(f"{describe_url(url)}: {e!r}")
            continue
        brokers.connected(url)
        return connection
    raise BrokerError(f"RabbitMQ: connect failed: {'; '.join(failures)}")


def close_quietly(connection: BlockingConnection | None) -> None:
    """Close ``connection`` if it is open; a failure to do so is of no interest (the broker drops it anyway)."""
    if connection is not None and connection.is_open:
        with contextlib.suppress(*CLIENT_ERRORS):
            connection.close()


def declare(channel: BlockingChannel, queue: str) -> None:
    """Declare ``queue`` and its dead-letter queue as ``schema.topology`` gives them."""
    topology = topology_for(queue)
    for spec in (topology.dead, topology.main):
        channel.queue_declare(spec.name, durable=spec.durable, arguments=dict(spec.arguments))


def headers(properties: pika.BasicProperties) -> dict[str, Any]:
    """A copy of the message's headers (none: empty)."""
    return dict(properties.headers or {})


def with_headers(properties: pika.BasicProperties, new_headers: Mapping[str, Any]) -> pika.BasicProperties:
    """``properties`` for publishing again, persistent, with ``new_headers`` instead of the message's own."""
    return pika.BasicProperties(
        content_type=properties.content_type,
        content_encoding=properties.content_encoding,
        headers=dict(new_headers),
        delivery_mode=PERSISTENT,
        message_id=properties.message_id,
        timestamp=properties.timestamp,
        type=properties.type,
        app_id=properties.app_id,
    )
