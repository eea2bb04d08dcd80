"""The writer's own error types; library exceptions are translated into these where the library is imported.

Transient and permanent failures are distinct types because they lead to
different outcomes: a transient one is retried and then returned to the
queue, a permanent one sends the message to the dead-letter queue.
"""

from __future__ import annotations


class WriterError(Exception):
    """Base of every error the writer raises on purpose."""


class SinkError(WriterError):
    """A store refused or failed a write."""


class TransientSinkError(SinkError):
    """The write may succeed later: connection errors, timeouts, throttling, server errors."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        """``fix`` tells an operator what would let the write succeed, when the sink knows."""
        super().__init__(message)
        self.fix = fix


class PermanentSinkError(SinkError):
    """The request as a whole is invalid and will fail the same way every time."""


class SinkConfigError(WriterError):
    """The store cannot be used as configured (bad URL, locked file, refused schema change)."""


class StoreLockedError(SinkConfigError):
    """Another process holds the store's file (DuckDB allows one writer process per file)."""


class UndecodableMessageError(WriterError):
    """A message body is not a stored report; it can never be written."""


class BrokerError(WriterError):
    """The connection or channel to RabbitMQ failed, or a confirmed publish was refused."""
