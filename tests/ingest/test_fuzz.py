"""Property-based fuzzing of ``POST /api/v1`` on the real gateway: client input never causes a 5xx."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.gateway import Gateway, go_volunteer_report

pytestmark = pytest.mark.integration

CLIENT_ERRORS = {400, 413, 415, 422}
ANSWERS = {204, 503} | CLIENT_ERRORS  # 503 only if the shared broker has a bad moment

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_reports(draw: st.DrawFn) -> dict[str, Any]:
    """A Go-volunteer report with some fields replaced by arbitrary JSON."""
    report = go_volunteer_report(draw(st.text(max_size=30)))
    parts = {"report": report, "node": report["nodes"][0], "extension": report["extensions"][0]}
    for target in draw(st.lists(st.sampled_from(list(parts)), max_size=4)):
        where = parts[target]
        key = draw(st.sampled_from([*where, "extra"]))
        where[key] = draw(json_values)
    return report


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    mutated_reports().map(lambda report: json.dumps(report).encode()),
    st.text(max_size=200).map(str.encode),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "", "application/jsonx"]
) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
encodings = st.sampled_from([None, "gzip", "identity", "br", "GZIP", "gzip, gzip"])


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, content_type=content_types, encoding=encodings, compress=st.booleans())
def test_no_input_makes_the_gateway_fail_or_stop(
    gateway: Gateway, body: bytes, content_type: str, encoding: str | None, compress: bool
) -> None:
    headers = {"Content-Type": content_type}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
        if compress and encoding.lower() == "gzip":
            body = gzip.compress(body)

    response = gateway.post(body, headers)

    assert response.status in ANSWERS, response.body
    if response.status != 204:
        document = response.json()
        assert isinstance(document["error"], str)
        assert all(isinstance(detail["message"], str) for detail in document["details"])


def test_the_gateway_still_serves_after_the_fuzzing(gateway: Gateway) -> None:
    assert gateway.process.poll() is None
    assert gateway.get("/healthz").status == 200
    assert gateway.post_report(go_volunteer_report()).status == 204
