"""Start bqemulator offline: its spatial extension would be downloaded at start, which fails here."""

from __future__ import annotations

import sys

from bqemulator.cli import main
from bqemulator.storage.engine import DuckDBEngine


def _no_spatial(_engine: DuckDBEngine) -> None:
    """Nothing in Spartakus uses GEOGRAPHY."""


if __name__ == "__main__":
    DuckDBEngine._load_spatial = _no_spatial  # type: ignore[method-assign,assignment]
    rest_port, grpc_port = sys.argv[1], sys.argv[2]
    sys.argv = [
        "bqemulator",
        "start",
        "--rest-host",
        "127.0.0.1",
        "--rest-port",
        rest_port,
        "--grpc-host",
        "127.0.0.1",
        "--grpc-port",
        grpc_port,
        "--project",
        "spartakus-test",
    ]
    sys.exit(main())
