"""The sink is chosen by --database; stdout writes one JSON object a line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from runtime.settings import ConfigError, load_settings
from runtime.stores import duckdb_path, parse_database
from tests.support.writer_load import sample_report
from writer.bigquery_sink import BigQuerySink
from writer.bigquery_write import BigQueryWriteSink
from writer.errors import SinkConfigError
from writer.rows import decode_report
from writer.settings import WriterSettings
from writer.sink_factory import open_sink
from writer.stdout_sink import StdoutSink


def test_stdout_sink_writes_one_report_a_line() -> None:
    stream = io.BytesIO()
    rows = [decode_report(json.dumps(sample_report(i)).encode()) for i in range(3)]
    result = StdoutSink(stream).write(rows)
    assert not result.rejected
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["reportID"] for line in lines] == [row.report_id for row in rows]


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("duckdb:///spartakus.duckdb", "spartakus.duckdb"),
        ("duckdb:////var/lib/spartakus/reports.duckdb", "/var/lib/spartakus/reports.duckdb"),
        ("duckdb://reports.duckdb", "reports.duckdb"),
    ],
)
def test_duckdb_urls_read_like_sqlalchemy_urls(url: str, path: str) -> None:
    assert duckdb_path(url) == path


@pytest.mark.parametrize(
    "url",
    ["postgres://localhost/db", "bigquery://project.dataset", "bigquery://project..table", "duckdb:///", "stdout:"],
)
def test_unusable_database_urls_are_flag_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="--database"):
        load_settings(WriterSettings, [f"--database={url}"])


@pytest.mark.parametrize(("url", "name"), [("stdout", "stdout"), ("duckdb:///{tmp}/reports.duckdb", "duckdb")])
def test_the_database_url_picks_the_sink(url: str, name: str, tmp_path: Path) -> None:
    settings = load_settings(WriterSettings, [f"--database={url.format(tmp=tmp_path)}"])
    sink = open_sink(parse_database(settings.database))
    try:
        assert sink.name == name
    finally:
        sink.close()


def test_a_duckdb_store_without_the_duckdb_package_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As in the container image, which leaves DuckDB out unless built with DUCKDB=on.
    monkeypatch.setitem(sys.modules, "duckdb", None)
    for module in ("writer.duckdb_sink", "writer.duckdb_connection", "runtime.duckdb_file"):
        monkeypatch.delitem(sys.modules, module, raising=False)

    with pytest.raises(SinkConfigError, match="the duckdb package is not installed"):
        open_sink(parse_database(f"duckdb:///{tmp_path}/reports.duckdb"))


def test_bigquery_urls_write_through_the_storage_write_api_unless_insert_all_is_asked_for() -> None:
    endpoint = "127.0.0.1:9"
    store = parse_database("bigquery://p.d.t")
    default = open_sink(store, emulator_host=endpoint, write_endpoint=endpoint)
    legacy = open_sink(store, bigquery_api="insertall", emulator_host=endpoint, write_endpoint=endpoint)
    try:
        assert isinstance(default, BigQueryWriteSink)
        assert default.stream == "projects/p/datasets/d/tables/t/streams/_default"
        assert isinstance(legacy, BigQuerySink)
    finally:
        default.close()
        legacy.close()
    with pytest.raises(SinkConfigError, match="storage-write or insertall"):
        open_sink(store, bigquery_api="tabledata", emulator_host=endpoint, write_endpoint=endpoint)


def test_the_bigquery_api_and_write_endpoint_are_flags_and_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(WriterSettings, []).bigquery_api == "storage-write"
    assert load_settings(WriterSettings, ["--bigquery-api=insertall"]).bigquery_api == "insertall"
    monkeypatch.setenv("SPARTAKUS_BIGQUERY_API", "insertall")
    monkeypatch.setenv("SPARTAKUS_BIGQUERY_WRITE_ENDPOINT", "bigquery:9060")
    settings = load_settings(WriterSettings, [])
    assert (settings.bigquery_api, settings.bigquery_write_endpoint) == ("insertall", "bigquery:9060")
    for bad in (["--bigquery-api=rest"], ["--bigquery-write-endpoint=http://bigquery:9060"]):
        with pytest.raises(ConfigError):
            load_settings(WriterSettings, bad)
