"""The page as a person sees it: a real headless Chromium loads it, and every chart is drawn.

Each test saves a screenshot under ``test-artifacts/`` (the README's picture is one of them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import browser_page
from tests.support.dashboard_process import dashboard
from tests.support.fleet import Fleet
from tests.support.fleet_stores import load_duckdb

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHARTS = 9
HOSTILE_LABEL = '<!--<script>"</script><img src=x onerror=alert(1)>\u2028'

# For every chart: whether Chart.js has it, how many values it plots, and how many pixels it painted.
CHART_STATE = """() => [...document.querySelectorAll("canvas[data-list]")].map((canvas) => {
    const chart = Chart.getChart(canvas);
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { painted++; } }
    return {
        list: canvas.dataset.list,
        chart: Boolean(chart),
        values: chart ? chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v > 0).length, 0) : 0,
        painted: painted,
    };
})"""


def _assert_drawn(page: Any) -> list[dict[str, Any]]:
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    charts: list[dict[str, Any]] = page.evaluate(CHART_STATE)
    assert len(charts) == CHARTS
    for chart in charts:
        assert chart["chart"], chart
        assert chart["values"] > 0, chart
        assert chart["painted"] > 2000, chart
    return charts


def test_the_served_page_draws_every_chart_from_this_host_only(fleet_db: Path, fleet: Fleet, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    # A window wide enough for the whole fleet, so the weekly chart spans several weeks.
    with dashboard(f"duckdb:///{fleet_db}", tmp_path, "--window=2000h") as base, browser_page() as (page, record):
        page.goto(base + "/", wait_until="networkidle")
        charts = _assert_drawn(page)
        summary = page.inner_text("#clusters")
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    assert {c["list"] for c in charts} >= {"weekly", "by_version", "cluster_sizes", "by_provider"}
    assert record.errors == []
    assert record.requests, "the page requested nothing"
    assert all(url.startswith(base + "/") for url in record.requests), record.requests
    assert {url.removeprefix(base) for url in record.requests} >= {"/", "/api/adoption", "/assets/chart.umd.min.js"}
    assert summary.replace(",", "") == str(len({row["clusterID"] for row in fleet.rows}))


def test_the_page_written_with_out_draws_every_chart_offline(fleet_db: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    out = tmp_path / "adoption.html"
    result = subprocess.run(
        [sys.executable, "-m", "spartakus", "dashboard", f"--database=duckdb:///{fleet_db}", f"--out={out}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

    with browser_page() as (page, record):
        page.goto(out.as_uri(), wait_until="load")
        _assert_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard-out.png"), full_page=True)

    assert record.errors == []
    assert record.requests == [out.as_uri()]


def test_a_page_written_with_out_is_drawn_whatever_the_labels_hold(fleet: Fleet, tmp_path: Path) -> None:
    rows = [
        row | {"nodes": [node | {"osImage": HOSTILE_LABEL} for node in row["nodes"]]} if index % 2 else row
        for index, row in enumerate(fleet.rows)
    ]
    path = tmp_path / "hostile.duckdb"
    load_duckdb(str(path), rows)
    out = tmp_path / "adoption.html"
    command = ["dashboard", f"--database=duckdb:///{path}", f"--out={out}", "--window=2000h"]
    result = subprocess.run(
        [sys.executable, "-m", "spartakus", *command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr

    with browser_page() as (page, record):
        page.goto(out.as_uri(), wait_until="load")
        _assert_drawn(page)
        labels = page.evaluate('() => Chart.getChart(document.getElementById("chart-by_os_image")).data.labels')

    assert HOSTILE_LABEL in labels
    assert record.errors == []
    assert record.requests == [out.as_uri()]


def test_a_store_that_cannot_be_read_shows_why(tmp_path: Path) -> None:
    with dashboard(f"duckdb:///{tmp_path / 'absent.duckdb'}", tmp_path) as base, browser_page() as (page, record):
        page.goto(base + "/", wait_until="networkidle")
        page.wait_for_selector("body[data-state=failed]", timeout=30_000)
        status = page.inner_text("#status")

    assert "absent.duckdb" in status
    # The browser logs the 503 itself; nothing else may fail.
    assert all("503" in error for error in record.errors), record.errors
