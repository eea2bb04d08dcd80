"""The BigQuery sink through the official client: the writer's only importer of ``google.cloud.bigquery``.

The client itself is made by ``runtime.bigquery_client``, as the dashboard's.

Rows go in with ``insert_rows_json``, in requests that stay under BigQuery's
10,485,760-byte limit as the client encodes them, ``row_ids`` set to the
report id (``<id>/<part>`` for the parts of a split report), so
BigQuery's best-effort dedup applies across redeliveries; the view
``<table>_dedup`` removes what it misses. ``skip_invalid_rows`` is on, so one
bad row does not hold back the others; rows BigQuery still marks ``stopped``
are re-sent. The client's own retries are off: ``writer.retry`` is the one
retry policy.

On first use (and whenever a write finds it gone) the sink creates the
dataset, the table from ``schema/reports.bigquery.json`` (day-partitioned on
``receivedAt``, clustered by ``clusterID``) and the dedup view, and adds the
newer NULLABLE columns to a table an older Spartakus created.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, TypeVar

import requests.exceptions
from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry
from google.auth.exceptions import GoogleAuthError, TransportError
from google.cloud import bigquery

from runtime.bigquery_client import bigquery_client
from schema import figures
from schema.bigquery import load_table_schema
from writer.errors import PermanentSinkError, SinkConfigError, TransientSinkError
from writer.retention import apply_retention, expiration_ms
from writer.rows import REQUEST_ENVELOPE_BYTES, REQUEST_LIMIT_BYTES, Row
from writer.sink import WriteResult

T = TypeVar("T")

PARTITION_FIELD: Final = "receivedAt"
_DDL_TYPES: Final = {"BOOLEAN": "BOOL"}
"""Table-schema type names that GoogleSQL DDL spells otherwise (it has INTEGER as an alias, BOOLEAN not)."""
CLUSTER_FIELDS: Final = ("clusterID",)
DEDUP_SUFFIX: Final = "_dedup"
REQUEST_TIMEOUT: Final = 30.0
STOPPED: Final = "stopped"
_MAX_RESENDS: Final = 3
PAYLOAD_TOO_LARGE: Final = "Request payload size exceeds the limit"
REQUEST_BUDGET_BYTES: Final = REQUEST_LIMIT_BYTES - 256 * 1024
"""Bytes one insertAll request may take, envelope included: under the limit by a margin the client might add."""

NO_RETRY: Final = Retry(predicate=lambda _error: False)
"""The client's own retries are off; ``writer.retry`` is the one retry policy."""
TRANSIENT_HTTP_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_REASONS: Final = frozenset({"backendError", "rateLimitExceeded", "internalError", "timeout"})
"""BigQuery error reasons worth retrying, in an error response or in insertAll's per-row errors."""


def is_transient_status(status: int | None) -> bool:
    """Whether an HTTP status from BigQuery is worth retrying."""
    return status in TRANSIENT_HTTP_STATUSES


def is_transient_reason(reason: str | None) -> bool:
    """Whether a BigQuery error reason is worth retrying."""
    return reason in TRANSIENT_REASONS


def _reason(error: google_errors.GoogleAPICallError) -> str | None:
    for item in getattr(error, "errors", None) or []:
        if isinstance(item, Mapping) and item.get("reason"):
            return str(item["reason"])
    return None


def _api_error(error: google_errors.GoogleAPICallError) -> Exception:
    status = error.code if isinstance(error.code, int) else None
    if is_transient_status(status) or is_transient_reason(_reason(error)):
        return TransientSinkError(f"BigQuery: {error}")
    # Just over the limit BigQuery answers 400 with this message; far over it, Google's front end answers 413.
    if status == 413 or (status == 400 and PAYLOAD_TOO_LARGE in str(error)):
        return RequestTooLargeError(f"BigQuery refused the request as too large: {error}")
    if isinstance(error, google_errors.NotFound):
        return TableMissingError(f"BigQuery: {error}")
    if status == 400:
        return PermanentSinkError(f"BigQuery rejected the request: {error}")
    # Access denied and the like are an operator's to fix; the rows are fine, so they go back to the
    # queue (or, after the delivery limit, to the dead-letter queue for a replay).
    return TransientSinkError(f"BigQuery: {error}")


def translate(error: Exception) -> Exception:
    """The writer's error for a client exception: transient, missing, too large, or permanent."""
    if isinstance(error, google_errors.GoogleAPICallError):
        return _api_error(error)
    if isinstance(error, requests.exceptions.RequestException | TransportError | OSError | TimeoutError):
        return TransientSinkError(f"BigQuery unreachable: {error}")
    # A token refresh that failed: credentials are the operator's to fix, and the rows wait in the queue.
    return TransientSinkError(f"BigQuery credentials: {error}") if isinstance(error, GoogleAuthError) else error


class TableMissingError(TransientSinkError):
    """The dataset or table does not exist (a write creates it and tries again)."""


