"""Running a benchmark from its smoke test as a person runs it: from the repository's root, in its quick mode."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]


def run_bench(*argv: str, timeout: float, exit_codes: Collection[int] = (0,)) -> subprocess.CompletedProcess[str]:
    """``python <argv>`` from the repository's root (its warnings off); fails unless it exits with one of
    ``exit_codes``."""
    result = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode in exit_codes, (
        f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result
