"""A message body becomes a row, or a clear reason why it never can."""

from __future__ import annotations

import json

import pytest

from tests.support.writer_load import sample_report
from writer.errors import UndecodableMessageError
from writer.rows import decode_report


def test_a_stored_report_becomes_compact_json_keyed_by_its_report_id() -> None:
    report = sample_report(1)
    row = decode_report(json.dumps(report, indent=2).encode())
    assert row.report_id == report["reportID"]
    stored = json.loads(row.payload)
    assert stored["clusterID"] == report["clusterID"]
    assert stored["nodes"][0]["capacity"][1] == {"resource": "memory", "value": "16393220Ki"}
    assert b" " not in row.payload.replace(b"Ubuntu 22.04.4 LTS", b"")


def test_receive_time_comes_from_the_header_when_the_body_lacks_it() -> None:
    report = sample_report(1)
    del report["receivedAt"]
    row = decode_report(json.dumps(report).encode(), received_at_header=b"2026-11-27T10:00:00+00:00")
    assert json.loads(row.payload)["receivedAt"] == "2026-11-27T10:00:00Z"


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
