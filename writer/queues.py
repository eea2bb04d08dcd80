"""``spartakus queues check|migrate``: bring existing queues to the arguments the components declare.

RabbitMQ never changes the arguments of an existing queue: a declaration
with other arguments is refused (``406 PRECONDITION_FAILED``), and then
neither the gateway nor a writer can start on it. ``check`` says which
queues differ; ``migrate`` re-creates each of them with the current
arguments without losing a message:

1. the messages move to ``<name>.migrating`` (a quorum queue), each one
   published with a confirm before it is acked;
2. the old queue is deleted, only if it is empty;
3. the queue is declared with the current arguments;
4. the messages move back, and ``<name>.migrating`` is deleted.

Moved messages lose the broker's history (death and delivery-count headers,
``schema.headers``): the re-created queue counts deliveries afresh. A
migration adds one to ``x-spartakus-replays``, and a message the broker had
dead-lettered keeps its reason in ``x-spartakus-error``.

Run it with the gateways and writers stopped (a queue with consumers is
refused). An interrupted migration is finished by running it again:
messages still in ``<name>.migrating`` are moved back first.
"""

from __future__ import annotations

from typing import Final, TextIO

from schema.topology import DEAD_QUEUE_DELIVERY_LIMIT, QueueSpec, topology_for
from writer.amqp.admin import QueueAdmin, QueueState
from writer.errors import WriterError

HOLDING_SUFFIX: Final = ".migrating"
DELETE_ATTEMPTS: Final = 5
"""Rounds of moving and deleting before giving up while something keeps publishing to the old queue."""
EXIT_DIFFERS: Final = 1


class MigrationError(WriterError):
    """A queue cannot be migrated now (consumers attached, or publishers keep filling it)."""


def holding_spec(name: str) -> QueueSpec:
    """The queue that holds ``name``'s messages while ``name`` is re-created: replicated, never dropping."""
    return QueueSpec(
        name=f"{name}{HOLDING_SUFFIX}",
        arguments={"x-queue-type": "quorum", "x-delivery-limit": DEAD_QUEUE_DELIVERY_LIMIT},
    )


def _describe(spec: QueueSpec, state: QueueState) -> str:
    if not state.exists:
        return f"{spec.name}: missing (declared on first use)"
    verdict = "up to date" if state.matches else "DIFFERS from the current arguments: run 'spartakus queues migrate'"
    return f"{spec.name}: {verdict} ({state.messages} ready, {state.consumers} consumers)"


def check(*, amqp_url: str, queue: str, out: TextIO) -> int:
    """Print each queue's state; exit code 1 when one needs migrating."""
    admin = QueueAdmin(amqp_url, "spartakus-queues-check")
    try:
        topology = topology_for(queue)
        states = [(spec, admin.state(spec)) for spec in (topology.dead, topology.main)]
    finally:
        admin.close()
    for spec, state in states:
        out.write(_describe(spec, state) + "\n")
    return EXIT_DIFFERS if any(state.exists and not state.matches for _, state in states) else 0


def migrate(*, amqp_url: str, queue: str, out: TextIO) -> int:
    """Re-create the dead-letter and main queue with the current arguments where they differ; returns 0."""
    admin = QueueAdmin(amqp_url, "spartakus-queues-migrate")
    try:
        topology = topology_for(queue)
        for spec in (topology.dead, topology.main):
            _migrate_one(admin, spec, out)
    finally:
        admin.close()
    return 0


def _migrate_one(admin: QueueAdmin, spec: QueueSpec, out: TextIO) -> None:
    holding = holding_spec(spec.name)
    state = admin.state(spec)
    if state.exists and not state.matches:
        if state.consumers:
            raise MigrationError(
                f"{spec.name} has {state.consumers} consumer(s): stop the writers and gateways, then migrate"
            )
        admin.declare(holding)
        moved = _empty_and_delete(admin, spec.name, holding.name)
        out.write(f"{spec.name}: moved {moved} message(s) to {holding.name}; deleted the old queue\n")
        state = QueueState(exists=False, matches=False)
    if not state.exists:
        admin.declare(spec)
        out.write(f"{spec.name}: declared with the current arguments\n")
    held = admin.state(holding)
    if held.exists:
        back = admin.move(holding.name, spec.name)
        if not admin.delete_if_empty(holding.name):
            raise MigrationError(f"{holding.name} is not empty after moving its messages back; run migrate again")
        out.write(f"{spec.name}: moved {back} message(s) back from {holding.name}\n")
    out.write(f"{spec.name}: up to date\n")


def _empty_and_delete(admin: QueueAdmin, name: str, holding: str) -> int:
    moved = 0
    for _ in range(DELETE_ATTEMPTS):
        moved += admin.move(name, holding, count_replay=False)  # counted once, on the way back
        if admin.delete_if_empty(name):
            return moved
    raise MigrationError(f"{name} keeps receiving messages: stop the gateways, then migrate")
