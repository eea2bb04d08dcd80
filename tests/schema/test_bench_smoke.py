"""The schema benchmark keeps running and keeps printing its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "schema_bench.py"


def test_schema_bench_quick_run_prints_both_sizes_and_the_ratio() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, check=False, timeout=120
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["10", "5000"]
    assert "validation costs at most" in lines[-1]
