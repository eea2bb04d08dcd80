"""The volunteer benchmark keeps working: its quick mode runs end to end and prints its figures and baselines."""

from __future__ import annotations

import pytest

from tests.support.bench_runs import run_bench

pytestmark = pytest.mark.integration


def test_quick_benchmark_prints_the_volunteer_and_its_idle_tree_beside_their_baselines() -> None:
    result = run_bench("bench/volunteer_bench.py", "--quick", timeout=120)

    header, row = result.stdout.splitlines()[1:3]
    assert header.split()[:4] == ["nodes", "served", "MB", "baseline"]
    nodes, _served, baseline, volunteer, ratio, rss, _report = row.split()
    assert int(nodes) == 300
    assert float(baseline) > 0
    assert float(volunteer) > 0
    assert float(ratio) > 0
    assert float(rss) > 0
    lines = result.stdout.splitlines()
    idle_header = lines.index(next(line for line in lines if line.startswith("periodic volunteer between reports")))
    columns, idle_row, verdict = lines[idle_header + 1 : idle_header + 4]
    assert columns.split()[:4] == ["nodes", "baseline", "MiB", "idle"]
    nodes, baseline_mib, idle_mib, idle_ratio, processes, reporter_peak = idle_row.split()
    assert int(nodes) == 10
    assert 0 < float(baseline_mib) <= float(idle_mib) < float(reporter_peak)
    assert float(idle_ratio) >= 1
    assert int(processes) == 1
    assert verdict.startswith("target idle <= 24 MiB at every size: ")
