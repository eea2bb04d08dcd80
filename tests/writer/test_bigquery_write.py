"""The Storage Write API sink against the emulator's gRPC service, with the official client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.cloud import bigquery

from schema.bigquery import load_table_schema
from schema.topology import ERROR_HEADER
from tests.schema.original_table import ORIGINAL_TABLE
from tests.support.amqp import blocking_channel
from tests.support.bq_limit_proxy import LimitProxy, limit_proxy
from tests.support.bq_write_proxy import ROW_ERROR_MESSAGE, WriteProxy, write_proxy
from tests.support.services import wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import BigQueryTarget, RunningWriter
from writer.bigquery_write import BigQueryWriteSink
from writer.rows import Row, decode_report

pytestmark = pytest.mark.integration

REFUSED_CLUSTER = "refused-row"
"""A cluster id the write proxy answers with a row error, as BigQuery answers a row it cannot store."""


def rows(count: int, **options: Any) -> list[Row]:
    return [decode_report(json.dumps(sample_report(i, **options)).encode()) for i in range(count)]


@pytest.fixture
def rest(bq_target: BigQueryTarget) -> Iterator[LimitProxy]:
    """The REST endpoint behind a proxy that records every insertAll request."""
    with limit_proxy(bq_target.endpoint) as running:
        yield running


@pytest.fixture
def grpc_proxy(bqemu_endpoint: Any) -> Iterator[WriteProxy]:
    """The emulator's Storage Write API behind a proxy that refuses rows of ``REFUSED_CLUSTER`` as BigQuery does."""
    with write_proxy(bqemu_endpoint.grpc_endpoint, REFUSED_CLUSTER.encode()) as running:
        yield running


def open_sink(table_id: str, rest: LimitProxy, grpc_proxy: WriteProxy, **options: Any) -> BigQueryWriteSink:
    return BigQueryWriteSink(table_id, emulator_host=rest.endpoint, write_endpoint=grpc_proxy.endpoint, **options)


def test_rows_go_through_one_append_stream_into_a_created_table_with_the_dedup_view_and_no_insert_all(
    bq_target: BigQueryTarget, rest: LimitProxy, grpc_proxy: WriteProxy
) -> None:
    client = bq_target.client
    table_id = f"{client.project}.fresh_{uuid.uuid4().hex[:8]}.reports"
    sink = open_sink(table_id, rest, grpc_proxy)
    try:
        batch = rows(3)
        assert not sink.write(batch).rejected
        assert not sink.write(batch[:1]).rejected  # a redelivery
        assert not sink.write(rows(2, nodes=0)).rejected
    finally:
        sink.close()
    bq_target.assert_created_as_committed(table_id)
    assert bq_target.scalar("COUNT(*)", table_id) == 6
    assert bq_target.scalar("COUNT(*)", f"{table_id}_dedup") == 5
    gce = bq_target.scalar("COUNT(*)", f"{table_id}_dedup`, UNNEST(nodes) AS `n", "n.cloudProvider = 'gce'")
    assert gce == 9
    first = json.loads(batch[0].payloads[0])
    stored = client.query(
        f"SELECT receivedAt, extensions[OFFSET(0)].value, part FROM `{table_id}` WHERE reportID = @id",  # noqa: S608
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("id", "STRING", first["reportID"])]
        ),
    ).result()
    received, extension, part = next(iter(stored))
    assert received.isoformat().replace("+00:00", "Z") == first["receivedAt"]
    assert (extension, part) == ("blue", None)
    assert (grpc_proxy.connections, grpc_proxy.appends) == (1, 3)
    assert rest.sizes == [], "no insertAll request"
    client.delete_dataset(table_id.rsplit(".", 1)[0], delete_contents=True, not_found_ok=True)


def test_a_table_of_the_original_spartakus_gains_the_new_columns_and_takes_appends(
    bq_target: BigQueryTarget, rest: LimitProxy, grpc_proxy: WriteProxy
) -> None:
    original = [bigquery.SchemaField.from_api_repr(column) for column in ORIGINAL_TABLE]
    bq_target.client.create_table(bigquery.Table(bq_target.table_id, schema=original))
    sink = open_sink(bq_target.table_id, rest, grpc_proxy)
    try:
        assert not sink.write(rows(3)).rejected
    finally:
        sink.close()
    names = [f.name for f in bq_target.client.get_table(bq_target.table_id).schema]
    assert names == [c["name"] for c in load_table_schema()]
    assert bq_target.scalar("COUNT(*)", f"{bq_target.table_id}_dedup") == 3


