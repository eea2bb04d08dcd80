"""The broker session as the writer loop sees it: a port that ``writer.consumer.BrokerSession`` fills with pika.

The loop depends on this Protocol only, so that its stateful paths (batch
splitting, a fatal sink, settlements that outlive their session) can be driven
by an in-memory twin in unit tests as well as by RabbitMQ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from writer.consumer import Delivery


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
