"""An in-memory ``Publisher`` for unit tests: it records envelopes and can be told to fail."""

from __future__ import annotations

from ingest.ports import BrokerUnavailableError, Envelope, PublishError


class MemoryPublisher:
    """Confirms at once and keeps what it was given; ``fail_with`` makes every publish raise."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self.fail_with: PublishError | None = None
        self.started = False
        self.closed = False

    @property
    def ready(self) -> bool:
        """Ready unless told to fail or closed."""
        return self.started and not self.closed and self.fail_with is None

    @property
    def alive(self) -> bool:
        """Alive once started, until closed."""
        return self.started and not self.closed

    async def start(self) -> None:
        """Mark as started."""
        self.started = True

    async def publish(self, envelope: Envelope) -> None:
        """Record ``envelope`` or raise ``fail_with``."""
        if self.closed:
            raise BrokerUnavailableError("closed")
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(envelope)

    async def close(self, timeout: float) -> None:  # noqa: ARG002  # nothing to wait for
        """Mark as closed."""
        self.closed = True
