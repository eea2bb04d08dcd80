"""The BigQuery table the original Spartakus collector created, as its schema file spelled it."""

from __future__ import annotations

from typing import Any

from tests.support.original_wire import NODE_INFO_FIELDS

_S = "STRING"
_REQUIRED = "REQUIRED"
_NULLABLE = "NULLABLE"


def _pairs(name: str, key: str) -> dict[str, Any]:
    """A repeated record of two required strings, ``key`` and ``value``."""
    fields = [{"name": key, "type": _S, "mode": _REQUIRED}, {"name": "value", "type": _S, "mode": _REQUIRED}]
    return {"name": name, "type": "RECORD", "mode": "REPEATED", "fields": fields}


# The table the original Spartakus collector created (pkg/database/bigquery.schema.json, with extensions).
ORIGINAL_TABLE: list[dict[str, Any]] = [
    {"name": "version", "type": _S, "mode": _REQUIRED},
    {"name": "timestamp", "type": _S, "mode": _REQUIRED},
    {"name": "clusterID", "type": _S, "mode": _REQUIRED},
    {"name": "masterVersion", "type": _S, "mode": _NULLABLE},
    {
        "name": "nodes",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [
            {"name": "id", "type": _S, "mode": _REQUIRED},
            *({"name": n, "type": _S, "mode": _NULLABLE} for n in (*NODE_INFO_FIELDS, "cloudProvider")),
            _pairs("capacity", "resource"),
        ],
    },
    _pairs("extensions", "name"),
]
