"""An HTTP proxy in front of the BigQuery emulator that enforces BigQuery's request size limit as the service does.

The emulator accepts any size. Real BigQuery refuses an insertAll request
over 10,485,760 bytes: just over the limit with ``400 Request payload size
exceeds the limit: 10485760 bytes.`` (a JSON error body, reason
``badRequest``), and far over it Google's front end may answer ``413`` with
an HTML page instead. The proxy answers the same way and passes every other
request through unchanged, recording the size of each request body it saw.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Literal

from tests.support.http_proxy import Reply, http_proxy

LIMIT: Final = 10_485_760
MESSAGE: Final = f"Request payload size exceeds the limit: {LIMIT} bytes."
FRONT_END_413: Final = (
    b"<!DOCTYPE html><html lang=en><title>Error 413 (Request Entity Too Large)!!1</title>"
    b"<p><b>413.</b> <ins>That\xe2\x80\x99s an error.</ins><p>Your client issued a request that was too large."
)

Answer = Literal["400", "413", "auto"]


def _bad_request_body() -> bytes:
    error = {"message": MESSAGE, "domain": "global", "reason": "badRequest"}
    return json.dumps(
        {"error": {"code": 400, "message": MESSAGE, "errors": [error], "status": "INVALID_ARGUMENT"}}
    ).encode()


@dataclass
class LimitProxy:
    """The proxy's state: where it forwards, how it refuses, and what it saw."""

    upstream: str
    answer: Answer = "auto"
    """``400``, ``413``, or ``auto``: 400 up to twice the limit, 413 beyond (as Google's front end does)."""
    sizes: list[int] = field(default_factory=list)
    """Body size of every insertAll request, accepted or not."""
    refused: list[int] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``, for ``BIGQUERY_EMULATOR_HOST`` or a sink's ``emulator_host``."""
        return f"http://127.0.0.1:{self.port}"

    def refusal(self, size: int) -> tuple[int, str, bytes] | None:
        """The answer for a request body of ``size`` bytes, or None to pass it on."""
        if size <= LIMIT:
            return None
        if self.answer == "413" or (self.answer == "auto" and size > 2 * LIMIT):
            return 413, "text/html; charset=UTF-8", FRONT_END_413
        return 400, "application/json; charset=UTF-8", _bad_request_body()

    def intercept(self, _method: str, path: str, body: bytes) -> Reply | None:
        """Record the size of an insertAll request, and refuse it as BigQuery would when it is over the limit."""
        if not path.endswith("/insertAll"):
            return None
        with self.lock:
            self.sizes.append(len(body))
        refusal = self.refusal(len(body))
        if refusal is None:
            return None
        with self.lock:
            self.refused.append(len(body))
        return refusal[0], {"Content-Type": refusal[1]}, refusal[2]


@contextmanager
def limit_proxy(upstream: str, answer: Answer = "auto") -> Iterator[LimitProxy]:
    """Run a ``LimitProxy`` for ``upstream`` (``http://host:port``) on a free local port."""
    proxy = LimitProxy(upstream, answer)
    with http_proxy(upstream, proxy.intercept, name="bq-limit-proxy") as port:
        proxy.port = port
        yield proxy
