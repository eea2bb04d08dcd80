"""Reading back what the gateway published."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from schema.message import decode_body
from tests.support.amqp import take_messages


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
    return [Delivered(body, properties) for properties, body in take_messages(amqp_url, queue)]
