"""Concurrent senders that post reports to a gateway, each retrying its report until it is accepted.

A sender behaves like a well-written volunteer: it keeps one keep-alive
connection, retries a report after a 503 (waiting ``Retry-After``, capped) or a
broken connection, and gives up on a report only after a bounded number of
attempts or when the pool's deadline passes. Every answer is recorded per
report, so a test can tell which reports were accepted and how.
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

ACCEPTED: Final = 204
RETRY_PAUSE: Final = 0.2
"""Seconds before retrying after a broken connection or an answer without ``Retry-After``."""


@dataclass
class SendRecord:
    """What happened to one report."""

    report_id: str
    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    """``"204"``, ``"503"``, ... or ``"error:<exception>"`` for a broken exchange, with counts."""
    accepted_at: tuple[float, float] | None = None
    """``time.monotonic()`` when the attempt answered 204 was sent, and when its answer arrived."""

    @property
    def accepted(self) -> bool:
        """Whether the gateway answered 204."""
        return self.answers[str(ACCEPTED)] > 0


class SenderPool:
    """``concurrency`` threads posting ``reports`` (``(report_id, body)``) to ``127.0.0.1:port/api/v1``.

    With ``rate``, attempts (retries included) start at most that many per second in all, as
    volunteers arrive spread over time rather than all at once.
    """

    def __init__(
        self,
        port: int,
        reports: Sequence[tuple[str, bytes]],
        *,
        concurrency: int = 16,
        max_attempts: int = 100,
        deadline: float = 180.0,
        max_retry_after: float = 1.0,
        rate: float | None = None,
    ) -> None:
        self.records = [SendRecord(report_id) for report_id, _ in reports]
        self._port = port
        self._bodies = [body for _, body in reports]
        self._todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(reports)):
            self._todo.put(index)
        self._max_attempts = max_attempts
        self._deadline = time.monotonic() + deadline
        self._max_retry_after = max_retry_after
        self._interval = 1.0 / rate if rate else 0.0
        self._next_slot = time.monotonic()
        self._lock = threading.Lock()
        self._accepted = 0
        self._answered_sent: list[float] = []
        self._abort = threading.Event()
        self._finish = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"sender-{n}", daemon=True) for n in range(concurrency)
        ]

    @property
    def accepted(self) -> int:
        """Reports answered 204 so far."""
        with self._lock:
            return self._accepted

    def attempts_between(self, start: float, end: float) -> int:
        """Attempts sent from ``start`` up to ``end`` (``time.monotonic()``) that were answered, or broke."""
        with self._lock:
            return sum(1 for sent in self._answered_sent if start <= sent < end)

    def start(self) -> SenderPool:
        """Start sending in the background."""
        for thread in self._threads:
            thread.start()
        return self

    def finish(self) -> None:
        """Make every sender stop taking new reports; the ones under way are still retried until accepted."""
        self._finish.set()

    def abort(self) -> None:
        """Make every sender stop after its current attempt."""
        self._abort.set()

    def join(self, timeout: float) -> list[SendRecord]:
        """Wait for every sender to finish (aborting them after ``timeout``); returns the records."""
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        self._abort.set()
        for thread in self._threads:
            thread.join(5)
        return self.records

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
        try:
            while not self._abort.is_set() and not self._finish.is_set():
                try:
                    index = self._todo.get_nowait()
                except queue.Empty:
                    return
                connection = self._send(index, connection)
        finally:
            connection.close()

    def _send(self, index: int, connection: http.client.HTTPConnection) -> http.client.HTTPConnection:
        record, body = self.records[index], self._bodies[index]
        headers = {"Content-Type": "application/json"}
        while record.attempts < self._max_attempts and time.monotonic() < self._deadline and not self._abort.is_set():
            record.attempts += 1
            self._abort.wait(self._wait_for_slot())
            sent = time.monotonic()
            try:
                connection.request("POST", "/api/v1", body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException) as e:
                record.answers[f"error:{type(e).__name__}"] += 1
                self._answered(sent)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
                self._abort.wait(RETRY_PAUSE)
                continue
            record.answers[str(answer.status)] += 1
            self._answered(sent)
            if answer.status == ACCEPTED:
                record.accepted_at = (sent, time.monotonic())
                with self._lock:
                    self._accepted += 1
                return connection
            self._abort.wait(self._pause(answer.getheader("Retry-After")))
        return connection

    def _answered(self, sent: float) -> None:
        with self._lock:
            self._answered_sent.append(sent)

    def _wait_for_slot(self) -> float:
        """Seconds until this attempt's turn: attempts are spread evenly at ``rate`` per second."""
        if not self._interval:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self._interval
        return slot - now

    def _pause(self, retry_after: str | None) -> float:
        try:
            seconds = float(retry_after) if retry_after else RETRY_PAUSE
        except ValueError:
            seconds = RETRY_PAUSE
        return min(max(seconds, 0.0), self._max_retry_after)
