"""The AMQP topology as plain data: queue names and arguments.

Ingest and writer each apply this with their own AMQP client, so both declare
the queues with identical arguments (RabbitMQ refuses a redeclaration that
differs) and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

DEFAULT_QUEUE: Final = "spartakus.reports"
DELIVERY_LIMIT: Final = 20
"""Deliveries after which the broker itself dead-letters a message (quorum queues only)."""

ERROR_HEADER: Final = "x-spartakus-error"
RECEIVED_AT_HEADER: Final = "x-spartakus-received-at"
SCHEMA_VERSION_HEADER: Final = "x-spartakus-schema-version"
CONTENT_TYPE: Final = "application/json"
PERSISTENT: Final = 2


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue to declare: its name, durability and ``x-`` arguments."""

    name: str
    arguments: dict[str, object] = field(default_factory=dict)
    durable: bool = True


@dataclass(frozen=True, slots=True)
class Topology:
    """The queues behind one report queue name.

    ``dead_letter_exchange`` is the default exchange (``""``), so a message the
    broker dead-letters is routed by ``x-dead-letter-routing-key`` straight to
    the dead queue, and the writer publishes there the same way.
    """

    main: QueueSpec
    dead: QueueSpec

    @property
    def queue(self) -> str:
        """The main queue's name."""
        return self.main.name

    @property
    def dead_queue(self) -> str:
        """The dead-letter queue's name."""
        return self.dead.name


def dead_letter_queue_name(queue: str) -> str:
    """Name of the dead-letter queue that belongs to ``queue``."""
    return f"{queue}.dead"


def topology_for(queue: str = DEFAULT_QUEUE) -> Topology:
    """The main and dead-letter queue for ``queue``, with the arguments both sides must use."""
    dead = dead_letter_queue_name(queue)
    main = QueueSpec(
        name=queue,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead,
        },
    )
    # The dead queue is a classic durable queue: a quorum queue would apply a
    # delivery limit (RabbitMQ 4 sets one by default) to messages that an
    # operator inspects and requeues, and drop them with nowhere to go.
    return Topology(main=main, dead=QueueSpec(name=dead, arguments={"x-queue-type": "classic"}))
