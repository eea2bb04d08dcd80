"""The default size caps admit the report of a very large cluster (unit test, no broker)."""

from __future__ import annotations

import gzip
import json
import uuid

from ingest.settings import IngestSettings
from ingest.validation import MAX_CONTAINERS
from tests.ingest.gateway import go_volunteer_report

LARGEST_CLUSTER = 65_000
"""Nodes in the largest managed Kubernetes clusters on offer."""


def test_a_65000_node_report_fits_the_default_caps_gzipped_and_inflated() -> None:
    report = go_volunteer_report()
    node = report["nodes"][0]
    report["nodes"] = [{**node, "id": uuid.uuid4().hex} for _ in range(LARGEST_CLUSTER)]
    document = json.dumps(report).encode()
    fields = IngestSettings.model_fields

    assert len(document) > 20_000_000  # a realistic node is a few hundred bytes
    assert len(document) <= fields["max_decompressed_bytes"].default
    assert len(gzip.compress(document, 1)) <= fields["max_body_bytes"].default
    assert document.count(b"{") + document.count(b"[") <= MAX_CONTAINERS
