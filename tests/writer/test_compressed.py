"""The writer and ``spartakus dlq`` read gzip-compressed report messages as well as plain ones (real RabbitMQ)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pika
import pytest

from schema.message import GZIP, encode_body
from schema.topology import ERROR_HEADER
from tests.support.amqp import blocking_channel
from tests.support.services import wait_until
from tests.support.writer_load import declare, properties, publish, queue_counts, sample_report
from tests.writer.conftest import RunningWriter
from writer.cli import dlq_main
from writer.duckdb_sink import DuckDbSink
from writer.sink import Sink

pytestmark = pytest.mark.integration

StartWriter = Callable[..., RunningWriter]


def gzip_message(report: dict[str, object]) -> tuple[bytes, pika.BasicProperties]:
    """A report as the gateway publishes a large one: compressed, with ``content_encoding`` gzip."""
    encoded = encode_body([json.dumps(report).encode()], gzip_above=0)
    props = properties(str(report["reportID"]), str(report["receivedAt"]))
    props.content_encoding = encoded.content_encoding
    return encoded.body, props


def stored_ids(sink: Sink) -> set[str]:
    assert isinstance(sink, DuckDbSink)
    return {row[0] for row in sink.fetchall('SELECT "reportID" FROM reports')}


def test_compressed_and_plain_reports_are_written_alike_and_a_broken_gzip_body_is_dead_lettered(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter
) -> None:
    sink = DuckDbSink(str(tmp_path / "r.duckdb"))
    plain, large = sample_report(0), sample_report(1, nodes=2000)
    broken = properties("broken-gzip")
    broken.content_encoding = GZIP
    messages = [
        (json.dumps(plain).encode(), properties(str(plain["reportID"]), str(plain["receivedAt"]))),
        gzip_message(large),
        (gzip.compress(b'{"clusterID":"x"}')[:-6], broken),
    ]
    publish(amqp_url, queue_name, messages)
    running = start_writer(queue_name, sink, batch_size=10, batch_max_wait=0.2)
    wait_until(lambda: running.written() == 2, timeout=30, what="both reports written")
    wait_until(lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 1, timeout=20, what="the broken one")
    running.shutdown()

    assert stored_ids(sink) == {plain["reportID"], large["reportID"]}
    nodes = sink.fetchall('SELECT len(nodes) FROM reports WHERE "reportID" = ?', [large["reportID"]])
    assert nodes == [(2000,)]
    with blocking_channel(amqp_url) as channel:
        _method, props, _body = channel.basic_get(f"{queue_name}.dead", auto_ack=True)
    assert props.message_id == "broken-gzip"
    assert "gzip" in props.headers[ERROR_HEADER]
    sink.close()


def test_dlq_lists_a_compressed_report_with_its_size_inflated_and_replays_it_still_compressed(
    amqp_url: str, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = sample_report(0, nodes=500)
    body, props = gzip_message(report)
    props.headers[ERROR_HEADER] = "BigQuery rejected the row"
    declare(amqp_url, queue_name)
    with blocking_channel(amqp_url) as channel:
        channel.confirm_delivery()
        channel.basic_publish("", f"{queue_name}.dead", body, props)

    assert dlq_main(["list", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["contentEncoding"] == "gzip"
    assert (line["bytes"], line["reportBytes"]) == (len(body), len(json.dumps(report)))
    wait_until(lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 1, timeout=10, what="the message back")

    assert dlq_main(["replay", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
    with blocking_channel(amqp_url) as channel:
        _method, moved, moved_body = channel.basic_get(queue_name, auto_ack=True)
    assert moved.content_encoding == "gzip"
    assert json.loads(gzip.decompress(moved_body)) == report
