"""The schema benchmark keeps running and keeps printing its figures."""

from __future__ import annotations

from tests.support.bench_runs import run_bench


def test_schema_bench_quick_run_prints_both_sizes_and_the_ratio() -> None:
    lines = run_bench("bench/schema_bench.py", "--quick", timeout=120).stdout.splitlines()

    assert [line.split()[0] for line in lines[1:3]] == ["10", "5000"]
    assert "validation costs at most" in lines[-1]
