"""Start bqemulator (``bqemulator start``), with its DuckDB extensions or, on request, without them.

bqemulator runs ``INSTALL spatial`` (required) and ``INSTALL avro`` (best effort) at start. The image built by
``deploy/bqemulator/Dockerfile`` downloads both at build time, so the installs are no-ops and the emulator starts
offline. Where the extensions cannot be had (an air-gapped build, a DuckDB release the extension repository does not
serve yet), ``BQEMULATOR_EXTENSIONS=off`` skips both: no download is tried, so the start takes seconds instead of
waiting for the network to fail. Spartakus uses neither GEOGRAPHY nor Avro; only ``ST_*`` queries and Avro load
jobs fail then.

Usage: python launcher.py [bqemulator start options...]
"""

from __future__ import annotations

import os
import sys

from bqemulator.cli import main
from bqemulator.storage.engine import DuckDBEngine

OFF = frozenset({"off", "0", "false", "no"})


def _skip_spatial(self: DuckDBEngine) -> None:
    """Stand-in for ``DuckDBEngine._load_spatial`` when the extensions are switched off."""


if __name__ == "__main__":
    if os.environ.get("BQEMULATOR_EXTENSIONS", "on").strip().lower() in OFF:
        DuckDBEngine._load_spatial = _skip_spatial  # type: ignore[method-assign]
        # bqemulator's own switch for the Avro extension, read when its settings are built in main().
        os.environ["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"
        print(
            "bqemulator: DuckDB extensions off (BQEMULATOR_EXTENSIONS): GEOGRAPHY queries and Avro loads fail",
            file=sys.stderr,
        )
    main(["start", *sys.argv[1:]])
