"""--database URLs name the same store for the writer and the dashboard."""

import pytest

from runtime.stores import bigquery_table, duckdb_path


@pytest.mark.parametrize(
    ("database", "path"),
    [
        ("duckdb:///reports.duckdb", "reports.duckdb"),
        ("duckdb:////var/lib/spartakus/reports.duckdb", "/var/lib/spartakus/reports.duckdb"),
        ("bigquery://p.d.t", ""),
    ],
)
def test_duckdb_urls_name_relative_and_absolute_files(database: str, path: str) -> None:
    assert duckdb_path(database) == path


@pytest.mark.parametrize(
    ("netloc", "path", "table"),
    [
        ("project.dataset.table", "", "project.dataset.table"),
        ("project.dataset.table", "/", "project.dataset.table"),
        ("project.dataset", "", ""),
        ("project..table", "", ""),
        ("p.d.t.x", "", ""),
    ],
)
def test_bigquery_urls_need_three_non_empty_names(netloc: str, path: str, table: str) -> None:
    assert bigquery_table(netloc, path) == table
