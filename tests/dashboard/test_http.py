"""``spartakus dashboard`` as a process: the page, its assets, the JSON, and what it refuses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dashboard.page import ASSETS
from tests.support.dashboard_process import dashboard, fetch
from tests.support.fleet import Fleet

LISTS = (
    "weekly",
    "new_clusters",
    "by_version",
    "cluster_sizes",
    "by_provider",
    "by_os_image",
    "by_architecture",
    "by_container_runtime",
    "by_kubelet_version",
)


def test_the_page_has_a_chart_for_each_list_and_every_asset_it_names_is_served(fleet_db: Path, tmp_path: Path) -> None:
    with dashboard(f"duckdb:///{fleet_db}", tmp_path) as base:
        page = fetch(base + "/")
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.body.decode())
        assets = {source: fetch(f"{base}/{source}") for source in sources if not source.startswith("data:")}

    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert re.findall(r'data-list="([a-z_]+)"', page.body.decode()) == list(LISTS)
    assert sorted(source.removeprefix("assets/") for source in assets) == sorted(ASSETS)
    assert all(answer.status == 200 and answer.body for answer in assets.values())
    assert not any("//" in source for source in sources)


def test_the_api_answers_the_document_for_the_configured_window(fleet_db: Path, fleet: Fleet, tmp_path: Path) -> None:
    with dashboard(f"duckdb:///{fleet_db}", tmp_path, "--window=10000h") as base:
        answer = fetch(base + "/api/adoption")

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document["window_hours"] == 10000
    # Ten thousand hours back reaches every report of the fleet, so every cluster counts.
    assert document["clusters"] == len({row["clusterID"] for row in fleet.rows})
    for key in ("nodes", *LISTS):
        assert key in document


def test_a_store_that_cannot_be_read_answers_503_and_the_page_still_loads(tmp_path: Path) -> None:
    with dashboard(f"duckdb:///{tmp_path / 'absent.duckdb'}", tmp_path) as base:
        api = fetch(base + "/api/adoption")
        page = fetch(base + "/")

    assert api.status == 503
    assert api.headers["retry-after"] == "5"
    problem = api.json()
    assert problem["error"] == "store unavailable"
    assert "absent.duckdb" in problem["details"][0]["message"]
    assert page.status == 200
    assert not (tmp_path / "absent.duckdb").exists()


def test_unknown_paths_are_404_and_writes_are_405(fleet_db: Path, tmp_path: Path) -> None:
    with dashboard(f"duckdb:///{fleet_db}", tmp_path) as base:
        missing = fetch(base + "/assets/../../etc/passwd")
        post = fetch(base + "/api/adoption", method="POST")
        fetch(base + "/api/adoption")
        metrics = fetch(base + "/metrics").body.decode()

    assert 'spartakus_dashboard_requests_total{route="other",status="404"} 1.0' in metrics
    assert 'spartakus_dashboard_requests_total{route="/api/adoption",status="200"} 1.0' in metrics
    assert "spartakus_dashboard_query_seconds_count 1.0" in metrics
    assert missing.status == 404
    assert post.status == 405
    assert post.headers["allow"] == "GET, HEAD"
    assert missing.json()["error"] == "not found"
    assert post.json() == {"error": "method not allowed", "details": [{"message": "use GET, HEAD"}]}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spartakus", "dashboard", *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_out_writes_one_self_contained_page_with_the_data(fleet_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "adoption.html"

    result = _run(f"--database=duckdb:///{fleet_db}", "--window=10000h", f"--out={out}")

    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "window.SPARTAKUS_ADOPTION = {" in html
    assert "Chart.js v4" in html
    assert not re.search(r'(?:src|href)="(?!data:)', html)


def test_bad_flags_exit_2_with_one_line() -> None:
    window = _run("--window=soon")
    database = _run("--database=postgres://x")
    zero = _run("--window=0")

    assert (window.returncode, database.returncode, zero.returncode) == (2, 2, 2)
    assert "--window" in window.stderr
    assert "bigquery://project.dataset.table" in database.stderr
    assert "longer than 0" in zero.stderr
