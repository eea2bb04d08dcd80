"""The writer benchmark still runs end to end (a small --quick run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_writer_benchmark_runs_quickly_and_reports_both_sinks(amqp_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.writer_bench", "--quick", "--amqp-url", amqp_url, "--timeout", "150"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("sink") and "ratio" in line for line in lines)
    for sink in ("bigquery", "duckdb", "(stdout)"):
        assert any(line.startswith(sink) and " 1000 " in line for line in lines), result.stdout


def test_the_writer_benchmark_prints_the_peak_rss_of_a_65000_node_report(amqp_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.writer_bench", "--large-only", "--sinks", "duckdb", "--amqp-url", amqp_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if "65k peak MB" in line))
    sink, _size, small, large, *_rest = lines[header + 1].split()
    assert sink == "duckdb"
    assert 0 < float(small) < float(large)


def test_the_writer_benchmark_compares_the_two_bigquery_apis_in_one_run(amqp_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.writer_bench", "--compare-apis", "--quick", "--no-large", "--amqp-url", amqp_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("figure"))
    assert "insertall" in header
    assert "storage-write" in header
    rate = next(line for line in lines if "rows/s" in line)
    assert float(rate.split()[-4].rstrip("x")) > 0, rate
    assert any(line.startswith("target") for line in lines)
