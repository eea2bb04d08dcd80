"""The original Spartakus v1 report as the tests know it, written down once and without the project's code.

A node's fields, its anonymised id as the original Go volunteer derived it,
and a GKE node's values for the reports that tests and benchmarks build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

NODE_INFO_FIELDS: Final = (
    "operatingSystem",
    "osImage",
    "kernelVersion",
    "architecture",
    "containerRuntimeVersion",
    "kubeletVersion",
)
"""The Node's ``status.nodeInfo`` fields a report carries, in the Go struct's order."""
NODE_STRING_FIELDS: Final = ("id", *NODE_INFO_FIELDS, "cloudProvider")
"""Every string field of a report's node, in the Go struct's order (``capacity`` follows them)."""

GKE_NODE: Final[Mapping[str, str]] = {
    "operatingSystem": "linux",
    "osImage": "Container-Optimized OS from Google",
    "kernelVersion": "6.1.100+",
    "architecture": "amd64",
    "containerRuntimeVersion": "containerd://1.7.22",
    "kubeletVersion": "v1.31.1-gke.1678000",
    "cloudProvider": "gce",
}
"""A GKE node's fields as the volunteer reports them, all but its ``id`` and ``capacity``."""


def node_id(name: str, machine_id: str, system_uuid: str) -> str:
    """The original's anonymised id: md5 hex of the three strings concatenated."""
    return hashlib.md5((name + machine_id + system_uuid).encode(), usedforsecurity=False).hexdigest()


def node_object_id(node: Mapping[str, Any]) -> str:
    """The original's id of a Node object as the API server serves it."""
    info = node["status"]["nodeInfo"]
    return node_id(node["metadata"]["name"], info["machineID"], info["systemUUID"])
