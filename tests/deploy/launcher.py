"""Start ``deploy/bqemulator/launcher.py``, the compose emulator's entry point, as a local process on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.services import free_port

LAUNCHER = Path(__file__).resolve().parents[2] / "deploy" / "bqemulator" / "launcher.py"
PROJECT = "spartakus-local"


def launch(home: Path, rest_port: int, grpc_port: int | None = None, **env: str) -> subprocess.Popen[bytes]:
    """Start the launcher with ``home`` as ``$HOME``, its output in ``home/bqemulator.log``; gRPC on ``grpc_port``.

    A file, not a pipe: the emulator logs every request, and a pipe nobody reads would fill up and stall it.
    """
    args = ["--rest-host", "127.0.0.1", "--rest-port", str(rest_port), "--grpc-port", str(grpc_port or free_port())]
    with (home / "bqemulator.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, str(LAUNCHER), *args, "--project", PROJECT],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(home), "PYTHONWARNINGS": "ignore", **env},
        )


def output(home: Path) -> str:
    """What the launched emulator printed so far."""
    return (home / "bqemulator.log").read_text(errors="replace")


def ready(port: int) -> bool:
    """Whether the emulator on ``port`` answers 200 on ``/readyz``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return int(response.status) == 200
    except OSError:
        return False
