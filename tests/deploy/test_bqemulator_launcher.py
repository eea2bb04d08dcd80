"""deploy/bqemulator/launcher.py, the compose emulator's entry point, run here as a process.

It must load DuckDB's spatial extension from ``$HOME/.duckdb/extensions`` without downloading it (that is how the
image ships it), and start without spatial and avro when ``BQEMULATOR_EXTENSIONS=off``, serving the official BigQuery
client.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.deploy.launcher import PROJECT, launch, output, ready
from tests.support.bqemulator_process import emulator_client
from tests.support.services import free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator_without_spatial(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    process = launch(tmp_path, port, BQEMULATOR_EXTENSIONS="off")
    try:
        wait_until(lambda: ready(port) or process.poll() is not None, timeout=60, what="the emulator to answer")
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_extensions_off_starts_the_emulator_for_the_official_client_without_trying_avro(
    emulator_without_spatial: tuple[int, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port, process = emulator_without_spatial
    assert process.poll() is None, output(tmp_path)
    assert "DuckDB extensions off (BQEMULATOR_EXTENSIONS)" in output(tmp_path)
    assert "avro" not in output(tmp_path), "no INSTALL avro is tried, so the start waits on no download"
    client = emulator_client(f"http://127.0.0.1:{port}", PROJECT)

    client.create_dataset(f"{PROJECT}.launcher_check")

    assert [dataset.dataset_id for dataset in client.list_datasets()] == ["launcher_check"]


def test_spatial_on_loads_the_extension_from_home_without_downloading_it(tmp_path: Path) -> None:
    # A file where the image puts the real extension: INSTALL must take it as installed (no download), and LOAD must
    # then read that very file; this one is not a real extension, so the start fails on LOAD, quickly and offline.
    connection = duckdb.connect()
    (platform,) = connection.execute("PRAGMA platform").fetchone() or ("",)
    connection.close()
    extensions = tmp_path / ".duckdb" / "extensions" / f"v{duckdb.__version__}" / platform
    extensions.mkdir(parents=True)
    (extensions / "spatial.duckdb_extension").write_bytes(b"\0" * 1024)

    process = launch(tmp_path, free_port())

    assert process.wait(timeout=60) != 0
    assert "Failed to load 'spatial'" in output(tmp_path)
    assert "Failed to download" not in output(tmp_path)
