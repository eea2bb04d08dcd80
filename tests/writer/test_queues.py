"""``spartakus queues check|migrate`` brings queues an earlier version declared to today's arguments, losing nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pika
import pytest

from schema.headers import REPLAYS_HEADER, broker_set
from schema.topology import ERROR_HEADER, topology_for
from tests.support.amqp import blocking_channel, delete_queues
from tests.support.writer_load import properties, returned_until_dead, sample_report
from writer.cli import queues_main
from writer.queues import holding_spec

pytestmark = pytest.mark.integration


def earlier_topology(queue: str) -> dict[str, dict[str, object]]:
    """The arguments that versions before replicated dead-lettering declared: a classic dead queue, at-most-once."""
    dead = f"{queue}.dead"
    return {
        dead: {"x-queue-type": "classic"},
        queue: {
            "x-queue-type": "quorum",
            "x-delivery-limit": 20,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead,
        },
    }


def publish(amqp_url: str, queue: str, count: int, prefix: str) -> list[str]:
    """``count`` confirmed reports into ``queue``; returns their ids."""
    ids: list[str] = []
    with blocking_channel(amqp_url) as channel:
        channel.confirm_delivery()
        for i in range(count):
            report = sample_report(i)
            report_id = f"{prefix}-{i}"
            report["reportID"] = report_id
            channel.basic_publish("", queue, json.dumps(report).encode(), properties(report_id, "2026-11-29T10:00:00Z"))
            ids.append(report_id)
    return ids


def drain_ids(amqp_url: str, queue: str) -> list[str]:
    """Take every message out of ``queue``; returns their message ids in order."""
    ids: list[str] = []
    with blocking_channel(amqp_url) as channel:
        while True:
            method, props, _ = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return ids
            ids.append(props.message_id)


def exists(amqp_url: str, queue: str) -> bool:
    """Whether ``queue`` exists (passive declare)."""
    try:
        with blocking_channel(amqp_url) as channel:
            channel.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        return False
    return True


def declares_today(amqp_url: str, queue: str) -> bool:
    """Whether both queues take today's arguments (what the gateway and writers declare at start)."""
    try:
        with blocking_channel(amqp_url) as channel:
            for spec in (topology_for(queue).dead, topology_for(queue).main):
                channel.queue_declare(spec.name, durable=True, arguments=dict(spec.arguments))
    except pika.exceptions.ChannelClosedByBroker:
        return False
    return True


@pytest.fixture
def old_queues(amqp_url: str, queue_name: str) -> Iterator[str]:
    """``queue_name`` and its dead queue as an earlier version declared them."""
    with blocking_channel(amqp_url) as channel:
        for name, arguments in earlier_topology(queue_name).items():
            channel.queue_declare(name, durable=True, arguments=arguments)
    yield queue_name
    delete_queues(amqp_url, holding_spec(queue_name).name, holding_spec(f"{queue_name}.dead").name)


def test_check_names_the_queues_that_differ_and_exits_1(
    amqp_url: str, old_queues: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not declares_today(amqp_url, old_queues)

    assert queues_main(["check", "--amqp-url", amqp_url, "--queue", old_queues]) == 1
    out = capsys.readouterr().out
    assert f"{old_queues}.dead: DIFFERS" in out
    assert f"{old_queues}: DIFFERS" in out


def test_migrate_recreates_both_queues_with_every_message_in_order(
    amqp_url: str, old_queues: str, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = publish(amqp_url, old_queues, 30, "waiting")
    dead = publish(amqp_url, f"{old_queues}.dead", 7, "dead")

    assert queues_main(["migrate", "--amqp-url", amqp_url, "--queue", old_queues]) == 0
    capsys.readouterr()

    assert declares_today(amqp_url, old_queues)
    assert queues_main(["check", "--amqp-url", amqp_url, "--queue", old_queues]) == 0
    assert "up to date" in capsys.readouterr().out
    assert drain_ids(amqp_url, old_queues) == waiting
    assert drain_ids(amqp_url, f"{old_queues}.dead") == dead
    assert not exists(amqp_url, holding_spec(old_queues).name)
    assert not exists(amqp_url, holding_spec(f"{old_queues}.dead").name)


def test_migrate_drops_the_broker_history_and_keeps_the_reason_of_a_broker_dead_letter(
    amqp_url: str, old_queues: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [report_id] = publish(amqp_url, old_queues, 1, "returned")
    returned_until_dead(amqp_url, old_queues)

    assert queues_main(["migrate", "--amqp-url", amqp_url, "--queue", old_queues]) == 0
    capsys.readouterr()

    with blocking_channel(amqp_url) as channel:
        method, moved, _ = channel.basic_get(f"{old_queues}.dead", auto_ack=True)
    assert method is not None
    assert moved.message_id == report_id
    assert moved.headers.get("x-delivery-count", 0) == 0
    assert [name for name in moved.headers if broker_set(name) and name != "x-delivery-count"] == []
    assert moved.headers[REPLAYS_HEADER] == 1
    assert moved.headers[ERROR_HEADER] == f"dead-lettered by the broker: delivery_limit from {old_queues}"


def test_migrate_refuses_a_queue_that_a_writer_still_consumes(
    amqp_url: str, old_queues: str, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = publish(amqp_url, old_queues, 3, "waiting")
    with blocking_channel(amqp_url) as channel:
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(old_queues, lambda *_: None)
        # The dead queue has no consumer and is migrated; the main queue is refused.
        assert queues_main(["migrate", "--amqp-url", amqp_url, "--queue", old_queues]) == 1
    assert "1 consumer(s): stop the writers and gateways" in capsys.readouterr().err

    assert queues_main(["migrate", "--amqp-url", amqp_url, "--queue", old_queues]) == 0
    assert sorted(drain_ids(amqp_url, old_queues)) == sorted(waiting)


def test_migrate_finishes_a_migration_that_was_interrupted(amqp_url: str, old_queues: str) -> None:
    # As if a migration stopped after deleting the old main queue: its messages wait in the holding queue.
    holding = holding_spec(old_queues)
    with blocking_channel(amqp_url) as channel:
        channel.queue_delete(old_queues)
        channel.queue_declare(holding.name, durable=True, arguments=dict(holding.arguments))
    held = publish(amqp_url, holding.name, 5, "held")

    assert queues_main(["migrate", "--amqp-url", amqp_url, "--queue", old_queues]) == 0

    assert declares_today(amqp_url, old_queues)
    assert drain_ids(amqp_url, old_queues) == held
    assert not exists(amqp_url, holding.name)
