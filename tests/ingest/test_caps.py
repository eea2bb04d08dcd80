"""The default size caps admit the report of a very large cluster (unit test, no broker)."""

from __future__ import annotations

import gzip
import json

from ingest.settings import IngestSettings
from ingest.validation import MAX_CONTAINERS, MAX_LIST_ENTRIES
from tests.ingest.large import CAPACITY, LARGEST_CLUSTER, largest_cluster_report


def test_a_65000_node_report_with_a_dozen_capacity_entries_fits_the_default_caps_as_sent_and_gzipped() -> None:
    document = largest_cluster_report("largest")
    nodes = json.loads(document)["nodes"]
    fields = IngestSettings.model_fields

    assert (len(nodes), len(nodes[0]["capacity"])) == (LARGEST_CLUSTER, len(CAPACITY)) == (65_000, 12)
    assert len(document) > 45_000_000  # a realistic node with a dozen capacity entries is some 780 bytes
    assert len(document) <= fields["max_body_bytes"].default  # the Go volunteer sends it uncompressed
    assert len(document) <= fields["max_decompressed_bytes"].default
    assert len(gzip.compress(document, 1)) <= fields["max_body_bytes"].default
    assert document.count(b"{") + document.count(b"[") <= MAX_CONTAINERS
    assert len(nodes) <= MAX_LIST_ENTRIES
