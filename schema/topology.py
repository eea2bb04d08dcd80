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
DEAD_QUEUE_DELIVERY_LIMIT: Final = 2**31 - 1
"""The dead queue's delivery limit: the largest the broker takes, so that no message is ever dropped for it.

The dead queue has nowhere to dead-letter to, so a message over its limit
would be dropped. RabbitMQ 4 gives quorum queues a limit of 20 by default,
which ``dlq list`` (every message fetched and returned) would use up. An
explicit ``-1`` switches the limit off on 4.x, but on 3.x it means "drop on
the first return" (measured on 3.10), and during a rolling upgrade a queue
can run either version's rules; this value means "never" on both.
"""

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
    """The main and dead-letter queue for ``queue``, with the arguments both sides must use.

    Both are quorum queues, replicated on every node, so that losing one node
    loses neither queue (a classic queue lives on one node, and while that
    node is down, declaring it fails). The main queue dead-letters
    at-least-once: a message leaves it only once ``<queue>.dead`` confirmed
    it, and while the dead queue is missing or unreachable the main queue
    keeps it (the default, at-most-once, drops it). RabbitMQ requires
    ``x-overflow: reject-publish`` for that; with no length limit set, it
    never rejects a publish.
    """
    dead = dead_letter_queue_name(queue)
    main = QueueSpec(
        name=queue,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )
    dead_spec = QueueSpec(
        name=dead, arguments={"x-queue-type": "quorum", "x-delivery-limit": DEAD_QUEUE_DELIVERY_LIMIT}
    )
    return Topology(main=main, dead=dead_spec)
