"""The dashboard's refresh: one read per ``--refresh``, the last good answer in between and when a read fails.

A unit test: the store is an in-memory twin that answers the query's rows (or fails), driven through the ASGI app.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from dashboard.app import DashboardApp
from dashboard.query import Dialect
from dashboard.store import Row, SqlFor, StoreError


class TwinStore:
    """Answers a fixed total (or fails when told), and counts reads and billed bytes."""

    dialect: Dialect = "bigquery"
    description = "twin://reports"

    def __init__(self) -> None:
        self.reads = 0
        self.failing = False
        self.bytes_billed = 0
        self.sql: list[str] = []

    def query(self, sql_for: SqlFor) -> list[Row]:
        self.reads += 1
        self.sql.append(sql_for("p.d.reports", {"clusterID", "receivedAt"}))
        if self.failing:
            raise StoreError("the store is down")
        self.bytes_billed += 10_000_000
        return [("total", "", None, self.reads, 3)]


def _get(app: DashboardApp, path: str) -> tuple[int, bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_views_within_the_refresh_are_served_from_one_read() -> None:
    store = TwinStore()
    app = DashboardApp(store=store, window=timedelta(hours=720), refresh=300)

    answers = [_get(app, "/api/adoption") for _ in range(3)]

    assert store.reads == 1
    assert set(answers) == {answers[0]}
    assert json.loads(answers[0][1])["clusters"] == 1


def test_each_view_reads_the_store_with_a_refresh_of_0() -> None:
    store = TwinStore()
    app = DashboardApp(store=store, window=timedelta(hours=720), refresh=0)

    _get(app, "/api/adoption")
    _get(app, "/api/adoption")

    assert store.reads == 2


def test_a_failed_read_serves_the_last_good_answer_and_only_the_first_is_503() -> None:
    store = TwinStore()
    store.failing = True
    app = DashboardApp(store=store, window=timedelta(hours=720), refresh=0)

    first = _get(app, "/api/adoption")
    store.failing = False
    good = _get(app, "/api/adoption")
    store.failing = True
    after = _get(app, "/api/adoption")
    metrics = _get(app, "/metrics")[1].decode()

    assert first[0] == 503
    assert good[0] == after[0] == 200
    assert after[1] == good[1]
    assert "spartakus_dashboard_store_errors_total 2.0" in metrics
    assert "spartakus_dashboard_bytes_billed_total 1e+07" in metrics
