"""Start bqemulator offline, as ``python -m tests.support.bqemulator_main REST_PORT GRPC_PORT``.

Its spatial extension would be downloaded at start, which fails here; and its Storage Write API needs a fix to
append rows with RECORD columns (``tests.support.bqemulator_patches``).
"""

from __future__ import annotations

import sys

from bqemulator.cli import main

from tests.support.bqemulator_patches import patch_emulator

if __name__ == "__main__":
    patch_emulator()
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
