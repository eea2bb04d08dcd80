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


def take_all(amqp_url: str, queue: str) -> list[Delivered]:
    """Every message now in ``queue``, acknowledged (so removed)."""
    taken: list[Delivered] = []
    with blocking_channel(amqp_url) as channel:
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append(Delivered(body, properties))
