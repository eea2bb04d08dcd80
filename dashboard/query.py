"""The one adoption query, written once in DuckDB's dialect and transpiled to BigQuery's by sqlglot.

The data rules, identical for both stores (what a report's copies and a
cluster's latest report are comes from ``schema.figures``, shared with
``spartakus reports`` and the writers' dedup views):

- only rows received since ``start`` are read, and the receive time is compared
  directly (``"receivedAt" >= <constant>``), so that BigQuery prunes the
  partitions outside the window and DuckDB skips their row groups; a table
  without ``receivedAt`` (the original Spartakus table) is read whole and dated
  by ``timestamp``;
- copies of one report (one row per cluster, report id and part) count once,
  the first received in the window; a cluster counts with its latest report in the window, with every row
  (part) of it, so a split report counts once with all of its nodes;
- ``version`` is the minor version (``v1.31.1-gke.1`` → ``1.31``), else ``unknown``; every label is cut to
  ``LABEL_MAX`` characters;
- in every list, a key held by fewer than ``min_clusters`` clusters, or past the ``top`` keys, is counted under
  ``other`` (each cluster once).

The query answers with rows ``(dim, key, period, clusters, nodes)``; ``dashboard.adoption``
turns them into the JSON document. Optional columns an older table lacks
(``reportID``, ``receivedAt``, ``part``, ``verified``) are read as NULL.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Final, Literal

import sqlglot
from sqlglot import exp

from schema import figures

Dialect = Literal["duckdb", "bigquery"]

MINOR_PATTERN: Final = "'^v?([0-9]+[.][0-9]+)'"
LABEL_MAX: Final = 64
"""Characters of a label the document shows: free text a cluster sent cannot make the answer large."""
OPTIONAL_COLUMNS: Final = {"reportID": "VARCHAR", "receivedAt": "TIMESTAMPTZ", "part": "BIGINT", "verified": "BOOLEAN"}
OTHER: Final = "other"

log = logging.getLogger("dashboard")
_warned: set[str] = set()


def warn_unpruned(store: str, columns: Collection[str]) -> None:
    """Say once per store that a table without ``receivedAt`` (the original Spartakus table) is read whole."""
    if "receivedAt" not in columns and store not in _warned:
        _warned.add(store)
        log.warning(
            "the table has no receivedAt column: every view reads all of it (a writer adds the column)",
            extra={"store": store},
        )


def _minor(column: str) -> str:
    return f"coalesce(nullif(substr(regexp_extract({column}, {MINOR_PATTERN}, 1), 1, {LABEL_MAX}), ''), 'unknown')"


def _known(column: str) -> str:
    return f"coalesce(nullif(substr({column}, 1, {LABEL_MAX}), ''), 'unknown')"


_KEY: Final = figures.report_key(report_id=":report_id", cluster_id='"clusterID"', timestamp='"timestamp"')
_SENT: Final = figures.sent_seconds('"timestamp"', "duckdb")
_LATEST_FIRST: Final = "ORDER BY " + figures.latest_order(sent="sent", received_at="received_at", key="report_key")
_WEEK: Final = "CAST(floor(date_diff('day', DATE '1970-01-05', CAST(received_at AS DATE)) / 7) AS BIGINT)"
"""Weeks since Monday 1970-01-05: an ISO week (Monday to Sunday, UTC) as a number."""
_DAY: Final = "date_diff('day', DATE '1970-01-01', CAST(first_seen AS DATE))"
_SIZE: Final = """CASE
    WHEN node_count = 0 THEN '0' WHEN node_count = 1 THEN '1' WHEN node_count <= 5 THEN '2-5'
    WHEN node_count <= 20 THEN '6-20' WHEN node_count <= 100 THEN '21-100' WHEN node_count <= 1000 THEN '101-1000'
    WHEN node_count <= 5000 THEN '1001-5000' ELSE '>5000' END"""
_PART_KEY: Final = "coalesce(:part, -1)"
"""The part of a split report; -1 for an ordinary report (NULL ``part``), so that joins can match it."""
_NODE_KEYS: Final = f"""[
    {{'dim': 'provider', 'key': {_known("n.provider")}}},
    {{'dim': 'os_image', 'key': {_known("n.os_image")}}},
    {{'dim': 'architecture', 'key': {_known("n.architecture")}}},
    {{'dim': 'container_runtime', 'key': {_known("n.runtime")}}},
    {{'dim': 'kubelet_version', 'key': {_minor("n.kubelet")}}}
]"""

# Built from this module's constants only. What keeps it fast at scale: only the window's rows are read (both scans
# of the table carry the same direct predicate); windows and sorts see only narrow rows; the nodes, the bulk of the
# data, are unnested once, straight from the table, only for the chosen copies of the chosen reports, and grouped at
# once by their facts. Copies of one message share their receive time and their nodes, so a group's count divided
# by the number of copies is its number of nodes. Every subquery filters on row_number() instead of QUALIFY, which
# BigQuery accepts only beside a WHERE, GROUP BY or HAVING.
ADOPTION_SQL: Final = f"""
WITH src AS (
    SELECT "clusterID" AS cluster_id, {_KEY} AS report_key, {_PART_KEY} AS part_key, :received_at AS received_at,
           {_SENT} AS sent, "masterVersion" AS master_version, :verified AS verified
    FROM reports WHERE :in_window
), firsts AS (
    SELECT cluster_id, report_key, part_key, min(received_at) AS received_at
    FROM src GROUP BY cluster_id, report_key, part_key
), stored AS (
    SELECT s.cluster_id, s.report_key, s.part_key, s.received_at, min(s.sent) AS sent,
           min(s.master_version) AS master_version, coalesce(bool_and(s.verified), false) AS verified,
           count(*) AS copies
    FROM src AS s JOIN firsts AS f ON s.cluster_id = f.cluster_id AND s.report_key = f.report_key
        AND s.part_key = f.part_key AND s.received_at = f.received_at
    GROUP BY s.cluster_id, s.report_key, s.part_key, s.received_at
), recent AS (
    SELECT cluster_id, report_key, part_key, received_at, sent, verified, copies, {_minor("master_version")} AS version
    FROM stored WHERE :eligible AND sent <= :horizon
), chosen AS (
    SELECT cluster_id, report_key, version, verified FROM (
        SELECT cluster_id, report_key, version, verified,
               row_number() OVER (PARTITION BY cluster_id {_LATEST_FIRST}) AS rank
        FROM recent
    ) AS ranked WHERE rank = 1
), chosen_parts AS (
    SELECT r.cluster_id, r.report_key, r.part_key, r.received_at, r.copies
    FROM recent AS r JOIN chosen AS c ON r.cluster_id = c.cluster_id AND r.report_key = c.report_key
), node_rows AS (
    SELECT s.cluster_id, s.report_key, s.part_key, p.copies, n.cloudProvider AS provider, n.osImage AS os_image,
           n.architecture AS architecture, string_split(n.containerRuntimeVersion, '://')[1] AS runtime,
           n.kubeletVersion AS kubelet, count(*) AS copied_nodes
    FROM (
        SELECT "clusterID" AS cluster_id, {_KEY} AS report_key, {_PART_KEY} AS part_key,
               :received_at AS received_at, nodes
        FROM reports WHERE :in_window
    ) AS s
    JOIN chosen_parts AS p ON s.cluster_id = p.cluster_id AND s.report_key = p.report_key
        AND s.part_key = p.part_key AND s.received_at = p.received_at
    CROSS JOIN UNNEST(s.nodes) AS t(n)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
), node_keys AS (
    SELECT n.cluster_id, k.dim, k.key, sum(CAST(n.copied_nodes / n.copies AS BIGINT)) AS nodes
    FROM node_rows AS n CROSS JOIN UNNEST({_NODE_KEYS}) AS u(k)
    GROUP BY n.cluster_id, k.dim, k.key
), clusters AS (
    SELECT c.cluster_id, c.version, c.verified, coalesce(p.nodes, 0) AS node_count FROM chosen AS c LEFT JOIN (
        SELECT cluster_id, sum(nodes) AS nodes FROM node_keys WHERE dim = 'provider' GROUP BY cluster_id
    ) AS p ON c.cluster_id = p.cluster_id
), keyed AS (
    SELECT cluster_id, dim, key, nodes FROM node_keys
    UNION ALL SELECT cluster_id, 'version', version, node_count FROM clusters
    UNION ALL SELECT cluster_id, 'size', {_SIZE}, node_count FROM clusters
), shown AS (
    SELECT dim, key FROM (
        SELECT dim, key, clusters, row_number() OVER (PARTITION BY dim ORDER BY clusters DESC, key) AS rank
        FROM (SELECT dim, key, count(*) AS clusters FROM keyed GROUP BY dim, key) AS sized
    ) AS ranked WHERE clusters >= :min_clusters AND rank <= :top
), folded AS (
    SELECT k.cluster_id, k.dim, coalesce(s.key, '{OTHER}') AS key, k.nodes
    FROM keyed AS k LEFT JOIN shown AS s ON k.dim = s.dim AND k.key = s.key
), dated AS (
    SELECT cluster_id, report_key, received_at, sent, version, {_WEEK} AS week FROM recent
), weekly AS (
    SELECT week, version FROM (
        SELECT week, version, row_number() OVER (PARTITION BY cluster_id, week {_LATEST_FIRST}) AS rank FROM dated
    ) AS ranked WHERE rank = 1
), first_seen AS (
    SELECT cluster_id, min(received_at) AS first_seen FROM recent GROUP BY cluster_id
)
SELECT 'total' AS dim, '' AS key, CAST(NULL AS BIGINT) AS period, count(*) AS clusters, sum(node_count) AS nodes
FROM clusters
UNION ALL SELECT 'verified', CASE WHEN verified THEN 'verified' ELSE 'unverified' END, CAST(NULL AS BIGINT),
    count(*), sum(node_count) FROM clusters GROUP BY 2
