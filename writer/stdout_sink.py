"""The ``stdout`` sink: one stored report a line, as JSON, for a pipe or a look at what the writer gets."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

from writer.rows import Row
from writer.sink import WriteResult


class StdoutSink:
    """JSON lines on standard output (or any binary stream)."""

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Print one report a line and flush."""
        self._stream.write(b"".join(payload + b"\n" for row in rows for payload in row.payloads))
        self._stream.flush()
        return WriteResult()

    def close(self) -> None:
        """Flush; standard output stays open."""
        self._stream.flush()
