"""The ingest benchmark keeps running and keeps printing its figures (quick mode, real broker and wrk)."""

from __future__ import annotations

import shutil

import pytest

from tests.support.bench_runs import run_bench
from tests.support.services import missing_service

pytestmark = pytest.mark.integration


def test_ingest_bench_quick_run_prints_ceiling_gateway_fixed_rate_attacks_and_targets(amqp_url: str) -> None:
    if shutil.which("wrk") is None:
        missing_service("wrk is not installed (apt-get install -y wrk)")

    result = run_bench("-m", "bench.ingest_bench", "--quick", "--amqp-url", amqp_url, timeout=300)

    kinds = [line.split()[0] for line in result.stdout.splitlines()]
    large = ["large", "million", "targets"]
    floods = ["signed", "limits"]
    assert kinds == ["ingest", "ceiling", "gateway", "fixed", "targets", *large, *floods, *["attack"] * 6, "targets"]
    assert "x ceiling" in result.stdout
    assert "LOST" not in result.stdout
