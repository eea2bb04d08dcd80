"""One rule for splicing reports: the functions, and the volunteer, the gateway and the writer agreeing through them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

import pytest

from ingest.validation import SLICE_BYTES, SLICED_ABOVE, accept_report
from schema.message import decode_body
from schema.report import Extension, content_report_id
from schema.splice import array_items, array_pieces, close_with, fill_arrays
from tests.support.k8s_nodes import generate_nodes
from tests.volunteer.twins import InMemoryCluster
from volunteer.report import build_report
from writer.rows import decode_report

RECEIVED: Final = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)


def test_array_items_and_pieces_make_the_array_again() -> None:
    assert array_items(b'[{"a":1},2,"x"]') == b'{"a":1},2,"x"'
    assert b"".join(array_pieces([b'{"a":1},2', b"", b'"x"'])) == b'[{"a":1},2,"x"]'
    assert b"".join(array_pieces([])) == b"[]"


def test_members_are_added_before_the_closing_brace_in_order() -> None:
    nodes = array_pieces([b'{"id":"a"}', b'{"id":"b"}'])

    assert (
        close_with(b'{"v":"1"}', [("nodes", nodes), ("part", b"0")])
        == b'{"v":"1","nodes":[{"id":"a"},{"id":"b"}],"part":0}'
    )
    assert close_with(b"{}", [("a", b"true"), ("b", b"null")]) == b'{"a":true,"b":null}'
    assert close_with(b'],"x":1}', [("a", b"2")]) == b'],"x":1,"a":2}'  # the last piece of a longer object
    assert close_with(b'{"v":"1"}', []) == b'{"v":"1"}'


def test_empty_arrays_are_filled_wherever_they_stand() -> None:
    whole = b'{"a":[],"nodes":[],"b":{"c":1},"extensions":[]}'
    runs = {"extensions": iter([b'"e1"']), "nodes": iter([b"1,2", b"", b"3"])}

    pieces = list(fill_arrays(whole, runs))

    assert b"".join(pieces) == b'{"a":[],"nodes":[1,2,3],"b":{"c":1},"extensions":["e1"]}'
    assert json.loads(b"".join(fill_arrays(whole, {}))) == json.loads(whole)
    with pytest.raises(ValueError, match="not found"):
        list(fill_arrays(b'{"nodes":[1]}', {"nodes": [b"2"]}))


@pytest.mark.parametrize(
    ("nodes", "max_row_bytes"),
    [(3, 9_000_000), (3_000, 9_000_000), (3_000, 200_000)],
    ids=["small", "sliced by the gateway", "sliced by the gateway and split by the writer"],
)
def test_the_volunteer_the_gateway_and_the_writer_splice_one_report_alike(nodes: int, max_row_bytes: int) -> None:
    cluster = InMemoryCluster(list(generate_nodes(nodes)), page_size=500)
    extensions = [Extension(name=f"example.com/k{i}", value=f"v{i}") for i in range(3)]
    sent = build_report(
        cluster, cluster_id="c-splice", extensions=extensions, version="v2.0.0", clock=lambda: 1795779062
    )

    accepted = accept_report(sent.body, received_at=RECEIVED)
    stored = decode_body(accepted.envelope.body, accepted.envelope.content_encoding)
    row = decode_report(
        accepted.envelope.body, content_encoding=accepted.envelope.content_encoding, max_row_bytes=max_row_bytes
    )
    unstamped = decode_report(sent.body, received_at_header=accepted.envelope.received_at, max_row_bytes=max_row_bytes)

    if nodes > 3:
        assert len(sent.body) > 2 * SLICE_BYTES > SLICED_ABOVE  # the gateway splits it into several slices
    # The gateway's normalised report is the volunteer's body, byte for byte, closed with what the gateway adds.
    stamps = [("reportID", f'"{accepted.report_id}"'.encode()), ("receivedAt", b'"2026-11-27T12:00:00.123456Z"')]
    assert stored == close_with(sent.body, [*stamps, ("verified", b"false")])
    # One id for the content, whoever derives it: the gateway from its pieces, the writer from a message without one.
    assert accepted.report_id == content_report_id(sent.body) == row.report_id == unstamped.report_id
    # The writer's rows hold the report's nodes in order, however many rows it takes.
    assert (len(row.payloads) > 1) == (max_row_bytes < len(sent.body))
    rows = [json.loads(payload) for payload in row.payloads]
    assert [node for each in rows for node in each["nodes"]] == json.loads(sent.body)["nodes"]
    expected = {"clusterID": "c-splice", "extensions": json.loads(sent.body)["extensions"], "reportID": row.report_id}
    assert all({key: each[key] for key in expected} == expected for each in rows)
    assert [{**each, "verified": False} for each in map(json.loads, unstamped.payloads)] == rows
