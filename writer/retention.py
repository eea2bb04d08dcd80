"""How long stored reports are kept (``--retention``), as BigQuery's partition expiration.

BigQuery drops a day partition of the reports table once it is older than the
table's partition expiration, at no query cost. The writer sets it when it
creates the table and brings an existing table to it at start, logging the
change. The DuckDB store deletes older rows itself (``writer.duckdb_sink``).

This module only reads and sets attributes of the client's table object, so
that the Google client stays imported by ``writer.bigquery_sink`` alone.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

log = logging.getLogger(__name__)


class TimePartitioning(Protocol):
    """The part of ``google.cloud.bigquery.TimePartitioning`` that holds the expiration."""

    expiration_ms: int | None


class PartitionedTable(Protocol):
    """The part of ``google.cloud.bigquery.Table`` that holds its partitioning."""

    @property
    def time_partitioning(self) -> TimePartitioning | None:
        """The day partitioning on ``receivedAt``, or None for a table without partitions."""
        ...


def expiration_ms(retention: timedelta | None) -> int | None:
    """BigQuery's partition expiration for ``retention``: None keeps partitions forever."""
    return None if retention is None else int(retention.total_seconds() * 1000)


def apply_retention(table: PartitionedTable, retention: timedelta | None, *, table_id: str) -> bool:
    """Set ``table``'s partition expiration to ``retention``; True when it changed (then update the table).

    A table without partitions (the original Spartakus table) cannot expire by partition: it is logged
    and left as it is. Without a retention an existing expiration is left alone too, since another
    writer, or the operator, may have set it.
    """
    wanted = expiration_ms(retention)
    if wanted is None:
        return False
    partitioning = table.time_partitioning
    if partitioning is None:
        log.warning(
            "the reports table has no partitions, so --retention cannot expire its rows; delete them with a query, "
            "or move the reports to a table the writer creates",
            extra={"table": table_id},
        )
        return False
    if partitioning.expiration_ms == wanted:
        return False
    log.info(
        "setting the reports table's partition expiration",
        extra={"table": table_id, "from_ms": partitioning.expiration_ms, "to_ms": wanted},
    )
    partitioning.expiration_ms = wanted
    return True
