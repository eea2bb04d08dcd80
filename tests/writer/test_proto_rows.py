"""Rows as protobuf for the Storage Write API: message classes built from the table schema, and error mapping."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as google_errors

from schema.bigquery import load_table_schema
from tests.support.writer_load import sample_report
from writer.bigquery_sink import RequestTooLargeError, TableMissingError
from writer.bigquery_write import SchemaChangedError, classify, translate
from writer.errors import PermanentSinkError, TransientSinkError
from writer.proto_rows import ITEMS_PER_PIECE, RowEncoder, RowEncodingError, epoch_micros, row_descriptor
from writer.rows import decode_report


def test_a_stored_report_round_trips_through_the_message_built_from_the_committed_schema() -> None:
    encoder = RowEncoder()
    row = decode_report(json.dumps(sample_report(7)).encode())
    document = json.loads(row.payloads[0])
    decoded = encoder.decode(encoder.encode(row.payloads[0]))
    assert decoded["receivedAt"] == epoch_micros(document.pop("receivedAt"))
    assert {k: v for k, v in decoded.items() if k != "receivedAt"} == document
    assert [f.name for f in encoder.descriptor.field] == [c["name"] for c in load_table_schema()]


def test_new_nullable_columns_of_every_type_and_nested_timestamps_are_encoded_from_the_schema() -> None:
    columns: list[dict[str, Any]] = [
        {"name": "clusterID", "type": "STRING", "mode": "REQUIRED"},
        {"name": "verified", "type": "BOOLEAN", "mode": "NULLABLE"},
        {"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
        {
            "name": "events",
            "type": "RECORD",
            "mode": "REPEATED",
            "fields": [{"name": "at", "type": "TIMESTAMP", "mode": "NULLABLE"}],
        },
    ]
    encoder = RowEncoder(columns)
    payload = b'{"clusterID":"c","verified":true,"score":0.5,"events":[{"at":"1970-01-01T00:00:01.5Z"},{}]}'
    assert encoder.decode(encoder.encode(payload)) == {
        "clusterID": "c",
        "verified": True,
        "score": 0.5,
        "events": [{"at": 1_500_000}, {}],
    }
    nested = row_descriptor(columns).nested_type
    assert [(m.name, [f.name for f in m.field]) for m in nested] == [("events_record", ["at"])]


@pytest.mark.parametrize(
    "payload",
    [b'{"clusterID":"c","unknown":"x"}', b'{"verified":true}', b'{"clusterID":5}', b'{"clusterID":"c","at":"soon"}'],
)
def test_a_row_that_does_not_fit_the_table_is_refused_with_a_reason(payload: bytes) -> None:
    columns = [
        {"name": "clusterID", "type": "STRING", "mode": "REQUIRED"},
        {"name": "verified", "type": "BOOLEAN", "mode": "NULLABLE"},
        {"name": "at", "type": "TIMESTAMP", "mode": "NULLABLE"},
    ]
    with pytest.raises(RowEncodingError):
        RowEncoder(columns).encode(payload)


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "AppendRowsRequest exceeds the 10485760-byte size cap",
            RequestTooLargeError,
        ),
        (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "Received message larger than max (11534336 vs. 11534336)",
            RequestTooLargeError,
        ),
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "AppendRows request too large: 11000000 limit 10485760",
            RequestTooLargeError,
        ),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "Exceeds 'AppendRows throughput' quota", TransientSinkError),
        (grpc.StatusCode.INVALID_ARGUMENT, "Input schema has more fields than BigQuery schema", SchemaChangedError),
        (grpc.StatusCode.NOT_FOUND, "Table not found for default stream", TableMissingError),
        (grpc.StatusCode.INVALID_ARGUMENT, "Errors found in rows", PermanentSinkError),
        (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", TransientSinkError),
        (grpc.StatusCode.PERMISSION_DENIED, "bigquery.tables.updateData denied", TransientSinkError),
        (grpc.StatusCode.UNKNOWN, "Binder Error: table has 11 columns", TransientSinkError),
    ],
)
def test_append_statuses_become_the_writers_errors(code: grpc.StatusCode, message: str, expected: type) -> None:
    error = classify(code, message)
    assert type(error) is expected
    assert message in str(error)


def test_an_exception_that_ends_the_append_call_is_translated_and_never_leaks() -> None:
    unavailable: Exception = google_errors.ServiceUnavailable("gone")  # type: ignore[no-untyped-call]
    assert type(translate(unavailable)) is TransientSinkError
    assert type(translate(ConnectionResetError("reset"))) is TransientSinkError
    assert type(translate(RuntimeError("anything else"))) is TransientSinkError


def test_a_report_with_more_nodes_than_a_piece_is_one_message_with_every_node_in_order() -> None:
    encoder = RowEncoder()
    report = sample_report(1, nodes=2 * ITEMS_PER_PIECE + 7)
    row = decode_report(json.dumps(report).encode())
    decoded = encoder.decode(encoder.encode(row.payloads[0]))
    assert [n["id"] for n in decoded["nodes"]] == [n["id"] for n in report["nodes"]]
    assert decoded["clusterID"] == report["clusterID"]
    assert decoded["extensions"] == report["extensions"]


def test_a_node_without_its_required_id_is_refused_by_name() -> None:
    payload = b'{"version":"v","timestamp":"1","clusterID":"c","nodes":[{"id":"a"},{"osImage":"x"}]}'
    with pytest.raises(RowEncodingError, match=r"nodes\[1\]\.id"):
        RowEncoder().encode(payload)