class RequestTooLargeError(PermanentSinkError):
    """BigQuery refused a request as too large (400 with its size message, or 413 from Google's front end).

    The request is split and its halves sent again; a single row refused so is rejected.
    """


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (google_errors.GoogleAPICallError, requests.exceptions.RequestException, GoogleAuthError, OSError) as e:
        raise translate(e) from e


@dataclass(slots=True)
class InsertErrors:
    """Per-row outcome of one insertAll request, by index into that request."""

    invalid: dict[int, str] = field(default_factory=dict)
    stopped: list[int] = field(default_factory=list)
    transient: dict[int, str] = field(default_factory=dict)


def classify_insert_errors(errors: Iterable[Mapping[str, Any]]) -> InsertErrors:
    """Sort insertAll's ``insertErrors`` into invalid rows, ``stopped`` rows (valid) and transient failures."""
    result = InsertErrors()
    for entry in errors:
        index = int(entry["index"])
        details = [e for e in entry.get("errors", []) if isinstance(e, Mapping)]
        reasons = {str(e.get("reason", "")) for e in details}
        message = "; ".join(str(e.get("message") or e.get("reason") or "rejected") for e in details) or "rejected"
        if reasons and reasons <= {STOPPED}:
            result.stopped.append(index)
        elif any(is_transient_reason(r) for r in reasons):
            result.transient[index] = message
        else:
            result.invalid[index] = f"BigQuery rejected the row: {message}"
    return result


class BigQuerySink:
    """Streams rows into ``project.dataset.table`` with ``insert_rows_json``."""

    name = "bigquery"

    def __init__(
        self,
        table: str,
        *,
        emulator_host: str | None = None,
        client: bigquery.Client | None = None,
        request_budget: int = REQUEST_BUDGET_BYTES,
        retention: timedelta | None = None,
    ) -> None:
        """``table`` is ``project.dataset.table``; ``emulator_host`` is ``BIGQUERY_EMULATOR_HOST`` if set.

        ``request_budget`` bounds the bytes of each insertAll request; ``retention`` is the partition
        expiration (``writer.retention``).
        """
        self._retention = retention
        self._request_budget = request_budget
        project, dataset, _table = table.split(".")
        self.table_id = table
        self.dataset_id = f"{project}.{dataset}"
        self.view_id = f"{table}{DEDUP_SUFFIX}"
        self._client = client or bigquery_client(project, emulator_host, error=SinkConfigError)
        self._schema = [bigquery.SchemaField.from_api_repr(f) for f in load_table_schema()]
        self._ready = False

    def ensure_table(self) -> None:
        """Create the dataset, table and dedup view if missing; add newer NULLABLE columns."""
        client = self._client
        _call(lambda: client.create_dataset(self.dataset_id, exists_ok=True, retry=NO_RETRY, timeout=REQUEST_TIMEOUT))
        table = bigquery.Table(self.table_id, schema=self._schema)
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=PARTITION_FIELD, expiration_ms=expiration_ms(self._retention)
        )
        table.clustering_fields = list(CLUSTER_FIELDS)
        existing = _call(lambda: client.create_table(table, exists_ok=True, retry=NO_RETRY, timeout=REQUEST_TIMEOUT))
        self._add_missing_columns(existing)
        if apply_retention(existing, self._retention, table_id=self.table_id):
            _call(lambda: client.update_table(existing, ["time_partitioning"], retry=NO_RETRY, timeout=REQUEST_TIMEOUT))
        self._ensure_view()
        self._ready = True

    def _ensure_view(self) -> None:
        # The view names its columns (the emulator drops RECORD columns from a view's SELECT *),
        # so it is brought up to date whenever the schema grows.
        client = self._client
        query = dedup_view_sql(self.table_id, [f.name for f in self._schema])
        view = bigquery.Table(self.view_id)
        view.view_query = query
        existing = _call(lambda: client.create_table(view, exists_ok=True, retry=NO_RETRY, timeout=REQUEST_TIMEOUT))
        if existing.view_query != query:
            existing.view_query = query
            _call(lambda: client.update_table(existing, ["view_query"], retry=NO_RETRY, timeout=REQUEST_TIMEOUT))

    def _add_missing_columns(self, table: bigquery.Table) -> None:
        present = {f.name for f in table.schema}
        missing = [f for f in self._schema if f.name not in present]
        if not missing:
            return
        if any(f.mode != "NULLABLE" or f.field_type == "RECORD" for f in missing):
            raise SinkConfigError(
                f"table {self.table_id} lacks columns {[f.name for f in missing]} that cannot be added in place"
            )
        for column in missing:
            # DDL with IF NOT EXISTS is idempotent when several writers start at once.
            kind = _DDL_TYPES.get(column.field_type, column.field_type)
            self._run_ddl(f"ALTER TABLE `{self.table_id}` ADD COLUMN IF NOT EXISTS `{column.name}` {kind}")
        refreshed = _call(lambda: self._client.get_table(self.table_id, retry=NO_RETRY, timeout=REQUEST_TIMEOUT))
        still_missing = [f for f in missing if f.name not in {c.name for c in refreshed.schema}]
        if still_missing:
            # BigQuery shows DDL changes in the table resource; the emulator keeps the two apart, so patch it too.
            refreshed.schema = [*refreshed.schema, *still_missing]
            _call(lambda: self._client.update_table(refreshed, ["schema"], retry=NO_RETRY, timeout=REQUEST_TIMEOUT))

    def _run_ddl(self, statement: str) -> None:
        def run() -> None:
            self._client.query_and_wait(statement, job_retry=NO_RETRY, retry=NO_RETRY, wait_timeout=60)

        _call(run)

    def _insert(self, rows: Sequence[dict[str, Any]], ids: Sequence[str]) -> list[dict[str, Any]]:
        def insert() -> Sequence[dict[str, Any]]:
            return self._client.insert_rows_json(
                self.table_id, rows, row_ids=ids, skip_invalid_rows=True, retry=NO_RETRY, timeout=REQUEST_TIMEOUT
            )

        try:
            return list(_call(insert))
        except TableMissingError:
            self.ensure_table()
            return list(_call(insert))

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Insert ``rows`` in requests under BigQuery's size limit; report rows it refused as rejected.

        Rows BigQuery marked ``stopped`` are re-sent; a request refused as too large is split.
        """
        if not self._ready:
            self.ensure_table()
        rejected: dict[int, str] = {}
        for request in pack_requests(rows, self._request_budget):
            for index, reason in self._send(rows, request).items():
                rejected.setdefault(index, reason)
        return WriteResult(rejected=rejected)

    def _send(self, rows: Sequence[Row], items: list[tuple[int, int]]) -> dict[int, str]:
        """Send ``(row, part)`` items as one request; returns rejected row index -> reason."""
        documents = [json.loads(rows[r].payloads[p]) for r, p in items]
        ids = [rows[r].insert_ids[p] for r, p in items]
        pending = list(range(len(items)))
        rejected: dict[int, str] = {}
        try:
            for _ in range(_MAX_RESENDS):
                sent = self._insert([documents[i] for i in pending], [ids[i] for i in pending])
                outcome = classify_insert_errors(sent)
                if outcome.transient:
                    raise TransientSinkError(f"BigQuery failed some rows: {next(iter(outcome.transient.values()))}")
                for i, reason in outcome.invalid.items():
                    rejected.setdefault(items[pending[i]][0], reason)
                if not outcome.stopped:
                    return rejected
                pending = [pending[i] for i in outcome.stopped]
        except RequestTooLargeError as e:
            if len(items) == 1:
                return {items[0][0]: str(e)}
            del documents
            middle = len(items) // 2
            return {**self._send(rows, items[middle:]), **self._send(rows, items[:middle])}
        raise TransientSinkError(f"BigQuery kept stopping {len(pending)} valid rows")

    def close(self) -> None:
        """Close the client's HTTP session."""
        self._client.close()  # type: ignore[no-untyped-call]


