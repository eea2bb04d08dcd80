"""Start bqemulator (``bqemulator start``), with its DuckDB extensions or, on request, without them.

bqemulator runs ``INSTALL spatial`` (required) and ``INSTALL avro`` (best effort) at start. The image built by
``deploy/bqemulator/Dockerfile`` downloads both at build time, so the installs are no-ops and the emulator starts
offline. Where the extensions cannot be had (an air-gapped build, a DuckDB release the extension repository does not
serve yet), ``BQEMULATOR_EXTENSIONS=off`` skips both: no download is tried, so the start takes seconds instead of
waiting for the network to fail. Spartakus uses neither GEOGRAPHY nor Avro; only ``ST_*`` queries and Avro load
jobs fail then.

bqemulator 1.4.0's Storage Write API builds the target table's Arrow schema without the fields of RECORD
columns, so an append to a table with one fails; the launcher gives it the schema its REST path builds.

Usage: python launcher.py [bqemulator start options...]
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bqemulator.api.routes import tabledata
from bqemulator.cli import main
from bqemulator.grpc_api import write_servicer
from bqemulator.storage.engine import DuckDBEngine

OFF = frozenset({"off", "0", "false", "no"})


def _skip_spatial(self: DuckDBEngine) -> None:
    """Stand-in for ``DuckDBEngine._load_spatial`` when the extensions are switched off."""


def _table_arrow_schema(table_meta: Any) -> Any:
    """The target table's Arrow schema for the Storage Write API, RECORD columns with their fields."""
    return tabledata._build_arrow_schema(tabledata._fields_raw_from_schema(table_meta.schema_.fields))


if __name__ == "__main__":
    write_servicer._table_arrow_schema = _table_arrow_schema
    if os.environ.get("BQEMULATOR_EXTENSIONS", "on").strip().lower() in OFF:
        DuckDBEngine._load_spatial = _skip_spatial  # type: ignore[method-assign]
        # bqemulator's own switch for the Avro extension, read when its settings are built in main().
        os.environ["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"
        print(
            "bqemulator: DuckDB extensions off (BQEMULATOR_EXTENSIONS): GEOGRAPHY queries and Avro loads fail",
            file=sys.stderr,
        )
    main(["start", *sys.argv[1:]])
