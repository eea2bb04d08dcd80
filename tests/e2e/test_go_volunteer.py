"""A report sent byte for byte as the original Go volunteer sends it is accepted and stored field for field.

The Go volunteer (v1.0.0, v1.1.0) marshals its ``report.Record`` with
``encoding/json`` (compact, fields in struct order, empty optional fields
left out, an empty ``timestamp`` that the collector fills) and POSTs it with
``http.Post(url, "application/json", body)``. Those exact bytes and headers go
to a real gateway; the row is read back from BigQuery through the dedup view.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any, Final

import pytest

from schema.report import derive_report_id, parse_report
from tests.e2e.conftest import BigQueryStore
from tests.e2e.expected import COLUMNS, with_column_names, without_empty
from tests.support.original_wire import GKE_NODE, node_id
from tests.support.pipeline import Answer, Gateway, Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STORE_TIMEOUT: Final = 60.0


def go_record(cluster_id: str) -> dict[str, Any]:
    """A ``report.Record`` as the Go volunteer v1.1.0 fills it, keys in its struct order."""
    gke = (
        "gke-prod-default-pool-3f2a1b7c-0001",
        "6f1e5a9d2c7b4e8fa1b2c3d4e5f60718",
        "9c2f3e1a-7b6d-4c5e-8f9a-0b1c2d3e4f5a",
    )
    metal = ("rack2-gpu-0004", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "4C4C4544-0042-3510-8052-B4C04F4E3132")
    return {
        "version": "v1.1.0",
        "timestamp": "",
        "clusterID": cluster_id,
        "masterVersion": "v1.31.1-gke.1678000",
        "nodes": [
            {
                "id": node_id(*gke),
                **GKE_NODE,
                "capacity": [
                    {"resource": "cpu", "value": "4"},
                    {"resource": "ephemeral-storage", "value": "98831908Ki"},
                    {"resource": "memory", "value": "16393220Ki"},
                    {"resource": "pods", "value": "110"},
                ],
            },
            {
                # omitempty: a node whose kubelet reported no OS image or architecture.
                "id": node_id(*metal),
                "operatingSystem": "linux",
                "kernelVersion": "6.8.0-48-generic",
                "containerRuntimeVersion": "cri-o://1.31.1",
                "kubeletVersion": "v1.31.2",
                "cloudProvider": "unknown",
                "capacity": [
                    {"resource": "cpu", "value": "64"},
                    {"resource": "memory", "value": "528151324Ki"},
                    {"resource": "nvidia.com/gpu", "value": "8"},
                ],
            },
        ],
        "extensions": [
            {"name": "example.com/team", "value": "platform"},
            {"name": "example.com/replicas", "value": "3"},
        ],
    }


def go_marshal(record: dict[str, Any]) -> bytes:
    """What Go's ``json.Marshal`` produces for ``record``: compact, keys in struct order."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def go_http_post(gateway: Gateway, body: bytes) -> Answer:
    """``http.Post(<base>/api/v1, "application/json", body)`` with the headers Go's client sends."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.putrequest("POST", "/api/v1", skip_accept_encoding=True)
        for name, value in (
            ("User-Agent", "Go-http-client/1.1"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "application/json"),
            ("Accept-Encoding", "gzip"),
        ):
            connection.putheader(name, value)
        connection.endheaders(body)
        answer = connection.getresponse()
        return Answer(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
    finally:
        connection.close()


def test_report_posted_as_the_go_volunteer_sends_it_is_stored_field_for_field(
    pipeline: Pipeline, bigquery_store: BigQueryStore
) -> None:
    gateway = pipeline.ingest()
    pipeline.writer("writer", bigquery_store.database, "--batch-max-wait=200ms", env=bigquery_store.writer_env)
    record = go_record(str(uuid.uuid4()))

    before = time.time()
    answer = go_http_post(gateway, go_marshal(record))
    after = time.time()
    assert (answer.status, answer.body) == (204, b"")

    rows = bigquery_store.wait_for_cluster(record["clusterID"], timeout=STORE_TIMEOUT)
    assert len(rows) == 1
    row = without_empty(with_column_names(rows[0]))
    assert set(row) == set(COLUMNS)
    # The empty timestamp became the receive time, in Unix seconds, as the original collector did.
    timestamp = row.pop("timestamp")
    assert int(before) <= int(timestamp) <= after
    received_at = row.pop("receivedAt")
    assert int(received_at.timestamp()) == int(timestamp)
    report_id = row.pop("reportID")
    assert report_id == derive_report_id(parse_report(json.dumps({**record, "timestamp": timestamp})))
    assert row.pop("verified") is False
    record.pop("timestamp")
    assert row == record
