"""Structured logging: one JSON object a line on stderr, for every component.

Call ``configure_logging`` once, at the CLI. Log with the standard library and
put the fields in ``extra``::

    log.info("report sent", extra={"nodes": 12, "bytes": 4096, "outcome": "delivered"})

A line written for every request (``runtime.http.AccessLog``) goes through
``log_fields`` instead: its fields come as one dict, formatted from a prefix
made once. When the only handlers the line would reach are this module's own
(the case after ``configure_logging``, with no filter added), it is formatted
once and written to them without a ``LogRecord``; otherwise a record is built
(``fields_record``, without ``LogRecord.__init__``'s work) and handled as any other.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, Final, TextIO

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


_FIELDS: Final = "_fields"
"""The attribute of a ``fields_record`` that holds its fields, in the order they are written."""
_STARTED: Final = time.time()


def _record_template() -> dict[str, Any]:
    # What LogRecord.__init__ computes from the call site, thread and process: none of it is in our lines.
    template = vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).copy()
    template.update(thread=None, threadName=None, processName=None, process=None)
    return template


_TEMPLATE: Final = _record_template()


def fields_record(name: str, level: int, message: str, fields: dict[str, object]) -> logging.LogRecord:
    """A record of logger ``name`` with ``fields`` as its extra attributes, for ``Logger.handle``.

    It costs a fraction of ``Logger.info(..., extra=...)``: no search for the
    caller's source line, no check of the ``extra`` keys, and the formatter
    writes ``fields`` as given instead of scanning the record for them. The
    caller checks ``isEnabledFor`` first and keeps ``fields`` keys apart from
    the standard record attributes.
    """
    record = logging.LogRecord.__new__(logging.LogRecord)
    attrs = record.__dict__
    attrs.update(_TEMPLATE)
    created = time.time()
    attrs.update(fields)
    attrs.update(
        name=name,
        msg=message,
        levelno=level,
        levelname=logging.getLevelName(level),
        created=created,
        msecs=(created * 1000) % 1000,
        relativeCreated=(created - _STARTED) * 1000,
    )
    attrs[_FIELDS] = fields
    return record


class _Clock:
    """UTC timestamps to the millisecond; the date and time of day are formatted once a second."""

    def __init__(self) -> None:
        self._cached = (-1, "")

    def text(self, created: float) -> str:
        second = int(created)
        cached_second, cached = self._cached
        if second != cached_second:
            # One tuple, replaced whole: a thread reading it sees an old pair or a new one, never half of each.
            cached = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._cached = (second, cached)
        return cached + _MILLISECONDS[int((created - second) * 1000)]


_MILLISECONDS: Final = tuple(f".{millisecond:03d}+00:00" for millisecond in range(1000))
"""The end of a timestamp for each millisecond of a second, formatted once."""


class JsonLineFormatter(logging.Formatter):
    """Render a record as a single JSON line: time, level, logger, message and the ``extra`` fields."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()
        self._prefixes: dict[tuple[str, int, str], str] = {}

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as compact JSON."""
        fields = record.__dict__.get(_FIELDS)
        if fields is not None and not record.exc_info:
            return self._fields_line(record, fields)
        line: dict[str, object] = {
            "time": self._clock.text(record.created),
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

    def _fields_line(self, record: logging.LogRecord, fields: dict[str, object]) -> str:
        return self.fields_line(record.name, record.levelno, record.msg, fields, record.created)

    def fields_line(self, name: str, level: int, message: str, fields: dict[str, object], created: float) -> str:
        """The line of a record of logger ``name`` with ``fields`` as its extra fields, made at ``created``."""
        key = (name, level, message)
        prefix = self._prefixes.get(key)
        if prefix is None:
            head = {"level": logging.getLevelName(level).lower(), "logger": name, "message": message}
            prefix = self._prefixes[key] = _ENCODER.encode(head)[1:-1]
        # The separators are the encoder's own (", " and ": "), so this line reads like every other.
        rest = _ENCODER.encode(fields)
        time_text = self._clock.text(created)
        return f'{{"time": "{time_text}", {prefix}{", " + rest[1:] if len(rest) > 2 else "}"}'


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]  # the stream's type is TextIO
    """A stream handler that leaves a line-buffered stream (stderr, since Python 3.9) to flush itself.

    ``StreamHandler`` flushes after every line, under its lock: on stderr
    that second call finds nothing to do, once for every request logged.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(self.stream, "line_buffering", False):
            super().emit(record)
            return
        try:
            self.stream.write(self.format(record) + self.terminator)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001  # what logging.StreamHandler.emit does: logging never raises
            self.handleError(record)

    def write_fields(self, name: str, level: int, message: str, fields: dict[str, object], created: float) -> None:
        """What ``handle`` does with a ``fields_record``, without the record (see ``log_fields``)."""
        formatter: JsonLineFormatter = self.formatter  # type: ignore[assignment]  # log_fields checked its type
        line = formatter.fields_line(name, level, message, fields, created) + self.terminator
        with self.lock:  # type: ignore[union-attr]  # a Handler's lock is made in its __init__
            try:
                self.stream.write(line)
                if not getattr(self.stream, "line_buffering", False):
                    self.stream.flush()
            except RecursionError:
                raise
            except Exception:  # noqa: BLE001  # as in emit: logging never raises
                self.handleError(fields_record(name, level, message, fields))


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, object]) -> None:
    """Log ``message`` with ``fields`` as its extra fields, in their order; the caller checked ``isEnabledFor``.

    The ``fields`` keys must stay apart from the standard record attributes.
    """
    handlers = _line_handlers(logger, level)
    if handlers is None:
        logger.handle(fields_record(logger.name, level, message, fields))
        return
    created = time.time()
    for handler in handlers:
        handler.write_fields(logger.name, level, message, fields, created)


def _line_handlers(logger: logging.Logger, level: int) -> list[_LineHandler] | None:
    """The handlers a record of ``logger`` at ``level`` reaches, if each is a plain ``_LineHandler``; else None."""
    if logger.filters or logger.disabled:
        return None
    found: list[_LineHandler] = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if level < handler.level:
                continue
            if type(handler) is not _LineHandler or handler.filters or type(handler.formatter) is not JsonLineFormatter:
                return None
            found.append(handler)
        current = current.parent if current.propagate else None
    return found or None  # none: logging's last resort handles the record


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr by default) as JSON lines."""
    handler = _LineHandler(stream or sys.stderr)
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
