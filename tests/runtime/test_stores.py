"""--database URLs name the same store for the writer, its tools and the dashboard, and are checked once."""

import pytest

from runtime.stores import (
    DUCKDB_ONLY,
    EVERY_KIND,
    READABLE,
    StoreKind,
    StoreURL,
    bigquery_table,
    duckdb_path,
    parse_database,
)
from spartakus.cli import main as spartakus_main


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


@pytest.mark.parametrize(
    ("database", "kinds", "store"),
    [
        ("stdout", EVERY_KIND, StoreURL("stdout")),
        ("duckdb:////var/lib/r.duckdb", READABLE, StoreURL("duckdb", path="/var/lib/r.duckdb")),
        ("bigquery://p.d.t", READABLE, StoreURL("bigquery", table="p.d.t")),
        ("duckdb:///r.duckdb", DUCKDB_ONLY, StoreURL("duckdb", path="r.duckdb")),
    ],
)
def test_a_database_url_parses_into_its_store(database: str, kinds: tuple[StoreKind, ...], store: StoreURL) -> None:
    assert parse_database(database, kinds) == store


@pytest.mark.parametrize(
    ("database", "kinds", "message"),
    [
        (
            "postgres://x",
            EVERY_KIND,
            "use bigquery://project.dataset.table, duckdb:///relative/file.duckdb, duckdb:////absolute/file.duckdb "
            "or stdout$",
        ),
        ("stdout", READABLE, "use bigquery://project.dataset.table, duckdb:///relative/file.duckdb or duckdb:////"),
        ("bigquery://p.d.t", DUCKDB_ONLY, "use duckdb:///relative/file.duckdb or duckdb:////absolute/file.duckdb$"),
        ("duckdb://", EVERY_KIND, "give a file"),
        ("bigquery://p.d", READABLE, "expected bigquery://project.dataset.table"),
    ],
)
def test_a_database_url_of_another_kind_is_refused_with_what_to_use(
    database: str, kinds: tuple[StoreKind, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_database(database, kinds)


COMMANDS_WITH_A_DATABASE = [
    ["writer"],
    ["reports"],
    ["forget", "--cluster-id=leaving"],
    ["dashboard"],
]


@pytest.mark.parametrize("command", COMMANDS_WITH_A_DATABASE, ids=lambda command: command[0])
@pytest.mark.parametrize("flag", [True, False], ids=["flag", "variable"])
def test_every_command_that_takes_a_database_refuses_a_bad_one_as_a_flag_error(
    command: list[str], flag: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if flag:
        command = [*command, "--database=postgres://db/reports"]
    else:
        monkeypatch.setenv("SPARTAKUS_DATABASE", "postgres://db/reports")

    code = spartakus_main(command)

    error = capsys.readouterr().err
    assert code == 2, error
    assert error.startswith(f"spartakus {command[0]}: error: --database: 'postgres://db/reports': use ")
    assert "duckdb:///relative/file.duckdb" in error
    assert len(error.strip().splitlines()) == 1
