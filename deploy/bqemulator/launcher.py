"""Start bqemulator (``bqemulator start``), with its DuckDB spatial extension or, on request, without it.

bqemulator runs ``INSTALL spatial`` at start. The image built by ``deploy/bqemulator/Dockerfile`` downloads that
extension at build time, so the install is a no-op and the emulator starts offline with GEOGRAPHY support. Where the
extension cannot be had (an air-gapped build, a DuckDB release the extension repository does not serve yet),
``BQEMULATOR_SPATIAL=off`` skips it: Spartakus never uses GEOGRAPHY, and only ``ST_*`` queries fail then.

Usage: python launcher.py [bqemulator start options...]
"""

from __future__ import annotations

import os
import sys

from bqemulator.cli import main
from bqemulator.storage.engine import DuckDBEngine


def _skip_spatial(self: DuckDBEngine) -> None:
    """Stand-in for ``DuckDBEngine._load_spatial`` when the extension is switched off."""


if __name__ == "__main__":
    if os.environ.get("BQEMULATOR_SPATIAL", "on").strip().lower() in {"off", "0", "false", "no"}:
        DuckDBEngine._load_spatial = _skip_spatial  # type: ignore[method-assign]
        print("bqemulator: spatial extension off (BQEMULATOR_SPATIAL): GEOGRAPHY queries fail", file=sys.stderr)
    main(["start", *sys.argv[1:]])
