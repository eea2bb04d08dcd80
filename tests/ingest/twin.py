"""An in-memory ``Publisher`` for unit tests: it records envelopes and can be told to fail.

tests/ingest/test_publisher_contract.py runs one suite over it and the real
publisher on RabbitMQ; whatever it does differently fails there.
"""

from __future__ import annotations

from ingest.ports import BrokerUnavailableError, Envelope, PublishError


class MemoryPublisher:
    """Confirms at once and keeps what it was given, between ``start`` and ``close`` (as the real one publishes).

    ``fail_with`` is a condition of the broker (down, blocked by an alarm, silent): while it is set, every
    publish fails with it and the publisher is not ready. ``refuse_next`` holds the broker's answers to single
    messages (a nack, a return): the next publishes fail with them, one each, and readiness does not change.
    """

    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self.fail_with: PublishError | None = None
        self.refuse_next: list[PublishError] = []
        self.started = False
        self.closed = False

    @property
    def ready(self) -> bool:
        """Ready once started, unless told to fail or closed."""
        return self.started and not self.closed and self.fail_with is None

    @property
    def alive(self) -> bool:
        """Alive once started, until closed."""
        return self.started and not self.closed

    async def start(self) -> None:
        """Mark as started."""
        self.started = True

    async def publish(self, envelope: Envelope) -> None:
        """Record ``envelope``, or raise ``fail_with`` or the first of ``refuse_next``."""
        if self.closed or not self.started:
            raise BrokerUnavailableError("no open channel to the broker")
        if self.fail_with is not None:
            raise self.fail_with
        if self.refuse_next:
            raise self.refuse_next.pop(0)
        self.published.append(envelope)

    async def close(self, timeout: float) -> None:  # noqa: ARG002  # nothing to wait for
        """Mark as closed."""
        self.closed = True
