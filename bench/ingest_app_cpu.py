"""The gateway app's own CPU per small report: the ASGI app alone, with the in-memory publisher.

No HTTP server, no broker: what is left is the app's share of a request
(headers, body, validation, the normalised body, flood limits, metrics and
the access-log line, written to a file), the part a change to the app moves.
It is far steadier on a busy machine than the whole gateway's CPU under wrk.

``bench.ingest_ab --in-process`` runs this file once per checkout, with that
checkout's packages first on the path; it prints one figure, the median µs.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from bench.ingest_bench import report_bytes
from ingest.app import IngestApp
from ingest.body import BodyLimits
from ingest.limits import FloodLimits
from ingest.metrics import IngestMetrics
from runtime.logs import configure_logging
from tests.ingest.twin import MemoryPublisher


def app_cpu_us(count: int, repeats: int) -> float:
    """Median over ``repeats`` runs of the process CPU per request, for ``count`` requests each."""
    publisher = MemoryPublisher()
    publisher.started = True
    app = IngestApp(
        publisher=publisher,
        metrics=IngestMetrics(),
        limits=BodyLimits(max_raw=1 << 26, max_decompressed=1 << 26),
        retry_after=5,
        shutdown_timeout=1.0,
        floods=FloodLimits(min_interval=0, new_per_hour=0),
    )
    body = report_bytes()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1",
        "client": ("127.0.0.1", 50000),
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> MutableMapping[str, Any]:
        return message

    async def send(_message: MutableMapping[str, Any]) -> None:
        pass

    async def run(n: int) -> None:
        for _ in range(n):
            await app(scope, receive, send)
        publisher.published.clear()

    asyncio.run(run(count // 5))  # warm-up
    figures = []
    for _ in range(repeats):
        started = time.process_time()
        asyncio.run(run(count))
        figures.append((time.process_time() - started) / count * 1e6)
    return statistics.median(figures)


def main() -> int:
    """Print the median CPU µs per request."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "access.log").open("w") as log:
        configure_logging("INFO", log)
        print(f"{app_cpu_us(count, 5):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
