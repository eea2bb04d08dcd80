"""Test-side AMQP helpers: own queue names, and removing them afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

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