UNION ALL SELECT dim, key, CAST(NULL AS BIGINT), count(DISTINCT cluster_id), sum(nodes) FROM folded GROUP BY dim, key
UNION ALL SELECT 'weekly', coalesce(s.key, '{OTHER}'), w.week, count(*), CAST(NULL AS BIGINT)
    FROM weekly AS w LEFT JOIN shown AS s ON s.dim = 'version' AND s.key = w.version GROUP BY 2, 3
UNION ALL SELECT 'new', '', {_DAY}, count(*), CAST(NULL AS BIGINT) FROM first_seen GROUP BY 3
"""  # noqa: S608


_PARSED: Final = sqlglot.parse_one(ADOPTION_SQL, read="duckdb")


def _timestamp(moment: datetime) -> exp.Expr:
    return exp.cast(exp.Literal.string(moment.isoformat()), exp.DataType.build("TIMESTAMPTZ"))


def _in_window(columns: Collection[str], start: datetime, *, verified_only: bool) -> exp.Expr:
    """Rows received since ``start``: the receive time is compared bare, for partition pruning (a table without
    ``receivedAt`` by its ``timestamp``)."""
    condition: exp.Expr
    if "receivedAt" in columns:
        condition = exp.GTE(this=exp.column("receivedAt", quoted=True), expression=_timestamp(start))
    else:
        sent = sqlglot.parse_one(_SENT, read="duckdb")
        condition = exp.GTE(this=sent, expression=exp.Literal.number(int(start.timestamp())))
    if verified_only:
        verified = exp.column("verified", quoted=True) if "verified" in columns else exp.false()
        condition = exp.and_(condition, exp.Is(this=verified, expression=exp.true()))
    return condition


def _optional(columns: Collection[str]) -> dict[str, exp.Expr]:
    """The optional columns, as themselves or as a typed NULL when the table lacks them."""
    names = {"report_id": "reportID", "part": "part", "verified": "verified"}
    values: dict[str, exp.Expr] = {
        name: exp.column(column, quoted=True)
        if column in columns
        else exp.cast(exp.null(), exp.DataType.build(OPTIONAL_COLUMNS[column], dialect="duckdb"))
        for name, column in names.items()
    }
    # A row of the original table, which has no receivedAt, arrived (as far as anyone knows) when it was sent.
    values["received_at"] = (
        exp.column("receivedAt", quoted=True)
        if "receivedAt" in columns
        else sqlglot.parse_one(f"to_timestamp({_SENT})", read="duckdb")
    )
    return values


def adoption_sql(
    *,
    dialect: Dialect,
    table: str,
    columns: Collection[str],
    start: datetime,
    end: datetime | None = None,
    min_clusters: int = 1,
    top: int = 1_000_000,
    verified_only: bool = False,
) -> str:
    """The adoption query for ``dialect``, reading ``table``, counting reports received since ``start``.

    ``table`` is ``reports`` for DuckDB or ``project.dataset.table`` for BigQuery; ``columns`` are the
    table's column names, so that optional ones it lacks read as NULL; ``start`` must be timezone-aware.
    ``end`` (default: now) bounds the timestamps a report may claim, with ``schema.figures``' skew.
    A key of a list held by fewer than ``min_clusters`` clusters, or beyond the ``top`` keys, counts as ``other``;
    ``verified_only`` counts only verified reports.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    values = _optional(columns)
    values["in_window"] = _in_window(columns, start, verified_only=verified_only)
    horizon = int((end or datetime.now(UTC)).timestamp()) + figures.FUTURE_SKEW_SECONDS
    # Written in the target dialect by schema.figures itself: sqlglot has no BigQuery form of DuckDB's epoch().
    eligible = figures.eligible(sent="sent", received_at="received_at", dialect=dialect)
    values["eligible"] = sqlglot.parse_one(eligible, read=dialect)
    values["horizon"] = exp.Literal.number(horizon)
    values["min_clusters"] = exp.Literal.number(max(1, min_clusters))
    values["top"] = exp.Literal.number(max(1, top))
    # Each placeholder gets its own copy: one expression object in two places of a tree confuses later edits.
    query = _PARSED.transform(
        lambda node: values[node.name].copy() if isinstance(node, exp.Placeholder) and node.name in values else node
    )
    parts = table.split(".")
    target = exp.table_(
        parts[-1], db=parts[-2] if len(parts) > 1 else None, catalog=parts[-3] if len(parts) > 2 else None, quoted=True
    )
    for node in query.find_all(exp.Table):
        if node.name == "reports" and not node.args.get("db"):
            node.replace(target.copy())
    return query.sql(dialect=dialect)
