"""Report documents shaped like what real volunteers send."""

from __future__ import annotations

from typing import Any

from tests.support.original_wire import GKE_NODE, node_id

SEED_EXAMPLE: dict[str, Any] = {
    # The user guide's example report, field for field.
    "version": "v1.0.0",
    "timestamp": "867530909031976",
    "clusterID": "2f9c93d3-156c-47aa-8802-578ffca9b50e",
    "masterVersion": "v1.3.5",
    "extensions": [
        {"name": "example.com/hello", "value": "world"},
        {"name": "example.com/foo", "value": "bar"},
    ],
}


def three_node_report(timestamp: str = "1795779062") -> dict[str, Any]:
    """A report with three nodes across providers, capacity sorted by resource."""
    capacity = [
        {"resource": "cpu", "value": "4"},
        {"resource": "memory", "value": "16393220Ki"},
        {"resource": "pods", "value": "110"},
    ]
    return {
        "version": "v1.1.0",
        "timestamp": timestamp,
        "clusterID": "0b7f6b4e-4a57-4f3e-9c41-0e8a5e3f4d21",
        "masterVersion": "v1.31.1-gke.1678000",
        "nodes": [
            {"id": node_id("gke-a", "m1", "u1"), **GKE_NODE, "capacity": capacity},
            {
                "id": node_id("ip-10-0-0-1", "m2", "u2"),
                "operatingSystem": "linux",
                "architecture": "arm64",
                "kubeletVersion": "v1.31.0-eks-a737599",
                "cloudProvider": "aws",
                "capacity": capacity[:2],
            },
            {"id": node_id("kind-control-plane", "m3", "u3"), "cloudProvider": "unknown"},
        ],
        "extensions": [{"name": "example.com/tier", "value": "gold"}],
    }
