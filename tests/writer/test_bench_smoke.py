"""The writer benchmark still runs end to end: a small --quick run, the 65,000-node peak and the two BigQuery APIs."""

from __future__ import annotations

import pytest

from tests.support.bench_runs import run_bench

pytestmark = pytest.mark.integration


def test_the_writer_benchmark_runs_quickly_and_reports_both_sinks(amqp_url: str) -> None:
    out = run_bench(
        "-m", "bench.writer_bench", "--quick", "--amqp-url", amqp_url, "--timeout", "150", timeout=200
    ).stdout

    lines = out.splitlines()
    assert any(line.startswith("sink") and "ratio" in line for line in lines)
    for sink in ("bigquery", "duckdb", "(stdout)"):
        assert any(line.startswith(sink) and " 1000 " in line for line in lines), out


def test_the_writer_benchmark_prints_the_peak_rss_of_a_65000_node_report(amqp_url: str) -> None:
    argv = ("-m", "bench.writer_bench", "--large-only", "--sinks", "duckdb", "--amqp-url", amqp_url)
    lines = run_bench(*argv, timeout=300).stdout.splitlines()

    header = lines.index(next(line for line in lines if "65k peak MB" in line))
    sink, _size, small, large, *_rest = lines[header + 1].split()
    assert sink == "duckdb"
    assert 0 < float(small) < float(large)


def test_the_writer_benchmark_compares_the_two_bigquery_apis_in_one_run(amqp_url: str) -> None:
    argv = ("-m", "bench.writer_bench", "--compare-apis", "--quick", "--no-large", "--amqp-url", amqp_url)
    lines = run_bench(*argv, timeout=300).stdout.splitlines()

    header = next(line for line in lines if line.startswith("figure"))
    assert "insertall" in header
    assert "storage-write" in header
    rate = next(line for line in lines if "rows/s" in line)
    assert float(rate.split()[-4].rstrip("x")) > 0, rate
    assert any(line.startswith("target") for line in lines)
