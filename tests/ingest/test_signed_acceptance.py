"""The gateway's check accepts exactly what the volunteer signs: any report it builds, and nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import RequestError
from ingest.validation import accept_report
from schema.report import Extension
from schema.signature import ClusterKey
from tests.support.k8s_nodes import generate_nodes
from tests.volunteer.twins import InMemoryCluster
from volunteer.report import build_report

RECEIVED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KEY = ClusterKey("6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30")
extension_values = st.text(max_size=30) | st.integers() | st.lists(st.booleans(), max_size=3)


def volunteer_body(nodes: int, extensions: dict[str, object], seconds: int) -> bytes:
    """The exact bytes the volunteer would POST for a cluster of ``nodes`` nodes."""
    built = build_report(
        InMemoryCluster(list(generate_nodes(nodes))),
        cluster_id=KEY.cluster_id,
        extensions=[Extension(name=k, value=v) for k, v in extensions.items()],
        version="v2.0.0",
        clock=lambda: seconds,
    )
    return built.body


bodies = st.builds(
    volunteer_body,
    nodes=st.integers(min_value=0, max_value=12),
    extensions=st.dictionaries(st.from_regex(r"example\.com/[a-z]{1,8}", fullmatch=True), extension_values, max_size=3),
    seconds=st.integers(min_value=1_700_000_000, max_value=1_795_000_000),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_every_report_the_volunteer_signs_is_accepted_verified(body: bytes) -> None:
    accepted = accept_report(body, received_at=RECEIVED, signature=KEY.header(body).encode())

    assert accepted.verified is True
    assert json.loads(accepted.envelope.body)["verified"] is True


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, data=st.data())
def test_any_change_to_a_signed_body_is_refused(body: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    replacement = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != body[index]))
    changed = body[:index] + bytes([replacement]) + body[index + 1 :]

    with pytest.raises(RequestError) as refusal:
        accept_report(changed, received_at=RECEIVED, signature=KEY.header(body).encode())

    # Broken JSON or schema (400/422), or a valid report the signature does not cover (400/403): never stored.
    assert refusal.value.status in {400, 403, 422}
