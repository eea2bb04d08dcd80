"""The gateway's port to the broker: what the HTTP side needs from a publisher, and how publishing fails.

The HTTP routes depend on this Protocol only; ``ingest.amqp.publisher`` implements it
on RabbitMQ, and unit tests use an in-memory twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Envelope:
    """One report ready to publish: the normalised JSON body (maybe compressed) and what goes in the AMQP properties."""

    body: bytes
    message_id: str
    received_at: str
    """Receive time, ISO 8601 in UTC; carried in a header as well as in the body."""
    timestamp: int
    """Receive time in Unix seconds, for the AMQP ``timestamp`` property."""
    content_encoding: str | None = None
    """``gzip`` when ``body`` is compressed (see ``schema.message``)."""


class PublishError(Exception):
    """A report was not confirmed by the broker. Every kind is transient: the sender should retry."""

    reason = "broker unavailable"


class BrokerUnavailableError(PublishError):
    """No open channel: the broker is down, the connection was lost, or the gateway is shutting down."""


class BrokerBlockedError(PublishError):
    """The broker blocked the connection (a memory or disk alarm)."""

    reason = "broker blocked by a resource alarm"


class PublishNackedError(PublishError):
    """The broker answered the publish with a nack."""

    reason = "broker refused the message"


class PublishReturnedError(PublishError):
    """The broker could not route the message to the report queue."""

    reason = "report queue missing"


class ConfirmTimeoutError(PublishError):
    """No confirm arrived within the configured time."""

    reason = "no confirm in time"


class Publisher(Protocol):
    """Publishes reports durably; ``publish`` returns only once the broker confirmed."""

    @property
    def ready(self) -> bool:
        """Whether a publish could be confirmed right now (channel open, connection not blocked)."""
        ...

    @property
    def alive(self) -> bool:
        """Whether the publisher can still recover by itself; if not, the process should be restarted."""
        ...

    async def start(self) -> None:
        """Begin connecting in the background; return soon even if the broker is down."""
        ...

    async def publish(self, envelope: Envelope) -> None:
        """Publish one report and wait for its confirm.

        Raises:
            PublishError: the report was not confirmed; answer 503.
        """
        ...

    async def close(self, timeout: float) -> None:
        """Refuse new publishes, wait up to ``timeout`` seconds for those in flight, then disconnect."""
        ...
