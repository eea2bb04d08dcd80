"""One rule for what a cluster's figures are, written once for every reader of the reports table.

``spartakus reports``, the dashboard's adoption query and the writers' dedup
views all build their SQL from the pieces here, so they cannot disagree:

- **Copies.** Rows are copies of one report when they share the cluster, the
  report id and the part; the first received copy stands for them
  (``COPY_ORDER``). The report id is derived from the report's content, so
  only byte-identical reports share one: two different reports are never
  merged into figures that neither carried. A row without a ``reportID`` (the
  original collector's) is known by ``clusterID/timestamp``. The cluster is
  part of the key, so a report that copies another cluster's ``reportID``
  hides nothing of that cluster.
- **Latest.** A cluster's latest report is the one with the newest
  ``timestamp``; a row whose timestamp lies more than ``FUTURE_SKEW_SECONDS``
  after its receive time is never the latest. Equal timestamps go to the
  report received first, then to the smaller report id: a forgery with the
  same timestamp, sent later, does not shadow the real report, and every
  reader picks the same one. A report older than a cluster's latest never
  replaces it, whenever it arrives.

The pieces are SQL text for the two stores this project reads (DuckDB and
BigQuery), built from constants and column names only. Column arguments are SQL
expressions, already quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from schema.report import FUTURE_SKEW_SECONDS

Dialect = Literal["duckdb", "bigquery"]

__all__ = [
    "COPY_ORDER",
    "FUTURE_SKEW_SECONDS",
    "Dialect",
    "copy_partition",
    "dedup_view_sql",
    "eligible",
    "latest_order",
    "latest_reports_sql",
    "quote",
    "report_key",
    "sent_seconds",
]


def quote(name: str, dialect: Dialect) -> str:
    """``name`` as a quoted identifier of ``dialect``."""
    if dialect == "bigquery":
        return "`" + name.replace("`", "\\`") + "`"
    return '"' + name.replace('"', '""') + '"'


def report_key(*, report_id: str, cluster_id: str, timestamp: str) -> str:
    """What tells reports apart: the report id, or for a row without one, its cluster and timestamp."""
    return f"coalesce({report_id}, {cluster_id} || '/' || {timestamp})"


def copy_partition(*, cluster_id: str, report_id: str, timestamp: str, part: str) -> str:
    """The columns whose equal values make rows copies of one stored row (the dedup key)."""
    return f"{cluster_id}, {report_key(report_id=report_id, cluster_id=cluster_id, timestamp=timestamp)}, {part}"


COPY_ORDER: Final = "ASC NULLS LAST"
"""How copies are ordered by their receive time: the first received copy stands for them all."""


def sent_seconds(timestamp: str, dialect: Dialect) -> str:
    """The report's ``timestamp`` (a string of Unix seconds) as a number; NULL when it is not one."""
    return f"SAFE_CAST({timestamp} AS INT64)" if dialect == "bigquery" else f"TRY_CAST({timestamp} AS BIGINT)"


def _epoch(timestamp: str, dialect: Dialect) -> str:
    return f"UNIX_SECONDS({timestamp})" if dialect == "bigquery" else f"CAST(epoch({timestamp}) AS BIGINT)"


def eligible(*, sent: str, received_at: str, dialect: Dialect) -> str:
    """True for a row that may be its cluster's latest: its timestamp is no further ahead of its arrival than the
    accepted skew (a row without a receive time, from the original collector, is judged by its timestamp alone)."""
    return f"{sent} <= coalesce({_epoch(received_at, dialect)}, {sent}) + {FUTURE_SKEW_SECONDS}"


def latest_order(*, sent: str, received_at: str, key: str) -> str:
    """The ``ORDER BY`` that puts a cluster's latest report first: newest timestamp, then first received, then id."""
    return f"{sent} DESC NULLS LAST, {received_at} ASC NULLS LAST, {key} ASC"


def _columns(dialect: Dialect) -> dict[str, str]:
    names = ("clusterID", "reportID", "timestamp", "part", "receivedAt")
    return {name: quote(name, dialect) for name in names}


def dedup_view_sql(*, dialect: Dialect, table: str, columns: Sequence[str] | None = None) -> str:
    """The dedup view: one row per (cluster, report id, part), the first received.

    ``table`` is quoted already; ``columns`` are the table's column names to select (all of them when None).
    """
    c = _columns(dialect)
    selected = ", ".join(quote(name, dialect) for name in columns) if columns else "*"
    partition = copy_partition(
        cluster_id=c["clusterID"], report_id=c["reportID"], timestamp=c["timestamp"], part=c["part"]
    )
    # BigQuery wants a WHERE, GROUP BY or HAVING beside QUALIFY.
    return (
        f"SELECT {selected} FROM {table} WHERE TRUE "  # noqa: S608  # names from the caller's schema, not input
        f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {c['receivedAt']} {COPY_ORDER}) = 1"
    )


def latest_reports_sql(*, dialect: Dialect, table: str, columns: Sequence[str] | None = None) -> str:
    """Every row (each part) of each cluster's latest report, ordered by cluster and part.

    ``table`` is quoted already and has the writer's columns (``reportID``, ``receivedAt``, ``part``);
    ``columns`` names the columns to answer with (all of them when None).
    """
    c = _columns(dialect)
    names = [quote(name, dialect) for name in columns] if columns else ["*"]
    key = report_key(report_id=c["reportID"], cluster_id=c["clusterID"], timestamp=c["timestamp"])
    sent = sent_seconds(c["timestamp"], dialect)
    order = latest_order(sent=sent, received_at=c["receivedAt"], key="spartakus_key")
    keep = eligible(sent=sent, received_at=c["receivedAt"], dialect=dialect)
    helpers = "EXCEPT" if dialect == "bigquery" else "EXCLUDE"
    every, carry, answer = (
        ", ".join(names),
        ", ".join([*names, "spartakus_key"]),
        ", ".join(f"ranked.{n}" for n in names),
    )
    if not columns:
        carry, answer = "*", f"ranked.* {helpers} (spartakus_key, spartakus_copy, spartakus_rank)"
    # Named columns are carried through each step: a `*` may lose RECORD columns on some engines (the emulator).
    return f"""WITH keyed AS (
    SELECT {every}, {key} AS spartakus_key FROM {table}
), copies AS (
    SELECT {carry}, row_number() OVER (
        PARTITION BY {c["clusterID"]}, spartakus_key, {c["part"]} ORDER BY {c["receivedAt"]} {COPY_ORDER}
    ) AS spartakus_copy
    FROM keyed
), ranked AS (
    SELECT {carry}, row_number() OVER (PARTITION BY {c["clusterID"]} ORDER BY {order}) AS spartakus_rank
    FROM copies WHERE spartakus_copy = 1 AND {keep}
), latest AS (
    SELECT {c["clusterID"]} AS cluster_id, spartakus_key AS report_key FROM ranked WHERE spartakus_rank = 1
)
SELECT {answer} FROM ranked
JOIN latest ON ranked.{c["clusterID"]} = latest.cluster_id AND ranked.spartakus_key = latest.report_key
ORDER BY ranked.{c["clusterID"]}, ranked.{c["part"]} NULLS FIRST"""  # noqa: S608  # built from constants
