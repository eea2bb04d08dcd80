"""Steady report traffic from a few threads, recording every answer."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

from tests.ingest.gateway import JSON_HEADERS, go_volunteer_report


@dataclass(frozen=True)
class Answer:
    """One request: the report's cluster id, the status (0 when the connection failed) and when it ended."""

    cluster_id: str
    status: int
    retry_after: str | None
    ended: float


@dataclass
class Traffic:
    """POST distinct reports from ``threads`` threads until stopped; a context manager."""

    port: int
    threads: int = 4
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Traffic:
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def statuses_since(self, moment: float) -> list[int]:
        """Statuses of the requests that ended after ``moment`` (``time.monotonic``)."""
        with self._lock:
            return [answer.status for answer in self.answers if answer.ended > moment]

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            cluster_id = f"traffic-{uuid.uuid4()}"
            body = json.dumps(go_volunteer_report(cluster_id)).encode()
            try:
                connection.request("POST", "/api/v1", body=body, headers=JSON_HEADERS)
                response = connection.getresponse()
                response.read()
                answer = Answer(cluster_id, response.status, response.getheader("Retry-After"), time.monotonic())
            except (OSError, http.client.HTTPException):
                connection.close()
                answer = Answer(cluster_id, 0, None, time.monotonic())
            with self._lock:
                self.answers.append(answer)
        connection.close()
