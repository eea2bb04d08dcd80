"""From body bytes to the normalised report, or a 400/422 that says why (unit tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from ingest.errors import RequestError
from ingest.validation import MAX_CONTAINERS, MAX_DETAILS, MAX_LIST_ENTRIES, _violations, accept_report
from schema.report import SCHEMA_VERSION, derive_report_id, parse_report
from tests.ingest.gateway import go_volunteer_report
from tests.ingest.hostile import nested

RECEIVED = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)


def refused(body: bytes) -> RequestError:
    with pytest.raises(RequestError) as caught:
        accept_report(body, received_at=RECEIVED)
    return caught.value


def test_a_go_volunteer_report_gets_the_receive_time_and_a_deterministic_id() -> None:
    report = go_volunteer_report("c1")

    accepted = accept_report(json.dumps(report).encode(), received_at=RECEIVED)

    stored = json.loads(accepted.envelope.body)
    seconds = str(int(RECEIVED.timestamp()))
    assert stored["timestamp"] == seconds
    assert accepted.report_id == derive_report_id(parse_report(accepted.envelope.body)) == stored["reportID"]
    assert stored["verified"] is False
    assert accepted.envelope.message_id == accepted.report_id
    assert stored["receivedAt"] == accepted.envelope.received_at == "2026-11-27T12:00:00.123456Z"
    assert accepted.envelope.timestamp == int(RECEIVED.timestamp())
    assert stored["nodes"] == report["nodes"]
    assert stored["extensions"] == report["extensions"]
    assert SCHEMA_VERSION == "1"


def test_the_gateway_clock_wins_over_a_received_at_sent_by_the_client() -> None:
    body = json.dumps({"clusterID": "c", "receivedAt": "1999-01-01T00:00:00Z"}).encode()

    stored = json.loads(accept_report(body, received_at=RECEIVED).envelope.body)

    assert stored["receivedAt"] == "2026-11-27T12:00:00.123456Z"


def test_unknown_top_level_fields_are_ignored_and_left_out() -> None:
    body = json.dumps({"clusterID": "c", "futureField": {"a": [1, 2]}}).encode()

    stored = json.loads(accept_report(body, received_at=RECEIVED).envelope.body)

    assert "futureField" not in stored


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty document"),
        (b'{"clusterID": "x"', "unexpected end of data"),
        (b'{"clusterID":"x"} trailing', "unexpected content after document"),
        (b'{"clusterID":"\xff\xfe"}', "invalid UTF-8 at byte 14"),
        (b'\xef\xbb\xbf{"clusterID":"x"}', "byte order mark (BOM) is not supported"),
        ('{"clusterID":"x"}'.encode("utf-16"), "invalid UTF-8 at byte 0"),
        (b'{"clusterID":"x","junk":NaN}', "expected a JSON value: line 1 column 25"),
        (b'{"clusterID":"x","junk":-Infinity}', "no digit after sign"),
        (b'{"clusterID":"x","junk":1e999}', "number out of range"),
        (b'{"clusterID":"x","junk":' + b"1" * 400 + b".5}", "number out of range"),
        (b'{"clusterID":"x","junk":' + b"9" * 5000 + b"}", "number out of range"),
        (b'{"clusterID":"x","extensions":[{"name":"a/b","value":[[-1e400]]}]}', "number out of range"),
        (nested(100_000), "depth limit exceeded"),
        (nested(500), "recursion limit exceeded"),
        (b'{"clusterID":"x","extensions":[{"name":"a/b","value":"\\udc00"}]}', "surrogate"),
        (b'{"clusterID":"x","extensions":[{"name":"a/b","value":"\\ud800"}]}', "surrogate"),
    ],
)
def test_hostile_or_broken_json_is_400_with_the_reason(body: bytes, message: str) -> None:
    error = refused(body)

    assert error.status == 400
    assert message in str(error.details[0]["message"])


def test_a_duplicate_key_is_no_error_and_the_last_value_wins() -> None:
    body = b'{"clusterID":"first","clusterID":"last","nodes":[{"id":"a","id":"b"}]}'

    stored = json.loads(accept_report(body, received_at=RECEIVED).envelope.body)

    assert (stored["clusterID"], stored["nodes"]) == ("last", [{"id": "b"}])


def test_a_received_at_sent_by_the_client_is_ignored_even_when_malformed() -> None:
    body = json.dumps({"clusterID": "c", "receivedAt": "not a time"}).encode()

    stored = json.loads(accept_report(body, received_at=RECEIVED).envelope.body)

    assert stored["receivedAt"] == "2026-11-27T12:00:00.123456Z"


def test_numbers_within_range_and_surrogate_pairs_are_kept_exactly() -> None:
    body = (
        b'{"clusterID":"x","extensions":['
        b'{"name":"a/big","value":1180591620717411303424},'
        b'{"name":"a/float","value":1.5e300},'
        b'{"name":"a/pair","value":"\\ud83d\\ude00"}]}'
    )

    stored = json.loads(accept_report(body, received_at=RECEIVED).envelope.body)

    assert [ext["value"] for ext in stored["extensions"]] == ["1180591620717411303424", "1.5e+300", "\U0001f600"]


@pytest.mark.parametrize("body", [b"[]", b'"report"', b"42", b"null", b"true"])
def test_a_top_level_that_is_not_an_object_is_422(body: bytes) -> None:
    error = refused(body)

    assert error.status == 422
    assert error.details == [{"field": "$", "message": "the report must be a JSON object", "type": "model_type"}]


def test_a_schema_violation_is_422_with_field_paths_and_the_offending_extension_key() -> None:
    body = json.dumps(
        {
            "clusterID": "",
            "nodes": [{"id": "ok"}, {"operatingSystem": "linux"}],
            "extensions": [{"name": "example.com/fine", "value": "1"}, {"name": "Bad Key!", "value": "x"}],
        }
    ).encode()

    error = refused(body)

    assert error.status == 422
    fields = {detail["field"]: detail for detail in error.details}
    assert set(fields) == {"$.clusterID", "$.nodes[1].id", "$.extensions[1].name"}
    assert fields["$.nodes[1].id"]["type"] == "missing"
    assert fields["$.extensions[1].name"]["extension"] == "Bad Key!"
    assert "Bad Key!" in str(fields["$.extensions[1].name"]["message"])


def test_a_report_with_the_most_broken_nodes_allowed_stops_at_the_first() -> None:
    body = b'{"clusterID":"x","nodes":[' + b",".join([b"{}"] * MAX_LIST_ENTRIES) + b"]}"

    error = refused(body)

    assert [detail["field"] for detail in error.details] == ["$.nodes[0].id"]


def test_a_report_with_more_objects_and_arrays_than_the_cap_is_413() -> None:
    body = b'{"clusterID":"x","nodes":[' + b",".join([b"{}"] * MAX_CONTAINERS) + b"]}"

    error = refused(body)

    assert error.status == 413
    assert str(MAX_CONTAINERS) in str(error.details[0]["message"])


def test_the_list_of_problems_is_capped_and_says_how_many_were_left_out() -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(list[int]).validate_python(["x"] * 100)

    details = _violations(caught.value)

    assert len(details) == MAX_DETAILS + 1
    assert details[0]["field"] == "$[0]"
    assert details[-1] == {
        "field": "$",
        "message": f"{100 - MAX_DETAILS} more problems not listed",
        "type": "truncated",
    }


def test_a_huge_offending_key_is_echoed_back_shortened() -> None:
    key = "Bad " * 10_000
    body = json.dumps({"clusterID": "x", "extensions": [{"name": key, "value": "v"}]}).encode()

    error = refused(body)

    echoed = str(error.details[0]["extension"])
    assert echoed.startswith("Bad Bad")
    assert len(echoed) < 400
    assert len(str(str(error.details[0]["message"]))) < 400
