"""A small document validated from orjson's values is answered exactly as when validated from its bytes (unit tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ingest.validation
from ingest.errors import RequestError
from ingest.validation import FAST_MAX_CONTAINERS, accept_report
from tests.ingest.gateway import go_volunteer_report

RECEIVED = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_reports(draw: st.DrawFn) -> dict[str, Any]:
    """A Go-volunteer report with some of its fields (or a capacity entry's) replaced by arbitrary JSON."""
    report = go_volunteer_report("c1")
    node = report["nodes"][0]
    parts = {"report": report, "node": node, "capacity": node["capacity"][0], "extension": report["extensions"][0]}
    for target in draw(st.lists(st.sampled_from(list(parts)), max_size=4)):
        where = parts[target]
        key = draw(st.sampled_from([*where, "extra", "reportID"]))
        where[key] = draw(json_values)
    return report


def answer(body: bytes) -> tuple[str, object]:
    """What the gateway makes of ``body``: the published body, or the refusal."""
    try:
        accepted = accept_report(body, received_at=RECEIVED)
    except RequestError as e:
        return "refused", (e.status, e.error, e.details)
    return "accepted", (accepted.report_id, accepted.envelope.body)


def answer_from_bytes(body: bytes) -> tuple[str, object]:
    """The same, with every document validated from its bytes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest.validation, "FAST_MAX_CONTAINERS", -1)
        return answer(body)


@settings(max_examples=300, deadline=None, database=None)
@given(report=mutated_reports())
def test_any_small_document_gets_the_same_answer_either_way(report: dict[str, Any]) -> None:
    body = json.dumps(report).encode()

    assert answer(body) == answer_from_bytes(body)


@pytest.mark.parametrize(
    "value",
    [2**64 - 1, 2**64, 2**70, -(2**63) - 1, 10**30, 1.5e300, 0.1, -0.0, 1e-320, {"a": 1, "b": [2, 3.5]}, True, None],
)
def test_a_number_orjson_reads_otherwise_than_pydantic_is_kept_exactly(value: object) -> None:
    body = json.dumps({"clusterID": "c", "extensions": [{"name": "a/b", "value": value}]}).encode()

    assert answer(body) == answer_from_bytes(body)
    if isinstance(value, int) and not isinstance(value, bool):
        assert json.loads(accept_report(body, received_at=RECEIVED).envelope.body)["extensions"][0]["value"] == str(
            value
        )


def test_a_refused_small_document_names_json_types_as_from_its_bytes() -> None:
    body = json.dumps({"clusterID": "c", "nodes": {"not": "a list"}}).encode()

    status, verdict = answer(body)

    assert status == "refused"
    assert verdict == answer_from_bytes(body)[1]
    problem = {"field": "$.nodes", "message": "Input should be a valid array", "type": "list_type"}
    assert verdict == (422, "invalid report", [problem])


def test_documents_past_the_container_bound_are_validated_from_their_bytes_alike() -> None:
    report = go_volunteer_report("c1")
    report["extensions"] = [{"name": f"a/k{i}", "value": {"n": [i]}} for i in range(FAST_MAX_CONTAINERS)]
    body = json.dumps(report).encode()

    assert answer(body)[0] == "accepted"
    assert answer(body) == answer_from_bytes(body)
