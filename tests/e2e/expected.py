"""What a stored report must hold, computed in the test from the Node objects and files it served.

Nothing here calls the project's code: node ids, providers and capacity are
derived independently, the way the original Go volunteer derived them, so a
mistake in the components cannot hide behind the same mistake in the test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from tests.support.original_wire import NODE_INFO_FIELDS, node_object_id

ORIGINAL_PROVIDERS: Final = frozenset(
    {"aws", "azure", "cloudstack", "gce", "mesos", "openstack", "ovirt", "photon", "rackspace", "vsphere"}
)


def expected_node(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The report's node for a Node object served by the API stand-in, with every field filled."""
    info = raw["status"]["nodeInfo"]
    provider_id = raw["spec"].get("providerID", "")
    scheme = provider_id.split("://", 1)[0] if "://" in provider_id else ""
    node: dict[str, Any] = {"id": node_object_id(raw)}
    node.update({name: info[name] for name in NODE_INFO_FIELDS})
    node["cloudProvider"] = scheme if scheme in ORIGINAL_PROVIDERS else "unknown"
    node["capacity"] = [{"resource": k, "value": v} for k, v in sorted(raw["status"]["capacity"].items())]
    return node


COLUMNS: Final = (
    "version",
    "timestamp",
    "clusterID",
    "masterVersion",
    "nodes",
    "extensions",
    "reportID",
    "receivedAt",
    "verified",
)
"""The stored report's columns (``schema/reports.bigquery.json``)."""
_COLUMN_BY_FOLDED: Final = {name.casefold(): name for name in COLUMNS}


def with_column_names(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with its top-level keys spelled as the schema spells them.

    BigQuery column names are case-insensitive, and the emulator returns a
    view's columns lower-cased (``clusterid``); nested field names keep their case.
    """
    return {_COLUMN_BY_FOLDED.get(key.casefold(), key): value for key, value in row.items()}


def without_empty(value: Any) -> Any:
    """``value`` with NULL fields dropped at every level: a store returns absent fields as NULL."""
    if isinstance(value, Mapping):
        return {key: without_empty(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_empty(item) for item in value]
    return value


def by_key(items: Iterable[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """``items`` sorted by ``key``, for comparing lists whose order the contract leaves open."""
    return sorted((dict(item) for item in items), key=lambda item: str(item[key]))


def within(moment: datetime, start: float, end: float) -> bool:
    """Whether an aware ``moment`` lies in ``[start, end]`` (Unix seconds, whole-second slack)."""
    return moment.tzinfo is not None and int(start) <= moment.timestamp() <= end + 1
