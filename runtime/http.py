"""One convention for the HTTP apps (the ingest gateway and the dashboard): error bodies and access-log lines.

**Error body.** Every 4xx and 5xx answer carries the JSON body
``{"error": <a one-line summary>, "details": [{"message": ...}, ...]}``
(``error_body``). ``details`` says what exactly is wrong, or what to do; its
entries may carry more keys (the gateway's 422 names the ``field``).

**Access log.** Each request is one record of the logger ``<app>.access``
with the message ``request`` and the fields ``ACCESS_FIELDS``: ``method``,
``path`` (at most ``PATH_MAX`` characters), ``status``, and ``duration_s``,
the seconds from the request's start to its answer, to the microsecond;
a route may add its own fields. The client address is never among them.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Final

from runtime.logs import log_fields

ACCESS_MESSAGE: Final = "request"
ACCESS_FIELDS: Final = ("method", "path", "status", "duration_s")
"""The fields of every access-log line; seconds, like every duration the project logs and exports."""
PATH_MAX: Final = 100
"""Longest request path logged or echoed back: a client picks the path, and any length."""


def detail(message: str) -> dict[str, object]:
    """One entry of an error body's ``details``."""
    return {"message": message}


def error_body(error: str, details: list[dict[str, object]] | None = None) -> bytes:
    """The JSON error body ``{"error": ..., "details": [...]}``, compact, ASCII only."""
    return json.dumps({"error": error, "details": details or []}, separators=(",", ":")).encode()


def not_found_body(path: str) -> bytes:
    """The error body of a 404 for ``path``."""
    return error_body("not found", [detail(f"no route {path[:PATH_MAX]!r}")])


def not_allowed_body(allow: str) -> bytes:
    """The error body of a 405; ``allow`` is the ``Allow`` header's value, e.g. ``GET, HEAD``."""
    return error_body("method not allowed", [detail(f"use {allow}")])


class AccessLog:
    """Writes the access-log line of each request (see the module docstring).

    Args:
        app: the logger is ``<app>.access``.
    """

    def __init__(self, app: str) -> None:
        self._logger = logging.getLogger(f"{app}.access")
        self.name = self._logger.name

    def write(self, method: str, path: str, status: int, started: float, extra: dict[str, object] | None) -> None:
        """Log one request; ``started`` is its ``time.perf_counter()`` at the start, ``extra`` the route's fields."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {
            "method": method,
            "path": path[:PATH_MAX],
            "status": status,
            "duration_s": round(time.perf_counter() - started, 6),
        }
        if extra:
            fields.update(extra)
        log_fields(logger, logging.INFO, ACCESS_MESSAGE, fields)
