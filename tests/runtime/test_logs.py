"""Structured log lines: one JSON object a line, with the ``extra`` fields and nothing terminal-specific."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from runtime.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_log_call_is_one_json_line_with_its_extra_fields() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)

    logging.getLogger("spartakus.test").info(
        "report sent", extra={"nodes": 3, "outcome": "delivered", "color_message": "\x1b[32mreport sent\x1b[0m"}
    )

    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "logger", "message", "nodes", "outcome")} == {
        "level": "info",
        "logger": "spartakus.test",
        "message": "report sent",
        "nodes": 3,
        "outcome": "delivered",
    }
    assert "color_message" not in record
    assert "process" not in record
