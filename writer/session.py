"""The broker session as the writer loop sees it: a port that ``writer.amqp.consumer.BrokerSession`` fills with pika.

The loop depends on this Protocol only, so that its stateful paths (batch
splitting, a fatal sink, settlements that outlive their session) can be driven
by an in-memory twin in unit tests as well as by RabbitMQ. What crosses the
port, ``Delivery``, is defined here: neither the loop nor the twin loads pika.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as delivered to the writer."""

    tag: int
    body: bytes
    message_id: str | None
    headers: Mapping[str, Any]
    properties: Any
    """The client's message properties, opaque here: only the session that made the delivery reads them, when
    dead-lettering it."""
    content_encoding: str | None = None
    """``gzip`` for a compressed body (``schema.message``); None for plain JSON."""


class Session(Protocol):
    """One broker connection consuming one queue, used from one thread (``wake`` from any)."""

    @property
    def unsettled(self) -> int:
        """Deliveries not yet acked or nacked."""
        ...

    def open(self) -> None:
        """Connect, declare the topology and start consuming. Raises ``BrokerError``."""
        ...

    def process(self, timeout: float) -> None:
        """Run I/O and hand deliveries over for up to ``timeout`` seconds (less once something happened)."""
        ...

    def settle(self, *, ack: Iterable[int] = (), requeue: Iterable[int] = ()) -> None:
        """Ack written deliveries and return others to the queue."""
        ...

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Publish ``delivery`` to ``<queue>.dead`` with ``reason`` (confirmed), then ack it."""
        ...

    def ready_messages(self) -> int:
        """Messages waiting in the queue, as the broker counts them."""
        ...

    def cancel(self) -> None:
        """Stop deliveries."""
        ...

    def resume(self) -> None:
        """Start deliveries again after ``cancel``."""
        ...

    def wake(self) -> None:
        """Make a ``process`` call in the session's thread return soon. Safe from any thread."""
        ...

    def close(self) -> None:
        """Close the connection; unsettled deliveries go back to the queue."""
        ...


SessionFactory = Callable[[Callable[[Delivery], None]], Session]
"""Builds an unopened session that hands each delivery to the callback."""
