"""What a ``--database`` URL names, read the same way by the writer and the dashboard."""


def duckdb_path(database: str) -> str:
    """The file a ``duckdb:`` URL names, as SQLAlchemy reads such URLs ("" when it names none).

    ``duckdb:///reports.duckdb`` is relative to the working directory and
    ``duckdb:////var/lib/spartakus/reports.duckdb`` is absolute.
    """
    for prefix in ("duckdb:///", "duckdb://"):
        if database.startswith(prefix):
            return database.removeprefix(prefix)
    return ""


def bigquery_table(netloc: str, path: str) -> str:
    """``project.dataset.table`` from a ``bigquery:`` URL's parts, or "" when it is not three non-empty names."""
    table = netloc + path.rstrip("/")
    if table.count(".") != 2 or any(not piece for piece in table.split(".")):
        return ""
    return table
