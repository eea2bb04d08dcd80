"""Where a report goes: POSTed to a collector over HTTP, or printed on stdout.

The HTTP sender makes one attempt per call, with explicit connect and read
timeouts; ``volunteer.retry`` decides whether to try again. Any 2xx is
success (the original collector answers 204). 429 and 5xx are transient and
carry the collector's ``Retry-After``; any other status is a rejection, and
the start of the collector's error body goes into the error for the log.

With a ``signer`` (``--cluster-id=auto``), each body is signed exactly as it
is about to be POSTed, before any gzip, and the signature travels in the
``X-Spartakus-Signature`` header (``schema.signature``); on stdout that
header is printed on the line before the body.
"""

from __future__ import annotations

import gzip
import sys
from typing import BinaryIO, Final
from urllib.parse import urljoin

import urllib3

from schema.signature import HEADER, ClusterKey
from volunteer.errors import PermanentError, RejectedError, TransientSendError
from volunteer.ports import ReportSender
from volunteer.report import volunteer_version
from volunteer.retry import parse_retry_after
from volunteer.settings import STDOUT, VolunteerSettings

API_PATH: Final = "/api/v1"
ERROR_BODY_LIMIT: Final = 2048
MAX_CONNECT_TIMEOUT: Final = 10.0


def collector_url(database: str) -> str:
    """The URL reports are POSTed to: ``/api/v1`` on the ``--database`` host.

    Like the original volunteer, which resolved ``/api/v1`` against the flag's
    URL, any path in ``--database`` is replaced, so an existing install's flag
    reaches the same endpoint as before.
    """
    return urljoin(database, API_PATH)


class HttpSender:
    """POSTs report bodies to a collector.

    Args:
        database: the collector's base URL.
        timeout: seconds for reading the answer; connecting gets at most ``MAX_CONNECT_TIMEOUT`` of it.
        compress: send ``Content-Encoding: gzip``; an original collector cannot read it, so it is off by default.
        user_agent: the ``User-Agent`` header.
        signer: signs each body (self-certifying cluster ids); None sends unsigned reports.
    """

    def __init__(
        self,
        database: str,
        *,
        timeout: float,
        compress: bool = False,
        user_agent: str,
        signer: ClusterKey | None = None,
    ) -> None:
        self.url = collector_url(database)
        self._signer = signer
        self.description = self.url
        self._compress = compress
        self._pool = urllib3.PoolManager(
            retries=False,  # retries and redirects are decided by volunteer.retry, not hidden in the pool
            timeout=urllib3.Timeout(connect=min(timeout, MAX_CONNECT_TIMEOUT), read=timeout),
            headers={"User-Agent": user_agent},
        )

    def send(self, body: bytes) -> str:
        """POST ``body`` once."""
        headers = {"Content-Type": "application/json"}
        if self._signer is not None:
            headers[HEADER] = self._signer.header(body)
        payload = body
        if self._compress:
            payload = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._pool.request("POST", self.url, body=payload, headers=headers, preload_content=False)
            try:
                answer = response.read(ERROR_BODY_LIMIT)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as e:
            raise TransientSendError(f"POST {self.url}: {type(e).__name__}: {e}") from e
        status = response.status
        if 200 <= status < 300:
            return "delivered"
        text = answer.decode("utf-8", errors="replace").strip()
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientSendError(f"POST {self.url}: HTTP {status}: {text}", retry_after=retry_after)
        raise RejectedError(status, text)

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()


class StdoutSender:
    """Prints each report body, exactly as it would be POSTed (before any gzip), one report a line.

    A signed report's ``X-Spartakus-Signature: ...`` header line comes first, as it would be sent.
    """

    description = STDOUT

    def __init__(self, stream: BinaryIO | None = None, *, signer: ClusterKey | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._signer = signer

    def send(self, body: bytes) -> str:
        """Write the signature header line if signing, then ``body`` and a newline, and flush."""
        try:
            if self._signer is not None:
                self._stream.write(f"{HEADER}: {self._signer.header(body)}\n".encode())
            self._stream.write(body)
            self._stream.write(b"\n")
            self._stream.flush()
        except (OSError, ValueError) as e:  # a broken pipe, or a closed stream
            raise PermanentError(f"cannot write the report to stdout: {e}") from e
        return "printed"

    def close(self) -> None:
        """Nothing to close; stdout stays open."""


def destination_of(settings: VolunteerSettings) -> str:
    """Where ``open_sender(settings)`` sends reports, for the log: the URL reports are POSTed to, or ``stdout``."""
    return STDOUT if settings.database == STDOUT else collector_url(settings.database)


def open_sender(settings: VolunteerSettings, *, signer: ClusterKey | None = None) -> ReportSender:
    """The sender for ``--database``: HTTP to a collector, or stdout; ``signer`` signs each report."""
    if settings.database == STDOUT:
        return StdoutSender(signer=signer)
    return HttpSender(
        settings.database,
        timeout=settings.timeout.total_seconds(),
        compress=settings.gzip,
        user_agent=f"spartakus-volunteer/{volunteer_version()}",
        signer=signer,
    )
