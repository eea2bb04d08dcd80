"""Large reports are validated a slice at a time, with the same outcome as whole (unit tests)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

import ingest.validation
from ingest.errors import RequestError
from ingest.slices import MAX_DEPTH, split_members
from ingest.validation import MAX_LIST_ENTRIES, Accepted, accept_report
from schema.message import decode_body
from tests.ingest.gateway import go_volunteer_report

RECEIVED = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)


def report_with(nodes: int) -> dict[str, object]:
    report = go_volunteer_report("sliced")
    node = report["nodes"][0]
    report["nodes"] = [{**node, "id": uuid.uuid5(uuid.NAMESPACE_DNS, str(i)).hex} for i in range(nodes)]
    return report


def stored(accepted: Accepted) -> object:
    envelope = accepted.envelope
    return json.loads(decode_body(envelope.body, envelope.content_encoding))


def outcome(body: bytes) -> object:
    try:
        return stored(accept_report(body, received_at=RECEIVED))
    except RequestError as e:
        return e.status, e.error, [detail.get("field") for detail in e.details]


SHAPES = {
    "go volunteer, many nodes": json.dumps(report_with(40)).encode(),
    "spaced out": json.dumps(report_with(5), indent=2).encode(),
    "extensions before nodes, numbers as values": (
        b'{"extensions":[{"name":"a/n","value":12},{"name":"a/o","value":{"k":[1,2.5,"}]"]}}],'
        b' "clusterID":"c","nodes":[{"id":"a","capacity":[{"resource":"cpu","value":"4"}]}]}'
    ),
    "brackets and quotes inside strings": (
        b'{"clusterID":"c","nodes":[{"id":"a]}\\"[{","osImage":"x\\\\"},{"id":"\\u005d"}]}'
    ),
    "duplicate keys inside a node": b'{"clusterID":"c","nodes":[{"id":"a","id":"b"},{"id":"c"}]}',
    "empty lists": b'{"clusterID":"c","nodes":[],"extensions":[ ]}',
    "null lists": b'{"clusterID":"c","nodes":null,"extensions":null}',
    "unknown fields, nested": b'{"clusterID":"c","junk":{"a":[[{"b":[]}]]},"nodes":[{"id":"a","more":[[1]]}]}',
    "no nodes": b'{"clusterID":"c"}',
    "nesting deeper than followed": b'{"clusterID":"c","nodes":[{"id":"a","x":'
    + b"[" * (MAX_DEPTH + 2)
    + b"]" * (MAX_DEPTH + 2)
    + b"}]}",
    "repeated key, the last one wins": b'{"clusterID":"c","nodes":[{}],"nodes":[{"id":"a"}]}',
    "client receivedAt and timestamp": (
        b'{"clusterID":"c","timestamp":"1795779062","receivedAt":"x","nodes":[{"id":"a"}]}'
    ),
}
REFUSED = {
    "schema violation in a late node": json.dumps({"clusterID": "c", "nodes": [{"id": "a"}] * 30 + [{}]}).encode(),
    "bad extension key": (
        b'{"clusterID":"c","extensions":[{"name":"a/ok","value":"1"},{"name":"Bad Key!","value":"x"}]}'
    ),
    "missing cluster id": b'{"nodes":[{"id":"a"}]}',
    "NaN in a node": b'{"clusterID":"c","nodes":[{"id":"a","x":NaN}]}',
    "number out of range in a node": b'{"clusterID":"c","nodes":[{"id":"a","x":1e999}]}',
    "invalid UTF-8 in a node": b'{"clusterID":"c","nodes":[{"id":"a\xff"}]}',
    "lone surrogate in an extension": b'{"clusterID":"c","extensions":[{"name":"a/b","value":"\\ud800"}]}',
    "trailing comma": b'{"clusterID":"c","nodes":[{"id":"a"},]}',
    "missing comma": b'{"clusterID":"c","nodes":[{"id":"a"} {"id":"b"}]}',
    "form feed between nodes": b'{"clusterID":"c","nodes":[{"id":"a"},\x0c{"id":"b"}]}',
    "mismatched brackets": b'{"clusterID":"c","nodes":[{"id":"a"]]}',
    "trailing garbage": b'{"clusterID":"c","nodes":[{"id":"a"}]} x',
    "repeated nodes key": b'{"clusterID":"c","nodes":[{"id":"a"}],"nodes":[{}]}',
    "escaped key": b'{"clusterID":"c","\\u006eodes":[{}]}',
}


@pytest.mark.parametrize("body", list(SHAPES.values()), ids=list(SHAPES))
def test_a_sliced_report_is_stored_exactly_as_a_whole_one(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = outcome(body)
    monkeypatch.setattr(ingest.validation, "SLICED_ABOVE", 0)
    monkeypatch.setattr(ingest.validation, "SLICE_BYTES", 200)

    assert isinstance(whole, dict)
    assert outcome(body) == whole


@pytest.mark.parametrize("body", list(REFUSED.values()), ids=list(REFUSED))
def test_a_sliced_report_is_refused_exactly_when_a_whole_one_is(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = outcome(body)
    monkeypatch.setattr(ingest.validation, "SLICED_ABOVE", 0)
    monkeypatch.setattr(ingest.validation, "SLICE_BYTES", 200)

    sliced = outcome(body)

    assert isinstance(whole, tuple)
    assert isinstance(sliced, tuple)
    assert sliced[:2] == whole[:2]
    if whole[0] == 422:
        assert sliced[2][0] in whole[2]  # the first problem, with the same field path


def test_the_slices_cover_every_element_once_in_order() -> None:
    body = json.dumps(report_with(50)).encode()

    layout = split_members(body, slice_bytes=1000, max_elements=MAX_LIST_ENTRIES)

    assert layout is not None
    nodes = next(member for member in layout.members if member.key == "nodes")
    assert len(nodes.slices) > 5
    elements = [json.loads(b"[" + body[start:end] + b"]") for start, end, _first in nodes.slices]
    assert [node for run in elements for node in run] == json.loads(body)["nodes"]
    assert [first for _start, _end, first in nodes.slices] == [
        sum(map(len, elements[:i])) for i in range(len(elements))
    ]
    assert json.loads(layout.rest)["nodes"] == []


def test_more_nodes_than_any_cluster_has_is_413_after_counting_only_that_many() -> None:
    body = b'{"clusterID":"x","nodes":[' + b",".join([b'{"id":"a"}'] * 1_000_000) + b"]}"

    with pytest.raises(RequestError) as caught:
        accept_report(body, received_at=RECEIVED)

    assert caught.value.status == 413
    assert str(MAX_LIST_ENTRIES) in str(caught.value.details[0]["message"])


def test_a_large_report_is_stored_gzip_compressed_and_reserves_little_beyond_its_own_size() -> None:
    body = json.dumps(report_with(20_000)).encode()
    reserved: list[int] = []

    accepted = accept_report(body, received_at=RECEIVED, reserve=reserved.append)

    assert len(body) > ingest.validation.SLICED_ABOVE
    assert accepted.envelope.content_encoding == "gzip"
    assert len(accepted.envelope.body) < len(body) / 10
    assert stored(accepted)["nodes"] == json.loads(body)["nodes"]  # type: ignore[index]
    assert len(reserved) == 1
    assert len(body) < reserved[0] < len(body) + 2 * ingest.validation.SLICED_COST
    assert reserved[0] < ingest.validation.whole_cost(body) / 5
