"""Structured logging: one JSON object a line on stderr, for every component.

Call ``configure_logging`` once, at the CLI. Log with the standard library and
put the fields in ``extra``::

    log.info("report sent", extra={"nodes": 12, "bytes": 4096, "outcome": "delivered"})
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final, TextIO

# Attributes every LogRecord has; anything else came in through ``extra``.
# uvicorn adds ``color_message``, the message again with terminal colour codes.
_STANDARD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# One encoder for every line; json.dumps with arguments builds a new one each call.
_ENCODER: Final = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonLineFormatter(logging.Formatter):
    """Render a record as a single JSON line: time, level, logger, message and the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as compact JSON."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        attrs = record.__dict__
        for key in attrs.keys() - _STANDARD_ATTRS:
            if not key.startswith("_"):
                line[key] = attrs[key]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr by default) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    # The logging HOWTO's "Optimization" switches: this information is not in
    # our lines, and collecting it costs more than the line itself.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Private (no public switch exists; measured on CPython 3.11, the image's); tests/foundation/test_private_apis.py
    # fails if it goes.
    logging._srcfile = None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pika", "aio_pika", "aiormq", "urllib3", "kubernetes", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
