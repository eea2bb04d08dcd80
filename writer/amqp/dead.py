"""Browsing and replaying ``<queue>.dead`` (``spartakus dlq``), through pika.

Each call opens a connection of its own to the first broker address that
answers, in the operator's order, and declares the topology first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from schema.headers import dead_reason, replayed_headers
from schema.topology import topology_for
from writer.amqp.connection import addresses, close_quietly, connect, declare, headers, translated, with_headers


@dataclass(frozen=True, slots=True)
class DeadMessage:
    """A message in ``<queue>.dead`` as ``spartakus dlq list`` shows it."""

    message_id: str | None
    reason: str
    headers: Mapping[str, Any]
    body: bytes
    content_encoding: str | None = None


@contextlib.contextmanager
def _dead_channel(url: str, queue: str, name: str) -> Iterator[BlockingChannel]:
    connection = connect(addresses(url, shuffle=False), name)
    try:
        with translated("declare"):
            channel = connection.channel()
            declare(channel, queue)
        yield channel
    finally:
        close_quietly(connection)


def browse_dead(url: str, queue: str, *, limit: int) -> tuple[int, list[DeadMessage]]:
    """The number of messages in ``<queue>.dead`` and up to ``limit`` of them, left in place.

    The messages are fetched unacknowledged and go back to the queue when the connection closes.
    """
    dead = topology_for(queue).dead_queue
    messages: list[DeadMessage] = []
    with _dead_channel(url, queue, "spartakus-dlq-list") as channel, translated("browse"):
        total: int = channel.queue_declare(dead, passive=True).method.message_count
        while len(messages) < min(total, limit):
            method, properties, body = channel.basic_get(dead, auto_ack=False)
            if method is None:
                break
            found = headers(properties)
            messages.append(
                DeadMessage(properties.message_id, dead_reason(found), found, body, properties.content_encoding)
            )
    return total, messages


def replay_dead(url: str, queue: str, *, limit: int) -> int:
    """Move up to ``limit`` messages from ``<queue>.dead`` back to ``queue``: confirmed publish, then ack.

    Messages that fail again while this runs land behind the ones counted at the start, so it ends.
    """
    dead = topology_for(queue).dead_queue
    moved = 0
    with _dead_channel(url, queue, "spartakus-dlq-replay") as channel, translated("replay"):
        channel.confirm_delivery()
        total: int = channel.queue_declare(dead, passive=True).method.message_count
        while moved < min(total, limit):
            method, properties, body = channel.basic_get(dead, auto_ack=False)
            if method is None:
                break
            replayed = replayed_headers(headers(properties))
            channel.basic_publish("", queue, body, with_headers(properties, replayed), mandatory=True)
            channel.basic_ack(method.delivery_tag)
            moved += 1
    return moved