def pack_requests(rows: Sequence[Row], budget: int) -> list[list[tuple[int, int]]]:
    """``(row, part)`` items grouped into requests of at most ``budget`` bytes, in order (a lone item may exceed it)."""
    requests: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    size = REQUEST_ENVELOPE_BYTES
    for index, row in enumerate(rows):
        for part, part_size in enumerate(row.sizes):
            if current and size + part_size > budget:
                requests.append(current)
                current, size = [], REQUEST_ENVELOPE_BYTES
            current.append((index, part))
            size += part_size
    if current:
        requests.append(current)
    return requests


def dedup_view_sql(table_id: str, columns: Sequence[str]) -> str:
    """The view that keeps one row per cluster, report id and part, the first received (``schema.figures``)."""
    # Table and column names come from --database (checked to be project.dataset.table) and the committed schema.
    return figures.dedup_view_sql(dialect="bigquery", table=f"`{table_id}`", columns=columns)


STREAMING_BUFFER: Final = "streaming buffer"


def forget_cluster(table: str, cluster_id: str, *, emulator_host: str | None = None) -> int:
    """Delete every report of ``cluster_id`` from ``project.dataset.table``; returns the rows deleted.

    BigQuery cannot delete rows streamed in the last minutes (up to about 90) yet: that error says to run
    again later.

    Raises:
        SinkConfigError: the table cannot be read or changed, with the reason.
    """
    project = table.partition(".")[0]
    client = bigquery_client(project, emulator_host, error=SinkConfigError)
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("cluster_id", "STRING", cluster_id)]
    )
    statement = f"DELETE FROM `{table}` WHERE clusterID = @cluster_id"  # noqa: S608  # the table name was checked
    try:
        job = client.query(statement, job_config=config, retry=NO_RETRY, timeout=REQUEST_TIMEOUT)
        job.result(retry=NO_RETRY, timeout=300)
    except (google_errors.GoogleAPIError, GoogleAuthError, requests.exceptions.RequestException) as e:
        later = STREAMING_BUFFER in str(e).lower()
        hint = " (rows streamed in the last 90 minutes cannot be deleted yet: run again later)" if later else ""
        raise SinkConfigError(f"BigQuery refused the deletion in {table}: {e}{hint}") from e
    return int(job.num_dml_affected_rows or 0)
