"""Large reports as real clusters send them: the Go volunteer's node shape, tens of thousands of nodes."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Final

from tests.support.original_wire import GKE_NODE

CAPACITY: Final = (
    ("attachable-volumes-gce-pd", "127"),
    ("cpu", "16"),
    ("ephemeral-storage", "98831908Ki"),
    ("hugepages-1Gi", "0"),
    ("hugepages-2Mi", "0"),
    ("memory", "65849236Ki"),
    ("nvidia.com/gpu", "1"),
    ("pods", "110"),
    ("example.com/fpga", "2"),
    ("example.com/sriov-nic", "4"),
    ("scheduling.example.com/slots", "64"),
    ("smarter-devices/fuse", "20"),
)
"""A dozen capacity entries, as a node with device plugins reports them."""
DEFAULT_OS_IMAGE: Final = GKE_NODE["osImage"]
CJK_OS_IMAGE: Final = "容器优化操作系统 企业版 22.04 长期支持 (コンテナ最適化 OS)"


def go_volunteer_report(
    nodes: int, *, capacity: int = len(CAPACITY), os_image: str = DEFAULT_OS_IMAGE
) -> dict[str, Any]:
    """A report as the Go volunteer v1.1.0 builds it (empty timestamp, struct field order), ``nodes`` nodes."""
    entries = sorted(CAPACITY[:capacity])
    return {
        "version": "v1.1.0",
        "timestamp": "",
        "clusterID": str(uuid.uuid4()),
        "masterVersion": "v1.31.1-gke.1678000",
        "nodes": [
            {
                "id": hashlib.md5(f"gke-prod-pool-{i:05d}".encode(), usedforsecurity=False).hexdigest(),
                **GKE_NODE,
                "osImage": os_image,
                "capacity": [{"resource": r, "value": v} for r, v in entries],
            }
            for i in range(nodes)
        ],
    }


def go_body(report: dict[str, Any]) -> bytes:
    """The report as Go's ``encoding/json`` marshals it: compact, non-ASCII as UTF-8."""
    return json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode()
