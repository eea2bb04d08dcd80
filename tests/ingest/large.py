"""The reports of the largest clusters, as the original Go volunteer sends them (compact JSON, no gzip)."""

from __future__ import annotations

import hashlib
import json
from typing import Final

from tests.ingest.gateway import go_volunteer_report

LARGEST_CLUSTER: Final = 65_000
"""Nodes in the largest managed Kubernetes clusters on offer."""

CAPACITY: Final = {
    "attachable-volumes-gce-pd": "127",
    "cpu": "32",
    "ephemeral-storage": "101203028Ki",
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
    "memory": "131889152Ki",
    "nvidia.com/gpu": "4",
    "pods": "110",
    "example.com/fpga": "2",
    "smarter-devices/fuse": "20",
    "intel.com/qat": "16",
    "rdma/hca": "1",
}
"""A dozen capacity entries, as a GPU node of a large cluster lists them."""


def node_json(index: int) -> bytes:
    """One node's compact JSON, with capacity entries sorted by resource as the volunteer sends them."""
    node = go_volunteer_report()["nodes"][0]
    node["id"] = hashlib.md5(f"node-{index}".encode(), usedforsecurity=False).hexdigest()
    node["capacity"] = [{"resource": name, "value": CAPACITY[name]} for name in sorted(CAPACITY)]
    return json.dumps(node, separators=(",", ":")).encode()


def largest_cluster_report(cluster_id: str, nodes: int = LARGEST_CLUSTER) -> bytes:
    """A report of ``nodes`` nodes, a dozen capacity entries each: some 50 MB at 65,000 nodes."""
    report = go_volunteer_report(cluster_id)
    report["nodes"] = []
    head = json.dumps(report, separators=(",", ":")).encode()
    template = node_json(0)
    first_id = template[7:39]  # {"id":"<32 hex>"
    body = b",".join(
        template.replace(first_id, hashlib.md5(f"node-{i}".encode(), usedforsecurity=False).hexdigest().encode(), 1)
        for i in range(nodes)
    )
    return head.replace(b'"nodes":[]', b'"nodes":[' + body + b"]", 1)
