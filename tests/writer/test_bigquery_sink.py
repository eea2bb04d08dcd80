"""The BigQuery sink against the emulator, with the official client; and its error translation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
from google.api_core import exceptions as google_errors
from google.cloud import bigquery

from tests.schema.original_table import ORIGINAL_TABLE
from tests.support.writer_load import sample_report
from tests.writer.conftest import BigQueryTarget, api_error
from writer.bigquery_sink import (
    BigQuerySink,
    RequestTooLargeError,
    TableMissingError,
    classify_insert_errors,
    translate,
)
from writer.errors import PermanentSinkError, TransientSinkError
from writer.rows import Row, decode_report

pytestmark = pytest.mark.integration

ORIGINAL_SCHEMA = [bigquery.SchemaField.from_api_repr(column) for column in ORIGINAL_TABLE]


def rows(count: int, **options: Any) -> list[Row]:
    return [decode_report(json.dumps(sample_report(i, **options)).encode()) for i in range(count)]


def test_missing_dataset_and_table_are_created_partitioned_clustered_with_the_dedup_view(
    bq_target: BigQueryTarget,
) -> None:
    client = bq_target.client
    table_id = f"{client.project}.fresh_{uuid.uuid4().hex[:8]}.reports"
    # The emulator host without a scheme, as BIGQUERY_EMULATOR_HOST is often given.
    sink = BigQuerySink(table_id, emulator_host=bq_target.endpoint.removeprefix("http://"))
    try:
        batch = rows(3)
        assert not sink.write(batch).rejected
        sink.write(batch[:1])
        bq_target.assert_created_as_committed(table_id)
        assert bq_target.scalar("COUNT(*)", table_id) == 4
        assert bq_target.scalar("COUNT(*)", f"{table_id}_dedup") == 3
        gce = bq_target.scalar("COUNT(*)", f"{table_id}_dedup`, UNNEST(nodes) AS `n", "n.cloudProvider = 'gce'")
        assert gce == 9
    finally:
        sink.close()
        client.delete_dataset(table_id.rsplit(".", 1)[0], delete_contents=True, not_found_ok=True)


def test_rows_are_appended_to_a_table_with_the_original_spartakus_schema(bq_target: BigQueryTarget) -> None:
    client, table_id = bq_target.client, bq_target.table_id
    client.create_table(bigquery.Table(table_id, schema=ORIGINAL_SCHEMA))
    old_row = {"version": "v1.0.0", "timestamp": "1500000000", "clusterID": "old-cluster", "nodes": [{"id": "abc"}]}
    assert client.insert_rows_json(table_id, [old_row]) == []
    sink = bq_target.sink()
    try:
        assert not sink.write(rows(3)).rejected
    finally:
        sink.close()
    schema = client.get_table(table_id).schema
    assert [f.to_api_repr() for f in schema[: len(ORIGINAL_SCHEMA)]] == [f.to_api_repr() for f in ORIGINAL_SCHEMA]
    added = [(f.name, f.field_type, f.mode) for f in schema[len(ORIGINAL_SCHEMA) :]]
    assert added == [
        ("reportID", "STRING", "NULLABLE"),
        ("receivedAt", "TIMESTAMP", "NULLABLE"),
        ("verified", "BOOLEAN", "NULLABLE"),
        ("part", "INTEGER", "NULLABLE"),
        ("parts", "INTEGER", "NULLABLE"),
    ]
    assert bq_target.scalar("COUNT(*)") == 4
    assert bq_target.scalar("COUNT(*)", f"{table_id}_dedup") == 4
    assert bq_target.scalar("COUNT(*)", where="clusterID = 'old-cluster' AND reportID IS NULL") == 1


def test_rows_the_table_refuses_are_reported_and_the_others_stored(bq_target: BigQueryTarget) -> None:
    bq_target.create_table_refusing_master_versions()
    batch = rows(3)
    fine = sample_report(9)
    del fine["masterVersion"]
    batch.insert(1, decode_report(json.dumps(fine).encode()))
    sink = bq_target.sink()
    try:
        result = sink.write(batch)
    finally:
        sink.close()
    assert sorted(result.rejected) == [0, 2, 3]
    assert all("BigQuery rejected the row" in reason for reason in result.rejected.values())
    assert bq_target.report_ids(bq_target.table_id) == {fine["reportID"]}


def test_stopped_rows_are_valid_and_invalid_rows_are_named() -> None:
    errors = [
        {"index": 0, "errors": [{"reason": "stopped", "message": ""}]},
        {"index": 1, "errors": [{"reason": "invalid", "message": "no such field: extra"}]},
        {"index": 3, "errors": [{"reason": "backendError", "message": "try again"}]},
    ]
    outcome = classify_insert_errors(errors)
    assert outcome.stopped == [0]
    assert outcome.invalid == {1: "BigQuery rejected the row: no such field: extra"}
    assert outcome.transient == {3: "try again"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (api_error(google_errors.ServiceUnavailable, "down"), TransientSinkError),
        (api_error(google_errors.TooManyRequests, "slow down"), TransientSinkError),
        (api_error(google_errors.InternalServerError, "oops"), TransientSinkError),
        (api_error(google_errors.BadGateway, "proxy"), TransientSinkError),
        (api_error(google_errors.GatewayTimeout, "late"), TransientSinkError),
        (api_error(google_errors.Forbidden, "quota", errors=[{"reason": "rateLimitExceeded"}]), TransientSinkError),
        (api_error(google_errors.BadRequest, "bad", errors=[{"reason": "backendError"}]), TransientSinkError),
        (api_error(google_errors.BadRequest, "bad row", errors=[{"reason": "invalid"}]), PermanentSinkError),
        (
            api_error(google_errors.BadRequest, "Request payload size exceeds the limit: 10485760 bytes."),
            RequestTooLargeError,
        ),
        (google_errors.from_http_status(413, "Request Entity Too Large"), RequestTooLargeError),  # type: ignore[no-untyped-call]  # the client is untyped
        (api_error(google_errors.Forbidden, "access denied", errors=[{"reason": "accessDenied"}]), TransientSinkError),
        (api_error(google_errors.NotFound, "no table"), TableMissingError),
        (requests.exceptions.ConnectionError("refused"), TransientSinkError),
        (requests.exceptions.ReadTimeout("slow"), TransientSinkError),
    ],
)
def test_client_errors_become_the_writers_transient_or_permanent_errors(error: Exception, expected: type) -> None:
    assert type(translate(error)) is expected
