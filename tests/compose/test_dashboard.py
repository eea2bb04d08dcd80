"""The dashboard in the compose stack: its page and its JSON, read from the writers' table on the emulator."""

from __future__ import annotations

import uuid

import pytest

from tests.compose.stack import Stack
from tests.deploy.reports import post_go_volunteer_report
from tests.support.dashboard_process import fetch
from tests.support.services import wait_until

pytestmark = pytest.mark.compose


def test_the_dashboard_serves_its_page_and_the_adoption_figures_from_the_writers_table(healthy: Stack) -> None:
    base = f"http://127.0.0.1:{healthy.dashboard_port}"
    # The writers create the table with the first report they write; until then the API answers 503.
    assert post_go_volunteer_report(healthy.ingest_port, f"dashboard-{uuid.uuid4()}") == 204

    page = fetch(base + "/")
    wait_until(lambda: fetch(base + "/api/adoption").status == 200, timeout=120, what="the adoption figures")
    figures = fetch(base + "/api/adoption").json()

    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert b"<html" in page.body.lower()
    assert isinstance(figures["clusters"], int)
    assert isinstance(figures["nodes"], int)
