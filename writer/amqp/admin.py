"""Inspecting, moving and re-creating queues through pika, for ``spartakus queues`` (``writer.queues``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from schema.headers import moved_headers
from schema.topology import QueueSpec
from writer.amqp.connection import addresses, close_quietly, connect, headers, translated, with_headers
from writer.errors import BrokerError

NOT_FOUND: Final = 404
PRECONDITION_FAILED: Final = 406


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
        self._connection = connect(addresses(url, shuffle=False), name)

    def close(self) -> None:
        """Close the connection."""
        close_quietly(self._connection)

    def _channel(self) -> BlockingChannel:
        with translated("open a channel"):
            return self._connection.channel()

    def state(self, spec: QueueSpec) -> QueueState:
        """Whether ``spec.name`` exists, whether declaring it with ``spec``'s arguments succeeds, and its counts."""
        with translated(f"inspecting {spec.name}"):
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
        with translated(f"declaring {spec.name}"):
            self._channel().queue_declare(spec.name, durable=spec.durable, arguments=dict(spec.arguments))

    def move(self, source: str, target: str, *, count_replay: bool = True) -> int:
        """Move every message of ``source`` to ``target``, one at a time: confirmed publish, then ack.

        Each is published without the broker's history (``schema.headers``); ``count_replay`` adds one to its
        ``x-spartakus-replays``.
        """
        moved = 0
        channel = self._channel()
        with translated(f"moving {source} to {target}"):
            channel.confirm_delivery()
            while True:
                method, properties, body = channel.basic_get(source, auto_ack=False)
                if method is None:
                    return moved
                moved_to = moved_headers(headers(properties), count=count_replay)
                channel.basic_publish("", target, body, with_headers(properties, moved_to), mandatory=True)
                channel.basic_ack(method.delivery_tag)
                moved += 1

    def delete_if_empty(self, name: str) -> bool:
        """Delete ``name`` unless it holds messages (which a publisher may have put there meanwhile).

        Quorum queues refuse ``if-empty`` deletes, so the count is checked first;
        a message published between the check and the delete is reported, never hidden.
        """
        with translated(f"deleting {name}"):
            channel = self._channel()
            if channel.queue_declare(name, passive=True).method.message_count:
                return False
            deleted: int = channel.queue_delete(name).method.message_count
        if deleted:
            raise BrokerError(f"RabbitMQ: {deleted} message(s) reached {name} while it was deleted; stop the gateways")
        return True
