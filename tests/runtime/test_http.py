"""The HTTP convention of ``runtime.http``: one error body and one access-log line, the same in both apps."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard.app import DashboardApp
from ingest.app import IngestApp
from ingest.body import BodyLimits
from ingest.metrics import IngestMetrics
from runtime.http import ACCESS_FIELDS, PATH_MAX, AccessLog, error_body
from runtime.logs import JsonLineFormatter, configure_logging
from tests.dashboard.test_refresh import TwinStore
from tests.ingest.twin import MemoryPublisher


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_error_body_is_error_and_details() -> None:
    assert json.loads(error_body("invalid report", [{"message": "no"}])) == {
        "error": "invalid report",
        "details": [{"message": "no"}],
    }
    assert json.loads(error_body("gone")) == {"error": "gone", "details": []}


def test_an_access_line_has_the_fields_in_seconds_and_a_clipped_path(log_stream: io.StringIO) -> None:
    started = time.perf_counter()
    AccessLog("somewhere").write("GET", "/" + "x" * 500, 404, started, {"bytes": 12})
    elapsed = time.perf_counter() - started

    (line,) = lines(log_stream)
    assert line["logger"] == "somewhere.access"
    assert line["message"] == "request"
    assert line["level"] == "info"
    assert set(ACCESS_FIELDS) <= set(line)
    assert (line["method"], line["status"], line["bytes"]) == ("GET", 404, 12)
    assert len(line["path"]) == PATH_MAX
    assert 0 <= line["duration_s"] <= elapsed + 1e-6
    assert line["time"].endswith("+00:00")


def test_an_access_line_reads_like_any_other_line(log_stream: io.StringIO) -> None:
    logging.getLogger("plain.access").info("request", extra={"method": "GET", "path": "/", "status": 200})
    AccessLog("plain").write("GET", "/", 200, time.perf_counter(), None)

    written = log_stream.getvalue().splitlines()
    plain, fast = lines(log_stream)
    assert fast.pop("duration_s") >= 0
    del plain["time"], fast["time"]
    assert plain == fast
    assert written[1].startswith('{"time": "')
    assert '"level": "info", "logger": "plain.access", "message": "request"' in written[1]


def test_nothing_is_built_below_info(log_stream: io.StringIO) -> None:
    logging.getLogger("quiet.access").setLevel(logging.WARNING)
    AccessLog("quiet").write("GET", "/", 200, time.perf_counter(), None)
    assert log_stream.getvalue() == ""


def _get(app: Any, method: str, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "client": ("127.0.0.1", 1)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def _apps() -> dict[str, Any]:
    publisher = MemoryPublisher()
    publisher.started = True
    ingest = IngestApp(
        publisher=publisher,
        metrics=IngestMetrics(),
        limits=BodyLimits(max_raw=1024, max_decompressed=1024),
        retry_after=5,
        shutdown_timeout=1.0,
    )
    return {"ingest": ingest, "dashboard": DashboardApp(store=TwinStore(), window=timedelta(hours=1))}


def test_both_apps_answer_an_unknown_path_and_a_wrong_method_alike(log_stream: io.StringIO) -> None:
    apps = _apps()
    missing = {name: _get(app, "GET", "/nowhere") for name, app in apps.items()}
    wrong = {name: _get(app, "DELETE", "/healthz") for name, app in apps.items()}

    assert missing["ingest"][0] == missing["dashboard"][0] == 404
    assert missing["ingest"][2] == missing["dashboard"][2]
    assert json.loads(missing["ingest"][2]) == {"error": "not found", "details": [{"message": "no route '/nowhere'"}]}
    assert wrong["ingest"][0] == wrong["dashboard"][0] == 405
    assert wrong["ingest"][2] == wrong["dashboard"][2]
    assert wrong["ingest"][1][b"allow"] == wrong["dashboard"][1][b"allow"] == b"GET, HEAD"
    access = [line for line in lines(log_stream) if line["logger"].endswith(".access")]
    assert [line["logger"] for line in access] == ["ingest.access", "dashboard.access"] * 2
    assert all(set(ACCESS_FIELDS) <= set(line) and "client" not in line for line in access)


def test_a_line_reaches_a_line_buffered_stream_at_once() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(write_end, "w", buffering=1) as stream:  # line-buffered, as stderr is
            configure_logging("INFO", stream)
            AccessLog("piped").write("GET", "/", 200, time.perf_counter(), None)
            written = os.read(read_end, 65536)  # without a flush: the line is in the pipe already
    finally:
        os.close(read_end)
        root.handlers[:] = handlers
        root.setLevel(level)
    assert json.loads(written)["logger"] == "piped.access"


@pytest.mark.parametrize("created", [0.0, 1_765_000_000.0, 1_765_000_000.0015, 1_765_000_059.9994, 1_765_000_060.5])
def test_the_time_of_a_line_is_the_iso_time_to_the_millisecond(created: float) -> None:
    formatter = JsonLineFormatter()
    formatter.format(logging.makeLogRecord({"created": created - 1}))  # a cached second before this one
    line = json.loads(formatter.format(logging.makeLogRecord({"created": created, "msg": "x"})))
    assert line["time"] == datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
