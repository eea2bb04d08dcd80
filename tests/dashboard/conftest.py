"""A synthetic fleet, stored once per run in a DuckDB file that the dashboard tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fleet import Fleet, make_fleet
from tests.support.fleet_stores import load_duckdb
from tests.support.run_files import built_once


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    """A few hundred clusters, with repeats, copies, reports before the window and one split report."""
    return make_fleet()


@pytest.fixture(scope="session")
def fleet_db(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet in a DuckDB file, as the writer stores it (read-only for the tests; one for all workers)."""
    folder = built_once(tmp_path_factory, "fleet", lambda into: load_duckdb(str(into / "spartakus.duckdb"), fleet.rows))
    return folder / "spartakus.duckdb"
