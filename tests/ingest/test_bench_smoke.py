"""The ingest benchmark keeps running and keeps printing its figures (quick mode, real broker and wrk)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import missing_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_bench_quick_run_prints_ceiling_gateway_fixed_rate_attacks_and_targets(amqp_url: str) -> None:
    if shutil.which("wrk") is None:
        missing_service("wrk is not installed (apt-get install -y wrk)")

    result = subprocess.run(
        [sys.executable, "-m", "bench.ingest_bench", "--quick", "--amqp-url", amqp_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    kinds = [line.split()[0] for line in result.stdout.splitlines()]
    large = ["large", "million", "targets"]
    floods = ["signed", "limits"]
    assert kinds == ["ingest", "ceiling", "gateway", "fixed", "targets", *large, *floods, *["attack"] * 6, "targets"]
    assert "x ceiling" in result.stdout
    assert "LOST" not in result.stdout
