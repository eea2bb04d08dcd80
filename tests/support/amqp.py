"""Test-side AMQP helpers: own queue names, and removing them afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import pika


def unique_queue_name(prefix: str = "test.spartakus") -> str:
    """A queue name no other test (or earlier run) uses."""
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


@contextmanager
def blocking_channel(url: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A pika channel on a connection of its own, closed afterwards."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def delete_queues(url: str, *names: str) -> None:
    """Delete ``names`` if they exist; the broker keeps state between runs."""
    with blocking_channel(url) as channel:
        for name in names:
            channel.queue_delete(queue=name)


def message_count(url: str, name: str) -> int:
    """Ready messages in ``name`` (passive declare: never creates the queue)."""
    with blocking_channel(url) as channel:
        result = channel.queue_declare(queue=name, passive=True)
        count: int = result.method.message_count
        return count


PREFETCH: Final = 256
"""Messages in flight to ``take_messages``: a basic.get per message costs a round trip, thousands cost seconds."""


def take_messages(url: str, queue: str) -> list[tuple[Any, bytes]]:
    """Every message now in ``queue``, acknowledged (so removed): its properties and body each."""
    taken: list[tuple[Any, bytes]] = []
    with blocking_channel(url) as channel:
        ready = channel.queue_declare(queue, passive=True).method.message_count
        if ready:
            channel.basic_qos(prefetch_count=PREFETCH)
            for method, properties, body in channel.consume(queue, inactivity_timeout=30):
                if method is None:
                    raise AssertionError(f"{queue} held {ready} messages, {len(taken)} came within 30 s")
                taken.append((properties, body))
                channel.basic_ack(method.delivery_tag)
                if len(taken) == ready:
                    break
            channel.cancel()  # deliveries past ``ready`` go back unacknowledged, for the basic.get below
        # Whatever arrived since the count, one at a time until the queue is empty.
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append((properties, body))
