"""The real-service fixtures work: RabbitMQ with confirms, and BigQuery's wire protocol on the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pika
import pytest
from google.cloud import bigquery

from schema.bigquery import load_table_schema
from schema.report import StoredReport, parse_report
from schema.topology import PERSISTENT, topology_for
from tests.schema.samples import SEED_EXAMPLE, three_node_report
from tests.support.amqp import blocking_channel

pytestmark = pytest.mark.integration

RECEIVED = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def test_rabbitmq_confirmed_publish_is_consumed_and_acked(amqp_url: str, queue_name: str) -> None:
    topology = topology_for(queue_name)
    with blocking_channel(amqp_url) as channel:
        for spec in (topology.dead, topology.main):
            channel.queue_declare(queue=spec.name, durable=spec.durable, arguments=spec.arguments)
        channel.confirm_delivery()
        channel.basic_publish(
            exchange="",
            routing_key=queue_name,
            body=b'{"clusterID":"c"}',
            properties=pika.BasicProperties(delivery_mode=PERSISTENT, message_id="r-1"),
            mandatory=True,
        )

        method, properties, body = next(channel.consume(queue_name, inactivity_timeout=10))
        assert method is not None, "no message within 10 s"
        channel.basic_ack(method.delivery_tag)
        channel.cancel()
        remaining = channel.queue_declare(queue=queue_name, passive=True).method.message_count

    assert (body, properties.message_id, properties.delivery_mode) == (b'{"clusterID":"c"}', "r-1", PERSISTENT)
    assert remaining == 0


def test_main_queue_is_a_quorum_queue_that_dead_letters_to_its_dead_queue(amqp_url: str, queue_name: str) -> None:
    topology = topology_for(queue_name)
    with blocking_channel(amqp_url) as channel:
        for spec in (topology.dead, topology.main):
            channel.queue_declare(queue=spec.name, durable=spec.durable, arguments=spec.arguments)
        channel.basic_publish(exchange="", routing_key=queue_name, body=b"poison")
        method, _, _ = next(channel.consume(queue_name, inactivity_timeout=10))
        assert method is not None
        channel.basic_nack(method.delivery_tag, requeue=False)
        channel.cancel()

        dead_method, _, dead_body = next(channel.consume(topology.dead_queue, inactivity_timeout=10))
        assert dead_method is not None, "nothing reached the dead-letter queue"
        channel.basic_ack(dead_method.delivery_tag)
        channel.cancel()

    assert dead_body == b"poison"


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    report = parse_report(json.dumps(doc).encode(), received_at=RECEIVED)
    stored = StoredReport.model_validate({**report.model_dump(by_alias=True), "receivedAt": RECEIVED})
    row: dict[str, Any] = stored.model_dump(mode="json", by_alias=True, exclude_none=True)
    return row


def test_bigquery_emulator_round_trips_nested_reports(bq_client: Any, bq_dataset: str) -> None:
    table = bigquery.Table(
        f"{bq_dataset}.reports",
        schema=[bigquery.SchemaField.from_api_repr(field) for field in load_table_schema()],
    )
    bq_client.create_table(table)
    reports = [_row(three_node_report()), _row(SEED_EXAMPLE)]

    errors = bq_client.insert_rows_json(table, reports, row_ids=[r["reportID"] for r in reports])
    assert errors == []

    rows = list(
        bq_client.query(
            f"SELECT r.clusterID AS cluster, n.id AS node, n.cloudProvider AS provider, c.value AS cpu "  # noqa: S608  # dataset name is the fixture's own
            f"FROM `{bq_dataset}.reports` AS r, UNNEST(r.nodes) AS n, UNNEST(n.capacity) AS c "
            "WHERE c.resource = 'cpu' ORDER BY provider"
        ).result()
    )
    extensions = list(
        bq_client.query(
            f"SELECT e.name, e.value FROM `{bq_dataset}.reports` AS r, UNNEST(r.extensions) AS e "  # noqa: S608  # dataset name is the fixture's own
            "ORDER BY e.name"
        ).result()
    )

    expected_nodes = three_node_report()["nodes"]
    assert [(r["cluster"], r["node"], r["provider"], r["cpu"]) for r in rows] == [
        (reports[0]["clusterID"], expected_nodes[1]["id"], "aws", "4"),
        (reports[0]["clusterID"], expected_nodes[0]["id"], "gce", "4"),
    ]
    assert [(e["name"], e["value"]) for e in extensions] == [
        ("example.com/foo", "bar"),
        ("example.com/hello", "world"),
        ("example.com/tier", "gold"),
    ]
