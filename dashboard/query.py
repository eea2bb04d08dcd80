"""The one adoption query, written once in DuckDB's dialect and transpiled to BigQuery's by sqlglot.

The data rules, identical for both stores:

- duplicates go as in the dedup view: one row per (report id, part), the first
  received; a report without a ``reportID`` is known by ``clusterID/timestamp``;
- a cluster counts when it has a report received since ``:start``; its latest
  such report (by receive time, then timestamp) represents it, with every row
  (part) of that report, so a split report counts once with all of its nodes;
  a row whose ``part`` is NULL is an ordinary report;
- a row from a table without ``receivedAt`` (the original Spartakus table)
  counts as received at its ``timestamp``;
- ``version`` is the minor version (``v1.31.1-gke.1`` → ``1.31``), else ``unknown``.

The query answers with rows ``(dim, key, week, clusters, nodes)``; ``dashboard.adoption``
turns them into the JSON document. Optional columns an older table lacks
(``reportID``, ``receivedAt``, ``part``) are read as NULL.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Final, Literal

import sqlglot
from sqlglot import exp

Dialect = Literal["duckdb", "bigquery"]

MINOR_PATTERN: Final = "'^v?([0-9]+[.][0-9]+)'"
OPTIONAL_COLUMNS: Final = {"reportID": "VARCHAR", "receivedAt": "TIMESTAMPTZ", "part": "BIGINT"}


def _minor(column: str) -> str:
    return f"coalesce(nullif(regexp_extract({column}, {MINOR_PATTERN}, 1), ''), 'unknown')"


def _known(column: str) -> str:
    return f"coalesce(nullif({column}, ''), 'unknown')"


_LATEST_FIRST: Final = "ORDER BY received_at DESC, sent DESC, report_key DESC"
_WEEK: Final = "CAST(floor(date_diff('day', DATE '1970-01-05', CAST(received_at AS DATE)) / 7) AS BIGINT)"
"""Weeks since Monday 1970-01-05: an ISO week (Monday to Sunday, UTC) as a number."""
_SIZE: Final = """CASE
    WHEN node_count = 0 THEN '0' WHEN node_count = 1 THEN '1' WHEN node_count <= 5 THEN '2-5'
    WHEN node_count <= 20 THEN '6-20' WHEN node_count <= 100 THEN '21-100' WHEN node_count <= 1000 THEN '101-1000'
    WHEN node_count <= 5000 THEN '1001-5000' ELSE '>5000' END"""


_REPORT_KEY: Final = """coalesce(:report_id, "clusterID" || '/' || "timestamp")"""
"""What tells reports apart: the report id, or for a report without one, its cluster and timestamp."""
_RECEIVED_AT: Final = """coalesce(:received_at, to_timestamp(TRY_CAST("timestamp" AS BIGINT)))"""
"""When a row arrived; a row of the original table, which has no ``receivedAt``, by its ``timestamp``."""
_PART_KEY: Final = "coalesce(:part, -1)"
"""The part of a split report; -1 for an ordinary report (NULL ``part``), so that joins can match it."""
_NODE_KEYS: Final = f"""[
    {{'dim': 'provider', 'key': {_known("n.provider")}}},
    {{'dim': 'os_image', 'key': {_known("n.os_image")}}},
    {{'dim': 'architecture', 'key': {_known("n.architecture")}}},
    {{'dim': 'container_runtime', 'key': {_known("n.runtime")}}},
    {{'dim': 'kubelet_version', 'key': {_minor("n.kubelet")}}}
]"""

# Built from this module's constants only. What keeps it fast at scale: windows and sorts see only narrow rows
# (copies are folded by grouping and counted); the nodes, the bulk of the data, are unnested once, straight from the
# table (so DuckDB reads only the node fields used, and no CTE holding them is materialised), only for the chosen
# reports (every copy of a chosen report arrived inside the window, so the scan can skip older rows), and grouped at
# once by their facts, as the nodes of a cluster are mostly alike. Every copy of a report
# (or of one part of a split report) carries the same nodes, so a group's count divided by the number of copies is
# its number of nodes. Every subquery filters on row_number() instead of QUALIFY, which BigQuery accepts only beside
# a WHERE, GROUP BY or HAVING.
ADOPTION_SQL: Final = f"""
WITH src AS (
    SELECT "clusterID" AS cluster_id, {_REPORT_KEY} AS report_key,
           {_RECEIVED_AT} AS received_at,
           "timestamp" AS sent, {_PART_KEY} AS part_key, "masterVersion" AS master_version
    FROM reports
), stored AS (
    SELECT cluster_id, report_key, part_key, min(received_at) AS received_at, max(sent) AS sent,
           max(master_version) AS master_version, count(*) AS copies
    FROM src GROUP BY cluster_id, report_key, part_key
), recent AS (
    SELECT cluster_id, report_key, received_at, sent, {_minor("master_version")} AS version
    FROM stored WHERE received_at >= :start
), chosen AS (
    SELECT cluster_id, report_key, version FROM (
        SELECT cluster_id, report_key, version,
               row_number() OVER (PARTITION BY cluster_id {_LATEST_FIRST}) AS rank
        FROM recent
    ) AS ranked WHERE rank = 1
), node_rows AS (
    SELECT s.cluster_id, s.report_key, s.part_key, n.cloudProvider AS provider, n.osImage AS os_image,
           n.architecture AS architecture, string_split(n.containerRuntimeVersion, '://')[1] AS runtime,
           n.kubeletVersion AS kubelet, count(*) AS copied_nodes
    FROM (
        SELECT "clusterID" AS cluster_id, {_REPORT_KEY} AS report_key, {_PART_KEY} AS part_key, nodes FROM reports
        WHERE {_RECEIVED_AT} >= :start
    ) AS s
    JOIN chosen AS c ON s.cluster_id = c.cluster_id AND s.report_key = c.report_key
    CROSS JOIN UNNEST(s.nodes) AS t(n)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), node_groups AS (
    SELECT n.*, CAST(n.copied_nodes / s.copies AS BIGINT) AS nodes FROM node_rows AS n JOIN stored AS s
    ON n.cluster_id = s.cluster_id AND n.report_key = s.report_key AND n.part_key = s.part_key
), node_keys AS (
    SELECT n.cluster_id, k.dim, k.key, sum(n.nodes) AS nodes
    FROM node_groups AS n CROSS JOIN UNNEST({_NODE_KEYS}) AS u(k)
    GROUP BY n.cluster_id, k.dim, k.key
), clusters AS (
    SELECT c.cluster_id, c.version, coalesce(p.nodes, 0) AS node_count FROM chosen AS c LEFT JOIN (
        SELECT cluster_id, sum(nodes) AS nodes FROM node_groups GROUP BY cluster_id
    ) AS p ON c.cluster_id = p.cluster_id
), dated AS (
    SELECT cluster_id, report_key, received_at, sent, version, {_WEEK} AS week FROM recent
), weekly AS (
    SELECT week, version FROM (
        SELECT week, version, row_number() OVER (PARTITION BY cluster_id, week {_LATEST_FIRST}) AS rank FROM dated
    ) AS ranked WHERE rank = 1
)
SELECT 'total' AS dim, '' AS key, CAST(NULL AS BIGINT) AS week, count(*) AS clusters, sum(node_count) AS nodes
FROM clusters
UNION ALL SELECT 'version', version, CAST(NULL AS BIGINT), count(*), sum(node_count) FROM clusters GROUP BY 2
UNION ALL SELECT 'size', {_SIZE}, CAST(NULL AS BIGINT), count(*), sum(node_count) FROM clusters GROUP BY 2
UNION ALL SELECT dim, key, CAST(NULL AS BIGINT), count(*), sum(nodes) FROM node_keys GROUP BY dim, key
UNION ALL SELECT 'weekly', version, week, count(*), CAST(NULL AS BIGINT) FROM weekly GROUP BY 2, 3
"""  # noqa: S608


_PARSED: Final = sqlglot.parse_one(ADOPTION_SQL, read="duckdb")


def adoption_sql(*, dialect: Dialect, table: str, columns: Collection[str], start: datetime) -> str:
    """The adoption query for ``dialect``, reading ``table``, counting reports received since ``start``.

    ``table`` is ``reports`` for DuckDB or ``project.dataset.table`` for BigQuery; ``columns`` are the
    table's column names, so that optional ones it lacks read as NULL; ``start`` must be timezone-aware.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    optional = {
        "report_id": "reportID",
        "received_at": "receivedAt",
        "part": "part",
    }
    values: dict[str, exp.Expression] = {
        name: exp.column(column, quoted=True)
        if column in columns
        else exp.cast(exp.null(), exp.DataType.build(OPTIONAL_COLUMNS[column], dialect="duckdb"))
        for name, column in optional.items()
    }
    values["start"] = exp.cast(exp.Literal.string(start.isoformat()), exp.DataType.build("TIMESTAMPTZ"))
    query = exp.replace_placeholders(_PARSED.copy(), **values)
    parts = table.split(".")
    target = exp.table_(
        parts[-1], db=parts[-2] if len(parts) > 1 else None, catalog=parts[-3] if len(parts) > 2 else None, quoted=True
    )
    for node in query.find_all(exp.Table):
        if node.name == "reports" and not node.args.get("db"):
            node.replace(target.copy())
    return query.sql(dialect=dialect)
