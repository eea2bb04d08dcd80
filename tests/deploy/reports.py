"""A report as the original Go volunteer sends it, for the deployment tests that drive the real components."""

from __future__ import annotations

import hashlib
import json
import time


def go_volunteer_report(cluster_id: str) -> bytes:
    """A report exactly as the original Go volunteer (v1.1.0) sends it: one node, one extension."""
    node_id = hashlib.md5(b"node-1" + b"machine-1" + b"system-uuid-1", usedforsecurity=False).hexdigest()
    report = {
        "version": "v1.1.0",
        "timestamp": str(int(time.time())),
        "clusterID": cluster_id,
        "masterVersion": "v1.31.1",
        "nodes": [
            {
                "id": node_id,
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04 LTS",
                "kernelVersion": "6.8.0-45-generic",
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": "v1.31.1",
                "cloudProvider": "gce",
                "capacity": [{"resource": "cpu", "value": "4"}, {"resource": "memory", "value": "16393220Ki"}],
            }
        ],
        "extensions": [{"name": "example.com/tier", "value": "gold"}],
    }
    return json.dumps(report).encode()
