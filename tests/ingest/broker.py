"""Reading back what the gateway published."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from schema.message import decode_body
from tests.support.amqp import blocking_channel


@dataclass(frozen=True)
class Delivered:
    """One message taken from a queue."""

    body: bytes
    properties: Any

    def report(self) -> Any:
        """The stored report: the body parsed, inflated first when it is gzip."""
        return json.loads(decode_body(self.body, self.properties.content_encoding))


PREFETCH = 256
"""Messages in flight to ``take_all``: a basic.get per message costs a round trip, thousands cost seconds."""


def take_all(amqp_url: str, queue: str) -> list[Delivered]:
    """Every message now in ``queue``, acknowledged (so removed)."""
    taken: list[Delivered] = []
    with blocking_channel(amqp_url) as channel:
        ready = channel.queue_declare(queue, passive=True).method.message_count
        if ready:
            channel.basic_qos(prefetch_count=PREFETCH)
            for method, properties, body in channel.consume(queue, inactivity_timeout=30):
                if method is None:
                    raise AssertionError(f"{queue} held {ready} messages, {len(taken)} came within 30 s")
                taken.append(Delivered(body, properties))
                channel.basic_ack(method.delivery_tag)
                if len(taken) == ready:
                    break
            channel.cancel()  # deliveries past ``ready`` go back unacknowledged, for the basic.get below
        # Whatever arrived since the count, one at a time until the queue is empty.
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append(Delivered(body, properties))
