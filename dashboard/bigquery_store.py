"""Reading a BigQuery table: the only module of the dashboard that imports ``google``.

Queries only: the dashboard never creates or alters a dataset, table or view.
The client comes from ``runtime.bigquery_client``, as the writer's does.
"""

from __future__ import annotations

from typing import Final

import requests.exceptions
from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry
from google.auth.exceptions import GoogleAuthError
from google.cloud import bigquery

from dashboard.query import Dialect
from dashboard.store import Row, SqlFor, StoreConfigError, StoreError
from runtime.bigquery_client import bigquery_client

TIMEOUT: Final = 60.0
MAX_BYTES_BILLED: Final = 100_000_000_000
"""What a job may bill when the caller names no bound (``--max-bytes-billed`` sets it)."""
RETRY: Final = Retry(deadline=TIMEOUT)
"""The client retries transient errors itself, within the time a page may wait."""
_ERRORS: Final = (google_errors.GoogleAPIError, requests.exceptions.RequestException, GoogleAuthError, OSError)


class BigQueryStore:
    """One BigQuery table of reports, read with standard SQL queries."""

    dialect: Dialect = "bigquery"

    def __init__(
        self,
        table: str,
        *,
        emulator_host: str | None = None,
        client: bigquery.Client | None = None,
        max_bytes_billed: int | None = None,
    ) -> None:
        """``table`` is ``project.dataset.table``; ``emulator_host`` is ``BIGQUERY_EMULATOR_HOST`` if set;
        ``max_bytes_billed`` is each query job's ``maximumBytesBilled`` (BigQuery refuses a job that would bill more).
        """
        self.table = table
        self.description = f"bigquery://{table}"
        self.bytes_billed = 0
        self._client = client or bigquery_client(table.split(".", maxsplit=1)[0], emulator_host, error=StoreConfigError)
        self._max_bytes_billed = max_bytes_billed or MAX_BYTES_BILLED

    def query(self, sql_for: SqlFor) -> list[Row]:
        """The rows of ``sql_for(table, columns)``.

        Raises:
            StoreError: the table is missing or BigQuery cannot be reached or refused the query.
        """
        try:
            columns = {field.name for field in self._client.get_table(self.table, retry=RETRY, timeout=TIMEOUT).schema}
            # The result cache answers a repeated query for free while the table is unchanged.
            config = bigquery.QueryJobConfig(maximum_bytes_billed=self._max_bytes_billed, use_query_cache=True)
            job = self._client.query(
                sql_for(self.table, columns), job_config=config, retry=RETRY, timeout=TIMEOUT, job_retry=None
            )
            rows = [tuple(row.values()) for row in job.result(retry=RETRY, timeout=TIMEOUT)]
        except _ERRORS as e:
            raise StoreError(f"cannot read {self.table} from BigQuery: {e}") from e
        self.bytes_billed += job.total_bytes_billed or 0
        return rows
