"""The volunteer benchmark keeps working: its quick mode runs end to end and prints its figures and baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "volunteer_bench.py"

pytestmark = pytest.mark.integration


def test_quick_benchmark_prints_the_volunteer_beside_its_baseline() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, check=False, timeout=120
    )

    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[1:3]
    assert header.split()[:4] == ["nodes", "served", "MB", "baseline"]
    nodes, _served, baseline, volunteer, ratio, rss, _report = row.split()
    assert int(nodes) == 300
    assert float(baseline) > 0
    assert float(volunteer) > 0
    assert float(ratio) > 0
    assert float(rss) > 0
