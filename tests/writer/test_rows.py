"""A message body becomes a row, or a clear reason why it never can."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from ingest.validation import accept_report
from tests.support.big_reports import CJK_OS_IMAGE, go_body, go_volunteer_report
from tests.support.writer_load import sample_report
from writer.errors import UndecodableMessageError
from writer.rows import MAX_OBJECTS, decode_report


def test_a_stored_report_becomes_compact_json_keyed_by_its_report_id() -> None:
    report = sample_report(1)
    row = decode_report(json.dumps(report, indent=2).encode())
    assert row.report_id == report["reportID"]
    stored = json.loads(row.payloads[0])
    assert stored["clusterID"] == report["clusterID"]
    assert stored["nodes"][0]["capacity"][1] == {"resource": "memory", "value": "16393220Ki"}
    assert b" " not in row.payloads[0].replace(b"Ubuntu 22.04.4 LTS", b"")


def test_receive_time_comes_from_the_header_when_the_body_lacks_it() -> None:
    report = sample_report(1)
    del report["receivedAt"]
    row = decode_report(json.dumps(report).encode(), received_at_header=b"2026-11-27T10:00:00+00:00")
    assert json.loads(row.payloads[0])["receivedAt"] == "2026-11-27T10:00:00Z"


def test_a_report_without_report_id_gets_the_derived_one() -> None:
    report = sample_report(1)
    del report["reportID"]
    first = decode_report(json.dumps(report).encode())
    again = decode_report(json.dumps(report).encode())
    assert first.report_id == again.report_id


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xff\xfenot json", "undecodable report"),
        (b'{"version": "v1.1.0"}', "clusterID"),
        (b"[]", "undecodable report"),
    ],
)
def test_bodies_that_are_not_stored_reports_are_undecodable(body: bytes, expected: str) -> None:
    with pytest.raises(UndecodableMessageError, match=expected):
        decode_report(body)


def _request_bytes(payload: bytes, insert_id: str) -> int:
    """What the BigQuery client really sends for one row: json.dumps defaults, plus the ", " after it."""
    return len(json.dumps({"json": json.loads(payload), "insertId": insert_id})) + 2


@pytest.mark.parametrize("os_image", ["Ubuntu 22.04.4 LTS", CJK_OS_IMAGE, "emoji \U0001f680 and \x7f del", "é"])
def test_a_rows_size_is_an_upper_bound_of_what_the_client_sends_within_one_percent(os_image: str) -> None:
    row = decode_report(go_body(go_volunteer_report(50, os_image=os_image)))
    (payload,), (size,) = row.payloads, row.sizes
    real = _request_bytes(payload, row.report_id)
    assert real <= size <= real * 1.01


def test_a_report_too_large_for_one_row_is_split_into_parts_of_its_nodes_in_order() -> None:
    report = go_volunteer_report(3_000, os_image=CJK_OS_IMAGE)
    report["extensions"] = [{"name": "example.com/tier", "value": "gold"}]
    row = decode_report(go_body(report), max_row_bytes=500_000)
    parts = [json.loads(p) for p in row.payloads]
    assert len(parts) > 3
    assert [(p["part"], p["parts"]) for p in parts] == [(i, len(parts)) for i in range(len(parts))]
    assert [n["id"] for p in parts for n in p["nodes"]] == [n["id"] for n in report["nodes"]]
    assert all(p["clusterID"] == report["clusterID"] and p["extensions"] == report["extensions"] for p in parts)
    assert len({p["reportID"] for p in parts}) == 1
    assert row.insert_ids == tuple(f"{row.report_id}/{i}" for i in range(len(parts)))
    for payload, size, insert_id in zip(row.payloads, row.sizes, row.insert_ids, strict=True):
        assert _request_bytes(payload, insert_id) <= size <= 500_000


def test_an_ordinary_report_is_one_row_without_part_columns() -> None:
    row = decode_report(go_body(go_volunteer_report(10)))
    assert len(row.payloads) == 1
    assert "part" not in json.loads(row.payloads[0])
    assert row.insert_ids == (row.report_id,)


def test_the_same_report_always_splits_the_same_way() -> None:
    body = go_body(go_volunteer_report(2_000))
    received = b"2026-11-27T10:00:00+00:00"
    first = decode_report(body, received_at_header=received, max_row_bytes=300_000)
    assert len(first.payloads) > 1
    assert first == decode_report(body, received_at_header=received, max_row_bytes=300_000)


def test_a_gzip_body_reads_as_the_plain_one() -> None:
    body = json.dumps(sample_report(1)).encode()
    assert decode_report(gzip.compress(body), content_encoding="gzip") == decode_report(body)


@pytest.mark.parametrize(
    ("body", "encoding", "expected"),
    [
        (b"\x1f\x8b not really gzip", "gzip", "broken gzip"),
        (gzip.compress(b'{"clusterID": "c"}', mtime=0)[:-9], "gzip", "truncated"),
        (b"{}", "br", "unsupported content_encoding"),
        (b"{}" + b" " * 2_000_000, None, "report too large to read"),
        (gzip.compress(b" " * 5_000_000, mtime=0), "gzip", "inflates to more than"),
    ],
)
def test_unreadable_or_oversized_bodies_are_undecodable_with_the_reason(
    body: bytes, encoding: str, expected: str
) -> None:
    with pytest.raises(UndecodableMessageError, match=expected):
        decode_report(body, content_encoding=encoding, max_report_bytes=1_000_000)


def test_an_invalid_node_is_named_by_its_index_in_the_whole_report() -> None:
    report = go_volunteer_report(5_000)
    del report["nodes"][4_321]["id"]
    with pytest.raises(UndecodableMessageError, match=r"nodes\.4321\.id"):
        decode_report(go_body(report))


def test_a_report_of_more_json_objects_than_the_writer_renders_in_bounded_memory_is_undecodable() -> None:
    body = b'{"clusterID":"c","nodes":[' + b",".join([b'{"id":"a"}'] * (MAX_OBJECTS + 1)) + b"]}"
    with pytest.raises(UndecodableMessageError, match="report too large to read: about 2,000,002 JSON objects"):
        decode_report(body)


def test_a_message_without_a_report_id_gets_the_id_the_gateway_derives_from_its_whole_content() -> None:
    sent = {
        "version": "v1.1.0",
        "timestamp": "1795779062",
        "clusterID": "c",
        "masterVersion": "v1.31.1",
        "nodes": [{"id": "a", "cloudProvider": "gce", "capacity": [{"resource": "cpu", "value": "4"}]}, {"id": "b"}],
        "extensions": [{"name": "example.com/k", "value": "v"}],
    }
    accepted = accept_report(json.dumps(sent).encode(), received_at=datetime.now(UTC))
    stored = json.loads(accepted.envelope.body)
    without_id = {key: value for key, value in stored.items() if key != "reportID"}
    other_nodes = {**without_id, "nodes": [{"id": "z"}]}

    assert decode_report(json.dumps(without_id).encode()).report_id == accepted.report_id
    assert decode_report(json.dumps(other_nodes).encode()).report_id != accepted.report_id
