"""The report models: wire compatibility, validation rules and the report id."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schema.report import (
    KNOWN_PROVIDERS,
    ORIGINAL_PROVIDERS,
    StoredReport,
    derive_report_id,
    dump_report,
    parse_report,
    qualified_name_error,
)
from tests.schema.samples import SEED_EXAMPLE, three_node_report

RECEIVED = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
RECEIVED_SECONDS = str(int(RECEIVED.timestamp()))


def _parse(doc: dict[str, Any]) -> Any:
    return parse_report(json.dumps(doc).encode(), received_at=RECEIVED)


def test_seed_example_round_trips_with_receive_time_for_its_microsecond_timestamp() -> None:
    report = _parse(SEED_EXAMPLE)

    wire = json.loads(dump_report(report))

    assert wire["timestamp"] == RECEIVED_SECONDS
    assert {k: v for k, v in wire.items() if k not in {"timestamp", "reportID"}} == {
        k: v for k, v in SEED_EXAMPLE.items() if k != "timestamp"
    }
    assert parse_report(dump_report(report), received_at=RECEIVED) == report


def test_three_node_report_round_trips_field_for_field() -> None:
    doc = three_node_report()
    report = _parse(doc)

    wire = json.loads(dump_report(report))

    assert wire.pop("reportID") == derive_report_id(report)
    assert wire == doc
    assert report.nodes is not None
    assert [n.cloud_provider for n in report.nodes] == ["gce", "aws", "unknown"]
    assert report.nodes[0].capacity is not None
    assert report.nodes[0].capacity[1] == {"resource": "memory", "value": "16393220Ki"}


def test_optional_fields_are_omitted_when_empty() -> None:
    wire = json.loads(dump_report(_parse({"clusterID": "c1", "timestamp": "1795779062"})))

    assert set(wire) == {"version", "timestamp", "clusterID", "reportID"}
    assert wire["version"] == "UNKNOWN"


def test_go_volunteer_empty_timestamp_gets_receive_time() -> None:
    doc = three_node_report(timestamp="")

    assert _parse(doc).timestamp == RECEIVED_SECONDS


@pytest.mark.parametrize(
    "timestamp",
    ["", "abc", "-5", "12", "99999999999999", "1.5e9", None, True, 1.5, "9" * 5000, "0" * 30 + "1795779062"],
)
def test_unusable_timestamps_become_receive_time(timestamp: object) -> None:
    assert _parse({"clusterID": "c", "timestamp": timestamp}).timestamp == RECEIVED_SECONDS


def test_plausible_numeric_timestamp_is_kept_as_decimal_string() -> None:
    assert _parse({"clusterID": "c", "timestamp": 1795779062}).timestamp == "1795779062"


def test_unknown_top_level_fields_are_ignored() -> None:
    report = _parse({"clusterID": "c", "timestamp": "1795779062", "futureField": {"x": 1}})

    assert "futureField" not in json.loads(dump_report(report))


def test_empty_cluster_id_is_rejected_with_its_path() -> None:
    with pytest.raises(ValidationError) as excinfo:
        _parse({"clusterID": "", "timestamp": "1795779062"})

    assert [e["loc"] for e in excinfo.value.errors()] == [("clusterID",)]


def test_invalid_extension_key_is_rejected_naming_the_key() -> None:
    doc = {"clusterID": "c", "extensions": [{"name": "Bad_Prefix.COM/x", "value": "v"}]}

    with pytest.raises(ValidationError) as excinfo:
        _parse(doc)

    (error,) = excinfo.value.errors()
    assert error["loc"] == ("extensions", 0, "name")
    assert "Bad_Prefix.COM/x" in error["msg"]


def test_non_string_extension_values_become_compact_json() -> None:
    doc = {
        "clusterID": "c",
        "extensions": [
            {"name": "n", "value": 3},
            {"name": "o", "value": {"a": [1, True, None]}},
            {"name": "b", "value": False},
        ],
    }

    report = _parse(doc)

    assert report.extensions is not None
    assert [e.value for e in report.extensions] == ["3", '{"a":[1,true,null]}', "false"]


@pytest.mark.parametrize(
    "key",
    ["hello", "example.com/hello", "a/b", "a.b-c/x_y.z", "x" * 63, "a" * 253 + "/n", "k8s.io/Some-Name_1"],
)
def test_qualified_names_accepted(key: str) -> None:
    assert qualified_name_error(key) is None


@pytest.mark.parametrize(
    "key",
    ["", "/x", "a/", "a/b/c", "-x", "x-", "x" * 64, "Example.com/x", "a_b.com/x", "a" * 254 + "/n", "has space", "é"],
)
def test_qualified_names_rejected(key: str) -> None:
    error = qualified_name_error(key)

    assert error is not None
    assert repr(key) in error


def test_missing_timestamp_gets_receive_time_too() -> None:
    assert _parse({"clusterID": "c"}).timestamp == RECEIVED_SECONDS


def test_derived_report_id_is_the_sha256_of_the_normalised_report_without_its_id() -> None:
    report = _parse({**three_node_report(), "reportID": "chosen-by-the-sender"})
    normalised = dump_report(report, with_id=False)

    assert b"reportID" not in normalised
    assert derive_report_id(report) == "sha256-" + hashlib.sha256(normalised).hexdigest()


@given(
    cluster_id=st.text(min_size=1, max_size=20),
    versions=st.tuples(st.text(max_size=10), st.text(max_size=10)).filter(lambda v: v[0] != v[1] and "" not in v),
)
def test_two_reports_of_one_cluster_and_timestamp_never_share_an_id(cluster_id: str, versions: tuple[str, str]) -> None:
    first, second = (
        _parse({"clusterID": cluster_id, "timestamp": "1795779062", "masterVersion": version}) for version in versions
    )

    assert first.id != second.id
    assert first.id == _parse({"clusterID": cluster_id, "timestamp": "1795779062", "masterVersion": versions[0]}).id


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        *((name, name) for name in sorted(ORIGINAL_PROVIDERS)),
        ("kind", "kind"),
        ("digitalocean", "digitalocean"),
        ("unknown", "unknown"),
        ("other", "other"),
        ("GCE", "other"),
        ("my-company-internal", "other"),
        ("x" * 10_000, "other"),
        ("", "other"),
    ],
)
def test_cloud_provider_outside_the_known_providers_is_stored_as_other(sent: str, stored: str) -> None:
    report = _parse({"clusterID": "c", "nodes": [{"id": "n", "cloudProvider": sent}]})

    assert report.nodes is not None
    assert report.nodes[0].cloud_provider == stored
    assert stored in KNOWN_PROVIDERS


def test_a_list_of_many_bad_nodes_reports_one_error() -> None:
    doc = {"clusterID": "c", "nodes": [{"id": ""}] * 10_000}

    with pytest.raises(ValidationError) as excinfo:
        _parse(doc)

    assert excinfo.value.error_count() == 1


def test_report_id_is_taken_from_the_report_when_present() -> None:
    report = _parse({"clusterID": "c", "timestamp": "1795779062", "reportID": "r-1"})

    assert report.id == "r-1"


def test_report_id_is_deterministic_for_a_retried_report() -> None:
    doc = three_node_report()

    first = parse_report(json.dumps(doc).encode(), received_at=RECEIVED)
    retry = parse_report(json.dumps(doc).encode(), received_at=datetime(2026, 11, 28, tzinfo=UTC))

    assert first.id == retry.id
    assert first.id != _parse({**doc, "clusterID": "other"}).id
    assert first.id != _parse({**doc, "timestamp": "1795779063"}).id


def test_stored_report_carries_receive_time_and_reparses_identically() -> None:
    report = _parse(three_node_report())
    stored = StoredReport.model_validate({**report.model_dump(by_alias=True), "receivedAt": RECEIVED})

    again = StoredReport.model_validate_json(stored.model_dump_json(by_alias=True, exclude_none=True))

    assert again == stored
    assert again.received_at == RECEIVED


name_chars = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
labels = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)


@given(
    prefix=st.lists(labels, min_size=0, max_size=4).map(".".join),
    name=st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?", fullmatch=True),
    value=st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=3)),
)
def test_any_valid_extension_round_trips(prefix: str, name: str, value: object) -> None:
    key = f"{prefix}/{name}" if prefix else name
    report = _parse({"clusterID": "c", "timestamp": "1795779062", "extensions": [{"name": key, "value": value}]})

    assert parse_report(dump_report(report), received_at=RECEIVED) == report
    assert report.extensions is not None
    assert report.extensions[0].name == key