def test_rows_bigquery_refuses_are_rejected_with_its_reason_and_the_others_stored(
    bq_target: BigQueryTarget, rest: LimitProxy, grpc_proxy: WriteProxy
) -> None:
    batch = rows(5)
    batch[1] = decode_report(json.dumps(sample_report(1, cluster_id=REFUSED_CLUSTER)).encode())
    batch[3] = decode_report(json.dumps(sample_report(3, cluster_id=REFUSED_CLUSTER)).encode())
    sink = open_sink(bq_target.table_id, rest, grpc_proxy)
    try:
        result = sink.write(batch)
    finally:
        sink.close()
    assert sorted(result.rejected) == [1, 3]
    assert all(ROW_ERROR_MESSAGE in reason for reason in result.rejected.values())
    assert bq_target.report_ids(bq_target.table_id) == {batch[i].report_id for i in (0, 2, 4)}
    assert grpc_proxy.refused_rows == 2
    assert grpc_proxy.connections == 1


def test_a_table_that_gains_a_column_mid_stream_gets_the_batch_on_a_reopened_stream_and_rejects_nothing(
    bq_target: BigQueryTarget, rest: LimitProxy, grpc_proxy: WriteProxy
) -> None:
    sink = open_sink(bq_target.table_id, rest, grpc_proxy)
    client = bq_target.client
    try:
        assert not sink.write(rows(2)).rejected
        # A newer writer adds a column as the sink does: DDL, then the table resource where it lags (the emulator).
        client.query(f"ALTER TABLE `{bq_target.table_id}` ADD COLUMN IF NOT EXISTS newer STRING").result()
        table = client.get_table(bq_target.table_id)
        if "newer" not in {f.name for f in table.schema}:
            table.schema = [*table.schema, bigquery.SchemaField("newer", "STRING")]
            client.update_table(table, ["schema"])
        batch = rows(3)
        assert not sink.write(batch).rejected
    finally:
        sink.close()
    assert bq_target.report_ids(bq_target.table_id) >= {row.report_id for row in batch}
    assert bq_target.scalar("COUNT(*)") == 5
    assert grpc_proxy.connections == 2, "the stream was reopened once"


def test_an_append_over_the_ten_mib_cap_is_refused_by_the_emulator_then_split_and_stored_whole(
    bq_target: BigQueryTarget, rest: LimitProxy, grpc_proxy: WriteProxy
) -> None:
    # Ten rows of a little over 1 MB: one append of about 10.5 MB when the sink is allowed 64 MB.
    batch = rows(10, pad=1_050_000)
    sink = open_sink(bq_target.table_id, rest, grpc_proxy, request_budget=64 * 2**20)
    try:
        assert not sink.write(batch).rejected
    finally:
        sink.close()
    assert bq_target.report_ids(bq_target.table_id) == {row.report_id for row in batch}
    assert bq_target.scalar("COUNT(*)") == 10
    assert grpc_proxy.appends == 3, "one refused, then its two halves"
    assert grpc_proxy.connections == 1


def test_appends_stay_within_the_budget_and_a_report_in_parts_is_stored_with_every_node_once(
    bq_target: BigQueryTarget, rest: LimitProxy, grpc_proxy: WriteProxy
) -> None:
    big = decode_report(json.dumps(sample_report(0, nodes=30_000)).encode())
    assert len(big.payloads) > 1
    batch = [big, *rows(20, pad=200_000)]
    sink = open_sink(bq_target.table_id, rest, grpc_proxy, request_budget=2 * 2**20)
    try:
        assert not sink.write(batch).rejected
    finally:
        sink.close()
    assert grpc_proxy.appends > 3
    where = f"reportID = '{big.report_id}'"
    assert bq_target.scalar("COUNT(*)", f"{bq_target.table_id}_dedup`, UNNEST(nodes) AS `n", where) == 30_000
    assert bq_target.scalar("COUNT(DISTINCT part)", where=where) == len(big.payloads)
    assert bq_target.scalar("COUNT(*)", f"{bq_target.table_id}_dedup") == 20 + len(big.payloads)


def test_a_writer_dead_letters_the_report_bigquery_refused_with_its_reason_and_acks_the_rest(
    *,
    amqp_url: str,
    queue_name: str,
    bq_target: BigQueryTarget,
    rest: LimitProxy,
    grpc_proxy: WriteProxy,
    start_writer: Callable[..., RunningWriter],
) -> None:
    reports = [sample_report(i) for i in range(4)]
    reports[2] = sample_report(2, cluster_id=REFUSED_CLUSTER)
    publish(amqp_url, queue_name, report_messages(reports))
    running = start_writer(queue_name, open_sink(bq_target.table_id, rest, grpc_proxy), batch_size=10)
    wait_until(lambda: running.written() == 3, timeout=60, what="the other reports written")
    wait_until(lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 1, timeout=30, what="the refused one")
    running.shutdown()
    with blocking_channel(amqp_url) as channel:
        _method, props, _body = channel.basic_get(f"{queue_name}.dead", auto_ack=True)
    assert props.message_id == reports[2]["reportID"]
    assert ROW_ERROR_MESSAGE in props.headers[ERROR_HEADER]
    assert queue_counts(amqp_url, queue_name)[0] == 0
    assert bq_target.report_ids(bq_target.table_id) == {r["reportID"] for i, r in enumerate(reports) if i != 2}
